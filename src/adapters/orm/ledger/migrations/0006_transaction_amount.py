from typing import Any

from django.conf import settings
from django.db import migrations, models

from adapters.db.partitioning import build_partitioned_index
from adapters.sql.ledger import fill_missing_amounts

LISTED = ('type', 'status', 'source', 'credit', 'reference_id', 'reverses_id', 'reversed_by_id', 'memo', 'recorded_at', 'amount', 'currency')
USER_LIST = models.Index(fields=['user', '-occurred_on', '-id'], include=(*LISTED, 'agent'), name='tx_user_list_idx')
AGENT_LIST = models.Index(fields=['agent', '-occurred_on', '-id'], include=(*LISTED, 'user'), name='tx_agent_list_idx')


def fill(apps: Any, schema_editor: Any) -> None:
    fill_missing_amounts(schema_editor.connection.alias)


def build(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model('ledger', 'LedgerTransaction')
    for index in (USER_LIST, AGENT_LIST):
        build_partitioned_index(schema_editor, model, index)


def drop(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        for index in (USER_LIST, AGENT_LIST):
            cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')  # the partitions' go with it


class Migration(migrations.Migration):
    """Each transaction's amount stored with it, so the transactions list reads no postings: the
    columns; the rows booked before them filled in chunks (each its own transaction, hence not
    atomic); the covering indexes built again with them, partition by partition without blocking the
    ledger's writes (`build_partitioned_index`), before the old ones go, so a list never loses its index."""

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
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(build, drop)],
            state_operations=[
                migrations.AddIndex(model_name='ledgertransaction', index=USER_LIST),
                migrations.AddIndex(model_name='ledgertransaction', index=AGENT_LIST),
            ],
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
