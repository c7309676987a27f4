from django.db import migrations


class Migration(migrations.Migration):
    """Posting ids come from a sequence (identity columns on partitioned tables need PostgreSQL 17)."""

    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE ledger_posting_id_seq AS bigint; "
            "ALTER TABLE ledger_posting ALTER COLUMN id SET DEFAULT nextval('ledger_posting_id_seq');",
            "ALTER TABLE ledger_posting ALTER COLUMN id DROP DEFAULT; DROP SEQUENCE ledger_posting_id_seq;",
        )
    ]
