"""The transactions list reads one monthly partition for a one-month range (EXPLAIN says so).

Partitions for five months are created, rows are booked in several of them through the domain
services, and the plan of the list's statements (the page, then the page's posting amounts) is
inspected for every scope (client, agent, admin), with filters and with a cursor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from django.db import connection

from adapters.db.partitioning import ensure_month_partitions, month_start, next_month
from adapters.queries.common import Viewer
from adapters.queries.transactions import AMOUNTS_SQL, TransactionFilter, TransactionQueries
from domain.identity.model import Role
from domain.shared.pagination import PageRequest
from tests.builders import business_today, open_credit, pay
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def relations(plan: object) -> Iterator[str]:
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            yield plan["Relation Name"]
        for value in plan.values():
            yield from relations(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from relations(value)


def scanned(sql: str, params: list[object], table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        raw = cursor.fetchone()[0]
    plan = json.loads(raw) if isinstance(raw, str) else raw
    return {name for name in relations(plan) if name.startswith(table)}


def partition(table: str, month: date) -> str:
    return f"{table}_{month.strftime('%Y_%b').lower()}"


def test_a_one_month_range_scans_a_single_partition() -> None:
    today = business_today()
    first = month_start(today - timedelta(days=130))
    ensure_month_partitions(first, today + timedelta(days=40))
    agent = UserFactory(role="agent")
    debtor = UserFactory(role="client")
    credit = open_credit(debtor, agent, price="1200.00", installments=6, on=today - timedelta(days=120))
    for days in (90, 60, 30, 0):
        pay(credit, "10.00", on=today - timedelta(days=days))
    months = {first}
    while max(months) < month_start(today):
        months.add(next_month(max(months)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT date_trunc('month', occurred_on)) FROM ledger_transaction")
        assert cursor.fetchone()[0] >= 4  # rows really are spread over several partitions
    cursor_key = None
    target = month_start(today - timedelta(days=60))
    month_end = next_month(target) - timedelta(days=1)
    queries = TransactionQueries()
    for viewer in (Viewer(debtor.id, Role.CLIENT), Viewer(agent.id, Role.AGENT), Viewer(1, Role.ADMIN)):
        for filters in (
            TransactionFilter(date_from=target, date_to=month_end),
            TransactionFilter(date_from=target, date_to=month_end, type="repayment", status="confirmed"),
            TransactionFilter(date_from=target, date_to=month_end, credit_id=credit.id),
        ):
            for page in (PageRequest(limit=20), PageRequest(limit=20, after=(month_end, credit.id))):
                sql, params = queries.page_sql(viewer, filters, page)
                assert scanned(sql, params, "ledger_transaction") == {partition("ledger_transaction", target)}
        result = queries.list_transactions(
            viewer, TransactionFilter(date_from=target, date_to=month_end), PageRequest()
        )
        assert result.items and all(t.occurred_on.month == target.month for t in result.items)
        cursor_key = result.items[0].id
    # The check can fail: two months scan two partitions.
    wider = TransactionFilter(date_from=target - timedelta(days=1), date_to=month_end)
    sql, params = queries.page_sql(Viewer(1, Role.ADMIN), wider, PageRequest())
    assert len(scanned(sql, params, "ledger_transaction")) == 2
    # The page's amounts: the postings of the page's date span only.
    assert scanned(AMOUNTS_SQL, [target, month_end, [cursor_key]], "ledger_posting") == {
        partition("ledger_posting", target)
    }
