from django.db import migrations


class Migration(migrations.Migration):
    """Payment-line ids come from a sequence (identity columns on partitioned tables need PostgreSQL 17)."""

    dependencies = [("payments", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE payments_line_id_seq AS bigint; "
            "ALTER TABLE payments_line ALTER COLUMN id SET DEFAULT nextval('payments_line_id_seq');",
            "ALTER TABLE payments_line ALTER COLUMN id DROP DEFAULT; DROP SEQUENCE payments_line_id_seq;",
        )
    ]
