"""The transactions list reads no heap page once its month is vacuumed (EXPLAIN ANALYZE says so).

At millions of transactions the heap pages of old months are not in memory: a page of 20 rows read
20 of them from disk, which was the list's p99 at level 3. The client's and the agent's lists and
the page's amounts are index-only scans with no heap fetch when the visibility map is current.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection

from adapters.db.partitioning import ensure_month_partitions, month_start, next_month, partition_name
from adapters.queries.common import Viewer
from adapters.queries.transactions import AMOUNTS_SQL, TransactionFilter, TransactionQueries
from domain.identity.model import Role
from domain.shared.pagination import PageRequest
from tests.builders import business_today, open_credit, pay
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration]


def scans(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Relation Name" in node:
            yield node
        for value in node.values():
            yield from scans(value)
    elif isinstance(node, list):
        for value in node:
            yield from scans(value)


def scans_of(sql: str, params: list[object], table: str) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        # A test table is a few pages: left alone, the planner reads them whole. Off, it shows
        # which index the statement would use at volume, and what that index can answer alone.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            raw = cursor.fetchone()[0]
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return [s for s in scans(plan) if s["Relation Name"].startswith(table)]


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside the test's transaction
def test_the_client_and_agent_lists_and_their_amounts_are_index_only_scans_without_heap_fetches() -> None:
    today = business_today()
    month = month_start(today - timedelta(days=45))
    ensure_month_partitions(month, today + timedelta(days=40))
    agent = UserFactory(role="agent")
    debtor = UserFactory(role="client")
    credit = open_credit(debtor, agent, price="1200.00", installments=6, on=month + timedelta(days=1))
    for day in (3, 9, 15):
        pay(credit, "10.00", on=month + timedelta(days=day))
    month_end = next_month(month) - timedelta(days=1)
    with connection.cursor() as cursor:
        for table in ("ledger_transaction", "ledger_posting"):
            cursor.execute(f'VACUUM (ANALYZE) "{partition_name(table, month)}"')

    queries = TransactionQueries()
    for viewer in (Viewer(debtor.id, Role.CLIENT), Viewer(agent.id, Role.AGENT)):
        sql, params = queries.page_sql(viewer, TransactionFilter(date_from=month, date_to=month_end), PageRequest())
        [scan] = scans_of(sql, params, "ledger_transaction")
        assert (scan["Node Type"], scan.get("Heap Fetches")) == ("Index Only Scan", 0), scan
        assert scan["Actual Rows"] == 4  # the disbursement and three repayments: the scan found them

    page = queries.list_transactions(
        Viewer(debtor.id, Role.CLIENT), TransactionFilter(date_from=month, date_to=month_end), PageRequest()
    )
    ids = [t.id for t in page.items]
    assert len(ids) == 4 and all(t.amount is not None for t in page.items)
    [scan] = scans_of(AMOUNTS_SQL, [month, month_end, ids], "ledger_posting")
    assert (scan["Node Type"], scan.get("Heap Fetches")) == ("Index Only Scan", 0), scan

    # The check can fail: a row changed since the vacuum (a status) sends the scan to its heap page.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_transaction SET memo = memo WHERE id = %s", [ids[0]])
    sql, params = queries.page_sql(
        Viewer(agent.id, Role.AGENT), TransactionFilter(date_from=month, date_to=month_end), PageRequest()
    )
    [scan] = scans_of(sql, params, "ledger_transaction")
    assert scan["Heap Fetches"] > 0
