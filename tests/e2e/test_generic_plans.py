"""The read side's page statements keep a generic plan once PostgreSQL has seen them a few times:
planning costs more than running a 20-row page (0.35 ms against 0.45 ms for the credits list at
level 1), and a statement PostgreSQL plans anew for every execution pays it on every request.

It plans anew when it judges the generic plan dearer than the custom ones. For the credits pages a
`LIMIT $n` did that (the generic plan must assume a tenth of the table), so the pages state their
LIMIT in the text (adapters.queries.common.page_limit); the transactions page is the other way round
(its note in adapters.queries.transactions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from tests.builders import Caller, business_today, open_credit, pay
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

RUNS = 8  # PostgreSQL weighs the generic plan after five custom ones


def plans_of_pages() -> list[tuple[str, int, int]]:
    """This connection's prepared page statements: (statement, generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%LIMIT%%' AND generic_plans + custom_plans >= %s",
            [RUNS],
        )
        return cursor.fetchall()


def columns_besides(cursor: Any, table: str, *set_here: str) -> str:
    """The table's other columns, comma-separated: those a copy takes from the row it copies."""
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND NOT column_name = ANY(%s) ORDER BY ordinal_position",
        [table, list(set_here)],
    )
    return ", ".join(name for (name,) in cursor.fetchall())


def book_of_size(credit_id: object, copies: int, agents: list[int]) -> None:
    """Copies of one credit (no installments), spread over other agents, and fresh statistics:
    PostgreSQL's choice between the plans depends on the table's size, and a test's few rows make
    every plan look cheap."""
    with connection.cursor() as cursor:
        columns = columns_besides(cursor, "credits_credit", "id", "created_at", "agent_id")
        cursor.execute(
            f"INSERT INTO credits_credit (id, created_at, agent_id, {columns}) "
            f"SELECT gen_random_uuid(), c.created_at - g * interval '1 minute', (%s::bigint[])[1 + g %% %s], {columns} "
            "FROM credits_credit c, generate_series(1, %s) g WHERE c.id = %s",
            [agents, len(agents), copies, credit_id],
        )
        cursor.execute("ANALYZE credits_credit")


def ledger_of_size(user_id: int, copies: int, today: date) -> None:
    """Copies of one of the user's ledger transactions over the month so far, and fresh statistics
    (identity_user's too: what earlier tests left in pg_statistic must not choose the plans). With
    the four rows a test books, the page's custom plan (one month, one row) looks cheaper than a
    generic one over every month's partition, the more so the more months earlier tests created;
    a client with a page of history, as in a real ledger, makes the comparison the real one."""
    with connection.cursor() as cursor:
        columns = columns_besides(cursor, "ledger_transaction", "id", "occurred_on")
        cursor.execute(
            f"INSERT INTO ledger_transaction (id, occurred_on, {columns}) "
            f"SELECT gen_random_uuid(), %s::date - (g %% %s), {columns} "
            "FROM (SELECT * FROM ledger_transaction WHERE user_id = %s LIMIT 1) t, generate_series(1, %s) g",
            [today, today.day, user_id, copies],
        )
        cursor.execute("ANALYZE ledger_transaction")
        cursor.execute("ANALYZE identity_user")


def test_every_list_page_runs_on_a_generic_plan_after_a_few_requests(
    client: Client, login: Callable[..., dict]
) -> None:
    today = business_today()
    admin = UserFactory(username="gp-admin", role="admin")
    agent = UserFactory(username="gp-agent", role="agent")
    debtor = UserFactory(username="gp-client", role="client", onboarded_by=agent)
    credits = [open_credit(debtor, agent, price="900.00", installments=3, first_due_date=today) for _ in range(3)]
    pay(credits[0], "10.00")
    # The book spread evenly over twenty agents, the one asking among them (as in a real book: a
    # skewed one, where the asking agent has 3 credits and the others 250, makes its own case).
    agents = [agent.pk, *(UserFactory(username=f"gp-agent-{n}", role="agent").pk for n in range(19))]
    book_of_size(credits[0].id, 5000, agents=agents)
    ledger_of_size(debtor.pk, 200, today)
    as_admin = Caller(client, login(admin.username)["access_token"])
    as_agent = Caller(client, login(agent.username)["access_token"])
    as_client = Caller(client, login(debtor.username)["access_token"])
    lists: dict[str, tuple[Caller, str]] = {
        "credits, admin": (as_admin, "/api/v1/credits"),
        "credits, agent": (as_agent, "/api/v1/credits"),
        "credits, client": (as_client, "/api/v1/credits"),
        "a credit's payments": (as_client, f"/api/v1/credits/{credits[0].id}/payments"),
        "transactions": (as_client, "/api/v1/transactions"),
        "due today": (as_agent, "/api/v1/collections/due-today"),
    }
    stuck: dict[str, list[str]] = {}
    for name, (caller, path) in lists.items():
        connection.close()  # a connection of its own: its prepared statements are this list's only
        for _ in range(RUNS):
            response = caller.get(path)
            assert response.status_code == 200, (name, response.content)
        pages = plans_of_pages()
        assert pages, f"{name}: no page statement was prepared"
        stuck[name] = [" ".join(statement.split())[:90] for statement, generic, _ in pages if generic == 0]
    assert not any(stuck.values()), [name for name, found in stuck.items() if found]
