from django.db import migrations

FIELDS = ("username", "first_name", "last_name", "document_id")


class Migration(migrations.Migration):
    """Case-insensitive prefix search of people (`?search=` on the client list) without a scan."""

    dependencies = [("identity", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "".join(
                f'CREATE INDEX user_{f}_prefix_idx ON identity_user ((lower("{f}")) text_pattern_ops);' for f in FIELDS
            ),
            "".join(f"DROP INDEX user_{f}_prefix_idx;" for f in FIELDS),
        )
    ]
