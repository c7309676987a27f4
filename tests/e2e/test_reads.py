"""The read side over HTTP: who sees what (a matrix over every read endpoint), what the lists and
details contain, and bad input. Data is built through the real domain services."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.builders import Caller, business_today, open_credit, pay
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


@pytest.fixture
def world(client: Client, login: Callable[..., dict]) -> dict:
    """Two agents, each with a client; client A has two credits (one with overdue installments and
    payments), client B one. Everything 100 days old is still in the transactions range below."""
    admin = UserFactory(username="r-admin", role="admin")
    agent_a = UserFactory(username="r-agent-a", role="agent", first_name="Ana", last_name="Agent")
    agent_b = UserFactory(username="r-agent-b", role="agent")
    client_a = UserFactory(username="r-client-a", role="client", first_name="Carla", last_name="Diaz", phone="300")
    client_b = UserFactory(username="r-client-b", role="client")
    today = business_today()
    a1 = open_credit(client_a, agent_a, price="1200.00", installments=12, on=today - timedelta(days=100))
    pay(a1, "100.00", on=today - timedelta(days=60), split=("60.00", "40.00"))
    pay(a1, "50.00", on=today - timedelta(days=5))
    a2 = open_credit(client_a, agent_a, price="600.00", installments=6, on=today, first_due_date=today)
    b1 = open_credit(client_b, agent_b, price="300.00", installments=3, on=today - timedelta(days=10))
    callers = {
        name: Caller(client, login(user.username)["access_token"])
        for name, user in {
            "admin": admin,
            "agent_a": agent_a,
            "agent_b": agent_b,
            "client_a": client_a,
            "client_b": client_b,
        }.items()
    }
    callers["anonymous"] = Caller(client, None)
    return {
        "today": today,
        "users": {
            "admin": admin,
            "agent_a": agent_a,
            "agent_b": agent_b,
            "client_a": client_a,
            "client_b": client_b,
        },
        "credits": {"a1": a1, "a2": a2, "b1": b1},
        "as": callers,
        "range": {"from": (today - timedelta(days=120)).isoformat(), "to": today.isoformat()},
    }


def assert_envelope(response: object, status: int) -> dict:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    return body["error"]


# --- authorization matrix ------------------------------------------------------------------------

A1_PATHS = ["/api/v1/credits/{a1}", "/api/v1/credits/{a1}/installments", "/api/v1/credits/{a1}/payments"]


@pytest.mark.parametrize("path", A1_PATHS)
@pytest.mark.parametrize(
    ("who", "status"),
    [("client_a", 200), ("client_b", 404), ("agent_a", 200), ("agent_b", 404), ("admin", 200), ("anonymous", 401)],
)
def test_a_credit_is_visible_to_its_owner_its_agent_and_admins_only(
    world: dict, path: str, who: str, status: int
) -> None:
    response = world["as"][who].get(path.format(a1=world["credits"]["a1"].id))
    if status == 200:
        assert response.status_code == 200, response.content
    else:
        # Not visible and unknown look the same: a 404 (or 401 without a token), never a 403.
        error = assert_envelope(response, status)
        unknown = world["as"]["admin"].get(path.format(a1=uuid.uuid4()))
        assert_envelope(unknown, 404)
        if status == 404:
            assert error["message"] == unknown.json()["error"]["message"]


LISTS = {
    "client_a": {"a1", "a2"},
    "client_b": {"b1"},
    "agent_a": {"a1", "a2"},
    "agent_b": {"b1"},
    "admin": {"a1", "a2", "b1"},
}


@pytest.mark.parametrize("who", sorted(LISTS))
def test_the_credit_list_is_scoped(world: dict, who: str) -> None:
    names = {str(c.id): name for name, c in world["credits"].items()}
    body = world["as"][who].get("/api/v1/credits", limit=100).json()
    assert {names[item["id"]] for item in body["data"]} == LISTS[who]


@pytest.mark.parametrize("who", sorted(LISTS))
def test_transactions_are_scoped(world: dict, who: str) -> None:
    credit_of = {str(c.id): name for name, c in world["credits"].items()}
    body = world["as"][who].get("/api/v1/transactions", limit=100, **world["range"]).json()
    seen = {credit_of[item["credit_id"]] for item in body["data"]}
    assert seen == LISTS[who]
    if who.startswith("agent"):
        me = str(world["users"][who].public_id)
        assert all(item["agent_id"] == me for item in body["data"])


@pytest.mark.parametrize(
    ("who", "status"),
    [("client_a", 403), ("client_b", 403), ("agent_a", 200), ("agent_b", 404), ("admin", 200), ("anonymous", 401)],
)
def test_a_clients_summary_by_id(world: dict, who: str, status: int) -> None:
    path = f"/api/v1/users/{world['users']['client_a'].public_id}/credit-summary"
    response = world["as"][who].get(path)
    if status == 200:
        assert response.json()["credits"] == 2
    else:
        assert_envelope(response, status)


@pytest.mark.parametrize("who", ["client_a", "client_b", "agent_a", "admin"])
def test_my_summary_is_my_own(world: dict, who: str) -> None:
    body = world["as"][who].get("/api/v1/me/credit-summary").json()
    assert body["user_id"] == str(world["users"][who].public_id)
    assert body["credits"] == {"client_a": 2, "client_b": 1}.get(who, 0)


WORK_LISTS = ["due-today", "due-tomorrow", "overdue", "portfolio"]


@pytest.mark.parametrize("kind", WORK_LISTS)
@pytest.mark.parametrize(
    ("who", "status"),
    [("client_a", 403), ("agent_a", 200), ("agent_b", 200), ("admin", 200), ("anonymous", 401)],
)
def test_work_lists_are_for_staff_and_an_agent_sees_its_own(world: dict, kind: str, who: str, status: int) -> None:
    response = world["as"][who].get(f"/api/v1/collections/{kind}", limit=100)
    if status != 200:
        assert_envelope(response, status)
        return
    credits = {item["credit_id"] for item in response.json()["data"]}
    mine = {str(c.id) for n, c in world["credits"].items() if n in LISTS.get(who, {"a1", "a2", "b1"})}
    assert credits <= mine


def test_an_agent_cannot_read_another_agents_work_list(world: dict) -> None:
    other = world["users"]["agent_b"].public_id
    assert_envelope(world["as"]["agent_a"].get("/api/v1/collections/overdue", agent=other), 403)


def test_an_admin_reads_an_agents_work_list(world: dict) -> None:
    agent = world["users"]["agent_a"].public_id
    as_admin = world["as"]["admin"].get("/api/v1/collections/portfolio", agent=agent, limit=100).json()
    as_agent = world["as"]["agent_a"].get("/api/v1/collections/portfolio", limit=100).json()
    assert as_admin == as_agent
    assert_envelope(world["as"]["admin"].get("/api/v1/collections/portfolio", agent=uuid.uuid4()), 404)
    client_id = world["users"]["client_a"].public_id
    assert_envelope(world["as"]["admin"].get("/api/v1/collections/portfolio", agent=client_id), 404)


@pytest.mark.parametrize(("who", "status"), [("client_a", 403), ("agent_a", 200), ("admin", 200), ("anonymous", 401)])
def test_the_client_list_is_for_staff(world: dict, who: str, status: int) -> None:
    response = world["as"][who].get("/api/v1/clients", limit=100)
    if status != 200:
        assert_envelope(response, status)
        return
    roles = {item["role"] for item in response.json()["data"]}
    assert roles == ({"client"} if who == "agent_a" else {"client", "agent", "admin"})


@pytest.mark.parametrize("path", ["/api/v1/portfolio/kpis", "/api/v1/portfolio/aging"])
@pytest.mark.parametrize(("who", "status"), [("client_a", 403), ("agent_a", 403), ("admin", 200), ("anonymous", 401)])
def test_portfolio_figures_are_for_admins(world: dict, path: str, who: str, status: int) -> None:
    response = world["as"][who].get(path)
    if status == 200:
        assert response.json()["data"]
    else:
        assert_envelope(response, status)


# --- contents ------------------------------------------------------------------------------------


def test_credit_list_items(world: dict) -> None:
    a1, a2 = world["credits"]["a1"], world["credits"]["a2"]
    body = world["as"]["client_a"].get("/api/v1/credits").json()
    assert [item["id"] for item in body["data"]] == [str(a2.id), str(a1.id)]  # newest first
    assert body["has_more"] is False and body["next_cursor"] is None
    item = body["data"][1]
    assert item["client_id"] == str(world["users"]["client_a"].public_id)
    assert item["agent_id"] == str(world["users"]["agent_a"].public_id)
    assert item["price"] == {"amount": "1200.00", "currency": "COP"}
    assert item["installments_count"] == 12
    assert item["periodicity"] == "monthly" and item["interest_method"] == "french"
    assert item["state"] == "active" and item["is_in_default"] is False
    assert item["next_due_date"] is not None


def test_credit_list_filters(world: dict) -> None:
    admin = world["as"]["admin"]
    client_b = world["users"]["client_b"].public_id
    assert [i["id"] for i in admin.get("/api/v1/credits", user=client_b).json()["data"]] == [
        str(world["credits"]["b1"].id)
    ]
    assert admin.get("/api/v1/credits", state="paid").json()["data"] == []
    assert len(admin.get("/api/v1/credits", state="active").json()["data"]) == 3
    assert admin.get("/api/v1/credits", in_default="true").json()["data"] == []
    today = world["today"]
    recent = admin.get("/api/v1/credits", opened_from=(today - timedelta(days=11)).isoformat()).json()["data"]
    assert {i["id"] for i in recent} == {str(world["credits"]["a2"].id), str(world["credits"]["b1"].id)}
    old = admin.get("/api/v1/credits", opened_to=(today - timedelta(days=50)).isoformat()).json()["data"]
    assert [i["id"] for i in old] == [str(world["credits"]["a1"].id)]
    # A client's `user` filter cannot widen its scope.
    assert world["as"]["client_a"].get("/api/v1/credits", user=client_b).json()["data"] == []
    assert_envelope(admin.get("/api/v1/credits", state="bogus"), 422)


def test_credit_detail_hides_cost_from_clients(world: dict) -> None:
    path = f"/api/v1/credits/{world['credits']['a1'].id}"
    as_client = world["as"]["client_a"].get(path).json()
    as_agent = world["as"]["agent_a"].get(path).json()
    assert as_client["cost"] is None and as_client["earnings"] is None
    assert as_agent["cost"] == {"amount": "840.00", "currency": "COP"}
    assert as_agent["earnings"] == {"amount": "360.00", "currency": "COP"}
    assert as_agent["paid"] == {"amount": "150.00", "currency": "COP"}
    assert len(as_agent["installments"]) == 12
    assert as_agent["delinquency"]["aging_bucket"] == "current"
    statuses = [i["status"] for i in as_agent["installments"]]
    # 150 paid: installment 1 (about 113.46) is settled, the rest partly paid and overdue.
    assert statuses[:4] == ["paid", "overdue", "overdue", "upcoming"] and statuses[-1] == "upcoming"


def test_schedule_and_payments(world: dict) -> None:
    a1 = world["credits"]["a1"]
    schedule = world["as"]["client_a"].get(f"/api/v1/credits/{a1.id}/installments").json()["data"]
    assert [i["number"] for i in schedule] == list(range(1, 13))
    first, second = schedule[0], schedule[1]
    assert first["outstanding"] == {"amount": "0.00", "currency": "COP"} and first["status"] == "paid"
    paid = sum(Decimal(i["paid"]["amount"]) for i in schedule)
    assert paid == Decimal("150.00") and second["paid"]["amount"] != "0.00"
    assert Decimal(second["outstanding"]["amount"]) == Decimal(second["amount"]["amount"]) - Decimal(
        second["paid"]["amount"]
    )
    payments = world["as"]["client_a"].get(f"/api/v1/credits/{a1.id}/payments").json()["data"]
    assert [p["amount"]["amount"] for p in payments] == ["50.00", "100.00"]  # newest first
    assert payments[1]["status"] == "posted"
    assert sorted(line["amount"]["amount"] for line in payments[1]["lines"]) == ["40.00", "60.00"]
    assert {line["account_kind"] for line in payments[1]["lines"]} == {"cash", "bank"}
    assert payments[0]["agent_id"] == str(world["users"]["agent_a"].public_id)
    empty = world["as"]["client_b"].get(f"/api/v1/credits/{world['credits']['b1'].id}/payments").json()
    assert empty == {"data": [], "next_cursor": None, "has_more": False}


def test_transactions_list(world: dict) -> None:
    body = world["as"]["client_a"].get("/api/v1/transactions", limit=100, **world["range"]).json()
    kinds = [t["type"] for t in body["data"]]
    assert sorted(kinds) == ["disbursement", "disbursement", "repayment", "repayment"]
    dates = [t["occurred_on"] for t in body["data"]]
    assert dates == sorted(dates, reverse=True)
    repayment = next(t for t in body["data"] if t["type"] == "repayment" and t["amount"]["amount"] == "100.00")
    assert repayment["amount"] == {"amount": "100.00", "currency": "COP"}
    assert repayment["user_id"] == str(world["users"]["client_a"].public_id)
    only = world["as"]["admin"].get("/api/v1/transactions", type="repayment", **world["range"]).json()["data"]
    assert {t["type"] for t in only} == {"repayment"} and len(only) == 2
    by_credit = (
        world["as"]["admin"]
        .get("/api/v1/transactions", credit=world["credits"]["b1"].id, **world["range"])
        .json()["data"]
    )
    assert [t["type"] for t in by_credit] == ["disbursement"]
    # The default range is the current month: the 100-day-old disbursement is outside it.
    default = world["as"]["client_a"].get("/api/v1/transactions").json()["data"]
    assert all(t["occurred_on"] >= world["today"].replace(day=1).isoformat() for t in default)


def test_a_transactions_page_reads_no_postings_its_amounts_are_stored(world: dict) -> None:
    """Each transaction's amount is stored with it at booking: the page is one statement on the
    ledger (the postings' sums were a second one, planned anew on every request). A row booked
    before the column existed still shows its amount, summed from its postings."""
    caller = world["as"]["client_a"]
    with CaptureQueriesContext(connection) as queries:
        body = caller.get("/api/v1/transactions", limit=100, **world["range"]).json()
    on_the_ledger = [q["sql"] for q in queries.captured_queries if "ledger_" in q["sql"]]
    assert len(on_the_ledger) == 1 and "ledger_posting" not in on_the_ledger[0], on_the_ledger
    shown = {t["id"]: t["amount"] for t in body["data"]}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id::text, sum(amount), min(currency) FROM ledger_posting WHERE side = 'debit' "
            "AND transaction_id = ANY(%s::uuid[]) GROUP BY transaction_id",
            [list(shown)],
        )
        debits = {tid: {"amount": f"{total:.2f}", "currency": code} for tid, total, code in cursor.fetchall()}
    assert shown == debits and {"amount": "100.00", "currency": "COP"} in shown.values()  # the split payment

    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_transaction SET amount = NULL, currency = NULL WHERE id = ANY(%s::uuid[])",
                       [list(shown)[:2]])  # fmt: skip
    again = caller.get("/api/v1/transactions", limit=100, **world["range"]).json()
    assert {t["id"]: t["amount"] for t in again["data"]} == shown


def test_transactions_range_is_bounded(world: dict) -> None:
    caller = world["as"]["admin"]
    today = world["today"]
    too_long = caller.get("/api/v1/transactions", **{"from": (today - timedelta(days=400)).isoformat(), "to": today})
    assert_envelope(too_long, 422)
    backwards = caller.get("/api/v1/transactions", **{"from": today.isoformat(), "to": today - timedelta(days=1)})
    assert_envelope(backwards, 422)
    a_year = caller.get("/api/v1/transactions", **{"from": (today - timedelta(days=365)).isoformat(), "to": today})
    assert a_year.status_code == 200
    assert_envelope(caller.get("/api/v1/transactions", type="nope"), 422)


def test_work_list_contents(world: dict) -> None:
    today = world["today"]
    agent = world["as"]["agent_a"]
    overdue = agent.get("/api/v1/collections/overdue").json()["data"]
    assert [i["number"] for i in overdue] == [2, 3]  # most overdue first; 1 was paid
    assert overdue[0]["client_name"] == "Carla Diaz" and overdue[0]["client_phone"] == "300"
    assert overdue[0]["days_past_due"] == (today - date.fromisoformat(overdue[0]["due_date"])).days > 30
    due_today = agent.get("/api/v1/collections/due-today").json()["data"]
    assert [(i["credit_id"], i["number"]) for i in due_today] == [(str(world["credits"]["a2"].id), 1)]
    assert due_today[0]["days_past_due"] == 0
    portfolio = agent.get("/api/v1/collections/portfolio", limit=100).json()["data"]
    assert len(portfolio) == 11 + 6  # a1's first installment is settled
    dates = [(i["due_date"], i["installment_id"]) for i in portfolio]
    assert dates == sorted(dates)


def test_summary_contents(world: dict) -> None:
    body = world["as"]["client_a"].get("/api/v1/me/credit-summary").json()
    assert body["credits"] == 2 and body["open_credits"] == 2 and body["in_default"] == 0
    [cop] = body["by_currency"]
    assert cop["currency"] == "COP" and cop["credits"] == 2
    assert cop["next_due_date"] is not None
    assert body["as_of"] == world["today"].isoformat()


def test_bad_ids_and_bad_pages(world: dict) -> None:
    admin = world["as"]["admin"]
    assert_envelope(admin.get("/api/v1/credits/not-a-uuid"), 422)
    assert_envelope(admin.get("/api/v1/credits/not-a-uuid/installments"), 422)
    assert_envelope(admin.get(f"/api/v1/credits/{uuid.uuid4()}/payments"), 404)
    assert_envelope(admin.get("/api/v1/users/not-a-uuid/credit-summary"), 422)
    assert_envelope(admin.get(f"/api/v1/users/{uuid.uuid4()}/credit-summary"), 404)
    for path in ["/api/v1/credits", "/api/v1/transactions", "/api/v1/clients", "/api/v1/collections/portfolio"]:
        assert_envelope(admin.get(path, limit=101), 422)
        assert_envelope(admin.get(path, limit=0), 422)
        assert_envelope(admin.get(path, cursor="garbage!"), 422)
        assert_envelope(admin.get(path, cursor="W1sidSIsIngiXV0"), 422)  # [["u","x"]]: right shape, bad value


def test_read_endpoints_are_documented(client: Client) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/v1/credits": {401, 422},
        "/api/v1/credits/{credit_id}": {401, 404, 422},
        "/api/v1/credits/{credit_id}/installments": {401, 404, 422},
        "/api/v1/credits/{credit_id}/payments": {401, 404, 422},
        "/api/v1/transactions": {401, 422},
        "/api/v1/me/credit-summary": {401},
        "/api/v1/users/{user_id}/credit-summary": {401, 403, 404, 422},
        "/api/v1/collections/due-today": {401, 403, 404, 422},
        "/api/v1/collections/due-tomorrow": {401, 403, 404, 422},
        "/api/v1/collections/overdue": {401, 403, 404, 422},
        "/api/v1/collections/portfolio": {401, 403, 404, 422},
        "/api/v1/clients": {401, 403, 422},
        "/api/v1/portfolio/kpis": {401, 403},
        "/api/v1/portfolio/aging": {401, 403},
    }
    for path, errors in expected.items():
        operation = paths[path]["get"]
        assert {int(code) for code in operation["responses"]} >= {200, *errors}, path
        assert operation["security"] == [{"JWTBearer": []}], path
        for code in errors:
            ref = operation["responses"][str(code)]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorOut"), path
    assert {"post", "get"} <= set(paths["/api/v1/credits"]) and {"post", "get"} <= set(paths["/api/v1/clients"])
    params = {p["name"] for p in paths["/api/v1/transactions"]["get"]["parameters"]}
    assert {"from", "to", "type", "status", "credit", "limit", "cursor"} <= params
    money = spec["components"]["schemas"]["MoneyOut"]["properties"]
    assert money["amount"]["type"] == "string"


@pytest.mark.parametrize(
    ("who", "path", "schema"),
    [
        ("admin", "/api/v1/credits", "credits"),
        ("agent_a", "/api/v1/credits", "credits"),
        ("client_a", "/api/v1/credits", "credits"),
        ("client_a", "/api/v1/transactions", "transactions"),
        ("admin", "/api/v1/transactions", "transactions"),
        ("agent_a", "/api/v1/collections/overdue", "collections"),
        ("agent_a", "/api/v1/collections/due-today", "collections"),
        ("agent_a", "/api/v1/collections/portfolio", "collections"),
        ("admin", "/api/v1/audit", "audit"),
    ],
)
def test_a_list_page_is_what_ninja_would_render_from_its_schema(world: dict, who: str, path: str, schema: str) -> None:
    # List pages are written straight from the endpoint's dicts (api.http.cached.json_response), not
    # validated by their schema on every request: this pins that what they write is exactly what the
    # schema's validation and Ninja's renderer make of it (same keys, order, types and text).
    from api.audit.router import AuditPage
    from api.collections.router import DueItemPage
    from api.credits.router import CreditPage
    from api.transactions.router import TransactionPage
    from config.urls import api

    model = {"credits": CreditPage, "transactions": TransactionPage, "collections": DueItemPage, "audit": AuditPage}
    query = {"limit": 100, **world["range"]} if schema == "transactions" else {"limit": 100}
    response = world["as"][who].get(path, **query)
    assert response.status_code == 200
    body = response.json()
    assert body["data"], f"{path} as {who} listed nothing: the comparison would prove little"
    validated = model[schema].model_validate(body).model_dump()
    assert response.content == api.renderer.render(None, validated, response_status=200)
