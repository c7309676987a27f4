from typing import Any

from django.conf import settings
from django.db import migrations, models

from adapters.sql.ledger import fill_missing_amounts


def fill(apps: Any, schema_editor: Any) -> None:
    fill_missing_amounts(schema_editor.connection.alias)


class Migration(migrations.Migration):
    """Each transaction's amount stored with it, so the transactions list reads no postings: the
    columns, the rows booked before them filled in chunks (each its own transaction, hence not
    atomic), then the covering indexes rebuilt with them (new ones first, so a list never loses its
    index), the old ones dropped."""

    atomic = False

    dependencies = [
        ('credits', '0004_conflict_unless'),
        ('ledger', '0005_covering_list_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='ledgertransaction',
            name='amount',
            field=models.DecimalField(blank=True, decimal_places=4, max_digits=20, null=True),
        ),
        migrations.AddField(
            model_name='ledgertransaction',
            name='currency',
            field=models.CharField(blank=True, max_length=3, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='ledgertransaction',
            index=models.Index(fields=['user', '-occurred_on', '-id'], include=('type', 'status', 'source', 'credit', 'reference_id', 'reverses_id', 'reversed_by_id', 'memo', 'recorded_at', 'amount', 'currency', 'agent'), name='tx_user_list_idx'),
        ),
        migrations.AddIndex(
            model_name='ledgertransaction',
            index=models.Index(fields=['agent', '-occurred_on', '-id'], include=('type', 'status', 'source', 'credit', 'reference_id', 'reverses_id', 'reversed_by_id', 'memo', 'recorded_at', 'amount', 'currency', 'user'), name='tx_agent_list_idx'),
        ),
        migrations.RemoveIndex(
            model_name='ledgertransaction',
            name='tx_user_cover_idx',
        ),
        migrations.RemoveIndex(
            model_name='ledgertransaction',
            name='tx_agent_cover_idx',
        ),
    ]
