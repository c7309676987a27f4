"""Cost and paging of the read side: no list's query count grows with its length (1 vs 50 items),
and walking every keyset page returns each row exactly once, in order, ties included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from domain.credits.schedule import Periodicity
from tests.builders import Caller, business_today, open_credit, pay
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def measure(caller: Caller, path: str, **params: object) -> tuple[int, int]:
    """(queries run, items returned) for one GET."""
    with CaptureQueriesContext(connection) as queries:
        response = caller.get(path, **params)
    assert response.status_code == 200, response.content
    body = response.json()
    items = body["data"] if "data" in body else body.get("installments", body.get("by_currency"))
    return len(queries), len(items)


def test_no_list_grows_its_query_count_with_its_length(client: Client, login: Callable[..., dict]) -> None:
    today = business_today()
    admin = UserFactory(username="q-admin", role="admin")
    agent = UserFactory(username="q-agent", role="agent")
    debtor = UserFactory(username="q-client", role="client")
    UserFactory(username="zz-0", role="client", onboarded_by=agent)  # in the agent's client list
    as_admin = Caller(client, login(admin.username)["access_token"])
    as_agent = Caller(client, login(agent.username)["access_token"])
    as_client = Caller(client, login(debtor.username)["access_token"])

    def one_installment_credit() -> object:
        return open_credit(debtor, agent, price="1000.00", installments=1, first_due_date=today, annual_rate="0")

    first = one_installment_credit()
    pay(first, "1.00")
    # Another agent's, so that the agent's lists below hold exactly 1, then 50 items.
    other_agent = UserFactory(username="q-agent-2", role="agent")
    long_one = open_credit(debtor, other_agent, price="5000.00", installments=50, periodicity=Periodicity.WEEKLY)
    short_one = open_credit(debtor, other_agent, price="5000.00", installments=1)
    user = debtor.public_id
    window = {"from": (today - timedelta(days=5)).isoformat(), "to": today.isoformat()}
    requests: dict[str, tuple[Caller, str, dict]] = {
        "credits": (as_agent, "/api/v1/credits", {"limit": 100, "state": "active", "opened_to": today}),
        "payments": (as_client, f"/api/v1/credits/{first.id}/payments", {"limit": 100}),
        "transactions": (as_client, "/api/v1/transactions", {"limit": 100, "type": "repayment", **window}),
        "due-today": (as_agent, "/api/v1/collections/due-today", {"limit": 100}),
        "portfolio": (as_agent, "/api/v1/collections/portfolio", {"limit": 100}),
        "admin work list": (as_admin, "/api/v1/collections/due-today", {"limit": 100, "agent": agent.public_id}),
        "clients": (as_agent, "/api/v1/clients", {"limit": 100, "search": "zz-"}),
    }
    before = {name: measure(caller, path, **params) for name, (caller, path, params) in requests.items()}
    summaries_before = {
        "mine": measure(as_client, "/api/v1/me/credit-summary"),
        "by id": measure(as_agent, f"/api/v1/users/{user}/credit-summary"),
        "kpis": measure(as_admin, "/api/v1/portfolio/kpis"),
    }

    for n in range(49):
        one_installment_credit()
        pay(first, "1.00")
        UserFactory(username=f"zz-{n + 1}", role="client", onboarded_by=agent)

    after = {name: measure(caller, path, **params) for name, (caller, path, params) in requests.items()}
    for name in requests:
        (q1, n1), (q50, n50) = before[name], after[name]
        assert (n1, n50) == (1, 50), name
        assert q1 == q50, f"{name}: {q1} queries for {n1} items, {q50} for {n50}"
    summaries_after = {
        "mine": measure(as_client, "/api/v1/me/credit-summary"),
        "by id": measure(as_agent, f"/api/v1/users/{user}/credit-summary"),
        "kpis": measure(as_admin, "/api/v1/portfolio/kpis"),
    }
    assert {k: q for k, (q, _) in summaries_before.items()} == {k: q for k, (q, _) in summaries_after.items()}

    # A schedule and a detail of 50 installments cost what one of 1 does.
    for path in ("/api/v1/credits/{}/installments", "/api/v1/credits/{}"):
        q1, n1 = measure(as_client, path.format(short_one.id))
        q50, n50 = measure(as_client, path.format(long_one.id))
        assert (n1, n50) == (1, 50)
        assert q1 == q50, path


# --- keyset pages --------------------------------------------------------------------------------


def walk(caller: Caller, path: str, limit: int, **params: object) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        body = caller.get(path, limit=limit, cursor=cursor, **params).json()
        assert len(body["data"]) <= limit
        items.extend(body["data"])
        if not body["has_more"]:
            assert body["next_cursor"] is None
            return items
        assert len(body["data"]) == limit and body["next_cursor"]
        cursor = body["next_cursor"]
    raise AssertionError("pagination did not end")


@pytest.fixture
def crowded(client: Client, login: Callable[..., dict]) -> dict:
    """23 credits of one agent, many created at the same instant, due the same day, booked the same
    day: the keyset's tie-breaker (the id) does the work."""
    today = business_today()
    admin = UserFactory(username="p-admin", role="admin")
    agent = UserFactory(username="p-agent", role="agent")
    people = [UserFactory(username=f"p-client-{n:02}", role="client") for n in range(23)]
    credits = [
        open_credit(person, agent, price="100.00", installments=2, on=today - timedelta(days=3), first_due_date=today)
        for person in people
    ]
    payments = [pay(credits[0], "1.00", on=today - timedelta(days=1)) for _ in range(15)]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE credits_credit SET created_at = '2026-01-01T00:00:00Z' WHERE id = ANY(%s)",
            [[c.id for c in credits[5:18]]],
        )
    return {
        "today": today,
        "admin": Caller(client, login(admin.username)["access_token"]),
        "agent": Caller(client, login(agent.username)["access_token"]),
        "credits": credits,
        "payments": payments,
        "window": {"from": (today - timedelta(days=10)).isoformat(), "to": today.isoformat()},
    }


