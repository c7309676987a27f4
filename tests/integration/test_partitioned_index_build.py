"""Indexes of the partitioned ledger are built without blocking its writes (migration ledger/0006):
the parent's ON ONLY, each partition's CONCURRENTLY and attached, the parent's valid at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, models

from adapters.db.partitioning import build_partitioned_index
from adapters.orm.ledger.models import LedgerTransaction

pytestmark = [pytest.mark.integration]

PROBE = "tx_probe_build_idx"  # a test's own index, dropped after it


def state(name: str) -> tuple[bool, int, int]:
    """(the parent index is valid, partitions with their index attached, partitions)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x.indisvalid, (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = x.indexrelid), "
            "(SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'ledger_transaction'::regclass) "
            "FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
            [name],
        )
        row = cursor.fetchone()
    assert row is not None, f"no index {name}"
    return row


@pytest.fixture
def probe() -> Iterator[models.Index]:
    yield models.Index(fields=["recorded_at", "id"], include=["amount"], name=PROBE)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX IF EXISTS "{PROBE}"')


@pytest.mark.django_db(transaction=True)  # CREATE INDEX CONCURRENTLY runs outside a transaction
def test_the_list_indexes_are_attached_in_every_partition_and_valid() -> None:
    for name in ("tx_user_list_idx", "tx_agent_list_idx"):
        valid, attached, partitions = state(name)
        assert valid and attached == partitions > 1, (name, valid, attached, partitions)


@pytest.mark.django_db(transaction=True)
def test_a_build_stopped_midway_is_finished_by_running_it_again(probe: models.Index) -> None:
    with connection.schema_editor(atomic=False) as editor:
        sql = str(probe.create_sql(LedgerTransaction, editor))
        definition = sql.split('ON "ledger_transaction" ', 1)[1]
        with connection.cursor() as cursor:
            # What a run stopped after its first partition leaves: the parent's index (invalid) and one
            # partition's, built but not attached.
            cursor.execute(f'CREATE INDEX "{PROBE}" ON ONLY "ledger_transaction" {definition}')
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'ledger_transaction'::regclass ORDER BY c.relname LIMIT 1"
            )
            (first,) = cursor.fetchone()
            cursor.execute(f'CREATE INDEX CONCURRENTLY "{first}_{PROBE}" ON "{first}" {definition}')
        assert state(PROBE)[:2] == (False, 0)
        build_partitioned_index(editor, LedgerTransaction, probe)
    valid, attached, partitions = state(PROBE)
    assert valid and attached == partitions
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT recorded_at, id, amount FROM ledger_transaction ORDER BY recorded_at, id LIMIT 1"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert PROBE in plan, plan  # the planner uses it: valid through every partition
