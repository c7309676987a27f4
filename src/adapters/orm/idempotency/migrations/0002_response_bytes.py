"""Store an idempotent POST's first response as its exact bytes (a replay must be byte-identical;
jsonb reorders an object's keys). Rows stored before keep their body, as jsonb wrote it out."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("idempotency", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_bytes",
            field=models.BinaryField(null=True),
        ),
        migrations.RunSQL(
            "UPDATE idempotency_record SET response_bytes = convert_to(response_body::text, 'UTF8') "
            "WHERE response_body IS NOT NULL",
            reverse_sql="UPDATE idempotency_record SET response_body = convert_from(response_bytes, 'UTF8')::jsonb "
            "WHERE response_bytes IS NOT NULL",
        ),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
    ]
