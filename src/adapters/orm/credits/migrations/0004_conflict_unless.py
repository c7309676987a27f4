# A guard a write statement can carry to PostgreSQL: the unit of work's last round trip can then hold
# its COMMIT too (adapters/sql/batch.py), since no check is left to run in Python after the writes.

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION conflict_unless(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    -- FC409: this project's own SQLSTATE, "the row was not as the writer expected" (a 409).
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'FC409', MESSAGE = what;
    END IF;
    RETURN true;
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [("credits", "0003_credit_allow_loss")]

    operations = [migrations.RunSQL(CREATE, "DROP FUNCTION IF EXISTS conflict_unless(boolean, text)")]