@pytest.mark.parametrize("limit", [1, 7, 23, 100])
def test_walking_the_credit_list_returns_every_credit_once_in_order(crowded: dict, limit: int) -> None:
    items = walk(crowded["agent"], "/api/v1/credits", limit)
    assert sorted(i["id"] for i in items) == sorted(str(c.id) for c in crowded["credits"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM credits_credit WHERE id = ANY(%s) ORDER BY created_at DESC, id DESC",
            [[c.id for c in crowded["credits"]]],
        )
        expected = [str(row[0]) for row in cursor.fetchall()]
    assert [i["id"] for i in items] == expected


@pytest.mark.parametrize("limit", [1, 4, 100])
def test_walking_other_lists(crowded: dict, limit: int) -> None:
    agent, admin, window = crowded["agent"], crowded["admin"], crowded["window"]
    cases = [
        (agent, "/api/v1/transactions", window, lambda i: (i["occurred_on"], i["id"]), True, 23 + 15),
        (agent, "/api/v1/collections/portfolio", {}, lambda i: (i["due_date"], i["installment_id"]), False, 46),
        (agent, "/api/v1/collections/due-today", {}, lambda i: (i["due_date"], i["installment_id"]), False, 23),
        (admin, "/api/v1/clients", {"search": "p-client"}, lambda i: i["username"], False, 23),
        (
            agent,
            f"/api/v1/credits/{crowded['credits'][0].id}/payments",
            {},
            lambda i: (i["paid_on"], i["id"]),
            True,
            15,
        ),
    ]
    for caller, path, params, key, descending, count in cases:
        items = walk(caller, path, limit, **params)
        keys = [key(i) for i in items]
        assert len(keys) == count == len(set(keys)), path
        assert keys == sorted(keys, reverse=descending), path


def test_a_cursor_is_bound_to_the_scope_not_a_key_to_other_rows(crowded: dict, client: Client, login: Callable) -> None:
    """A cursor only says where to resume: replayed by someone else it still shows only their rows."""
    outsider = UserFactory(username="p-outsider", role="agent")
    first = crowded["admin"].get("/api/v1/credits", limit=2).json()
    other = Caller(client, login(outsider.username)["access_token"])
    assert other.get("/api/v1/credits", cursor=first["next_cursor"]).json()["data"] == []
