"""Rows in a DEFAULT partition (the compose deployment of issue 12 never created its months): /health
says so with their count, and each way the upkeep runs (the migrations, the nightly job,
`pgpartition`) moves them into their month partitions instead of failing with "updated partition
constraint for default partition ... would be violated". Real PostgreSQL, real domain writes."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from adapters.db.partitioning import add_months, month_start, next_month, partition_name
from adapters.jobs.runners import upkeep_partitions
from config.bootstrap import build_ports
from domain.application import use_cases as services
from tests.builders import business_today, open_credit, pay
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

KEYS = {"ledger_transaction": "occurred_on", "ledger_posting": "occurred_on", "payments_line": "paid_on"}


def _rows(sql: str, params: list[object] | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _placement() -> dict[str, list[tuple[str, object, date]]]:
    """Every row of the partitioned tables: (the partition holding it, its id, its date)."""
    return {
        table: sorted(_rows(f"SELECT tableoid::regclass::text, id::text, {key} FROM {table}"))
        for table, key in KEYS.items()
    }


def _health(client: Client) -> tuple[str, dict[str, dict]]:
    body = client.get("/api/v1/health").json()
    return body["status"], {check["name"]: check for check in body["checks"]}


def _migrate() -> None:
    """What `manage.py migrate` runs on a database whose months were never created."""
    for module in (
        "adapters.orm.ledger.migrations.0004_month_partitions",
        "adapters.orm.payments.migrations.0003_month_partitions",
    ):
        (step,) = importlib.import_module(module).Migration.operations
        with connection.schema_editor() as editor:
            step.code(None, editor)


def _upkeep_job() -> None:
    """What the beat's jobs.partition_upkeep task runs."""
    result = upkeep_partitions()
    assert sum(result["moved_from_default"].values()) > 0


def _nightly_command() -> None:
    call_command("nightly", "--partitions", stdout=io.StringIO())


def _pgpartition() -> None:
    call_command("pgpartition", "--yes", "--skip-delete")


@pytest.fixture
def rows_in_default() -> tuple[date, date]:
    """A credit opened 20 months ago (no partition: older than the database) and paid then, the
    month after and today, on a database that lost this month's partitions, as the compose
    deployment never had them. Every row lands in a DEFAULT partition."""
    today = business_today()
    this_month = month_start(today)
    opened = add_months(this_month, -20) + timedelta(days=9)
    with connection.cursor() as cursor:
        for table in KEYS:
            cursor.execute(f'DROP TABLE IF EXISTS "{partition_name(table, this_month)}"')
    agent, debtor = UserFactory(role="agent"), UserFactory(role="client")
    credit = open_credit(debtor, agent, price="1200.00", installments=12, on=opened)
    pay(credit, "100.00", on=opened + timedelta(days=40))
    pay(credit, "50.00", on=today)
    placement = _placement()
    for table, rows in placement.items():
        assert rows and {partition for partition, _, _ in rows} == {f"{table}_default"}
    return opened, today


@pytest.mark.parametrize(
    "upkeep",
    [_migrate, _upkeep_job, _nightly_command, _pgpartition],
    ids=["migrate", "upkeep-job", "nightly--partitions", "pgpartition"],
)
def test_rows_in_a_default_partition_are_moved_to_their_months(
    rows_in_default: tuple[date, date], upkeep: Callable[[], None], client: Client
) -> None:
    opened, today = rows_in_default
    before = _placement()
    status, checks = _health(client)
    assert status == "degraded" and checks["partitions"]["status"] == "degraded"
    for table, rows in before.items():
        assert f"{table}: {len(rows)} rows in DEFAULT" in checks["partitions"]["detail"]

    upkeep()

    after = _placement()
    for table, rows in after.items():
        # No row lost (`nightly` also books today's late fees), each in the partition of its month.
        assert {(row_id, day) for _, row_id, day in before[table]} <= {(row_id, day) for _, row_id, day in rows}
        assert all(partition == partition_name(table, month_start(day)) for partition, _, day in rows)
        months = {month_start(day) for _, _, day in rows}
        if table == "ledger_transaction":  # the opening's, the two payments' and today's months
            assert {month_start(opened), month_start(opened + timedelta(days=40)), month_start(today)} <= months
        # Each is a real partition with the month's bounds, and the DEFAULT one is still the default.
        bounds = dict(
            _rows(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                [table],
            )
        )
        assert bounds[f"{table}_default"] == "DEFAULT"
        for month in months:
            expected = f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
            assert bounds[partition_name(table, month)] == expected
    assert services.verify_book(build_ports()).ok
    status, checks = _health(client)
    assert (status, checks["partitions"]["status"], checks["partitions"]["detail"]) == ("ok", "ok", "")


def test_the_upkeep_keeps_the_months_back_to_the_oldest_credit(rows_in_default: tuple[date, date]) -> None:
    """The oldest date the app accepts is the oldest credit's opening: every month from it to 12
    ahead exists after the upkeep, so later payments dated back to it never reach the DEFAULT."""
    opened, today = rows_in_default
    upkeep_partitions()
    month, last = month_start(opened), add_months(month_start(today), 12)
    missing = []
    while month <= last:
        missing += [
            partition_name(t, month)
            for t in KEYS
            if not _rows("SELECT to_regclass(%s)", [partition_name(t, month)])[0][0]
        ]
        month = next_month(month)
    assert missing == []
