"""The write side over HTTP with real JWTs: credits, payments, reversals, adjustments, write-offs,
refinancing and fee waivers; idempotency; bad input changes nothing; who may do what."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from config.bootstrap import build_ports
from domain.shared.money import Money
from tests.factories import PaymentAccountFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MONEY_TABLES = (
    "credits_credit",
    "credits_installment",
    "credits_event",
    "payments_payment",
    "payments_line",
    "payments_allocation",
    "payments_fee_waiver",
    "ledger_transaction",
    "ledger_posting",
)


def counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        result = {}
        for table in MONEY_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            result[table] = cursor.fetchone()[0]
        return result


def cop(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "COP"}


class Api:
    """A caller with a token: post/get JSON with the bearer header and, for POSTs, a fresh key."""

    def __init__(self, client: Client, token: str) -> None:
        self.client = client
        self.token = token

    def post(self, path: str, body: dict, key: str | None = "auto") -> object:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex if key == "auto" else key
        return self.client.post(path, body, content_type="application/json", **headers)

    def get(self, path: str) -> object:
        return self.client.get(path, HTTP_AUTHORIZATION=f"Bearer {self.token}")


@pytest.fixture
def book(client: Client, login: Callable[..., dict]) -> dict:
    admin = UserFactory(username="boss", role="admin")
    agent = UserFactory(username="agent-a", role="agent")
    other_agent = UserFactory(username="agent-b", role="agent")
    client_a = UserFactory(username="client-a", role="client")
    client_b = UserFactory(username="client-b", role="client")
    cash = PaymentAccountFactory(name="Caja", kind="cash", currency_id="COP")
    bank = PaymentAccountFactory(name="Banco", kind="bank", currency_id="COP")
    usd = PaymentAccountFactory(name="USD box", kind="cash", currency_id="USD")

    def api(username: str) -> Api:
        return Api(client, login(username)["access_token"])

    return {
        "admin": api("boss"),
        "agent": api("agent-a"),
        "other_agent": api("agent-b"),
        "client_a": api("client-a"),
        "client_b": api("client-b"),
        "users": {"admin": admin, "agent": agent, "other": other_agent, "a": client_a, "b": client_b},
        "cash": cash.id,
        "bank": bank.id,
        "usd": usd.id,
    }


def _open_body(book: dict, **overrides: object) -> dict:
    today = build_ports().clock.today()
    body = {
        "client_id": str(book["users"]["a"].public_id),
        "price": cop("1200000.00"),
        "cost": cop("800000.00"),
        "periodicity": "monthly",
        "installments": 12,
        "first_due_date": (today + timedelta(days=30)).isoformat(),
        "interest_method": "french",
        "annual_rate": "0.24",
    }
    body.update(overrides)
    return body


def _open(book: dict, **overrides: object) -> dict:
    response = book["agent"].post("/api/v1/credits", _open_body(book, **overrides))
    assert response.status_code == 201, response.content
    return response.json()


def test_open_credit_generates_a_schedule_that_adds_up(book: dict) -> None:
    credit = _open(book)
    assert credit["state"] == "active"
    amounts = [Decimal(i["amount"]["amount"]) for i in credit["installments"]]
    assert len(amounts) == 12
    assert sum(amounts) == Decimal(credit["total_due"]["amount"]) == Decimal(credit["pending"]["amount"])
    # French: level installments, the last absorbing rounding.
    assert len(set(amounts[:-1])) == 1
    principal = sum(Decimal(i["principal"]["amount"]) for i in credit["installments"])
    assert principal == Decimal("1200000.00")


def test_payment_split_cash_and_bank_sent_twice_is_charged_once(book: dict) -> None:
    credit = _open(book)
    body = {
        "amount": cop("100000.00"),
        "lines": [
            {"payment_account_id": book["cash"], "amount": cop("60000.00")},
            {"payment_account_id": book["bank"], "amount": cop("40000.00")},
        ],
    }
    first = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body, key="pay-1")
    assert first.status_code == 201, first.content
    before = counts()
    again = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body, key="pay-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == before
    paid = first.json()
    assert Decimal(paid["credit_pending"]["amount"]) == Decimal(credit["pending"]["amount"]) - Decimal("100000.00")
    assert sum(Decimal(a["interest"]["amount"]) + Decimal(a["principal"]["amount"]) for a in paid["allocations"]) == (
        Decimal("100000.00")
    )


def test_same_key_with_another_body_is_a_conflict(book: dict) -> None:
    credit = _open(book)
    line = {"payment_account_id": book["cash"], "amount": cop("1000.00")}
    ok = book["agent"].post(
        f"/api/v1/credits/{credit['id']}/payments", {"amount": cop("1000.00"), "lines": [line]}, key="k"
    )
    assert ok.status_code == 201
    before = counts()
    other = {"amount": cop("2000.00"), "lines": [{**line, "amount": cop("2000.00")}]}
    clash = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", other, key="k")
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "conflict"
    assert counts() == before


def test_reversal_restores_the_credit_exactly(book: dict) -> None:
    credit = _open(book)
    body = {
        "amount": cop("300000.00"),
        "lines": [{"payment_account_id": book["cash"], "amount": cop("300000.00")}],
        "prepay": True,
    }
    payment = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body).json()
    reversed_ = book["admin"].post(f"/api/v1/payments/{payment['id']}/reversal", {"reason": "bounced transfer"})
    assert reversed_.status_code == 200, reversed_.content
    assert reversed_.json()["status"] == "reversed"
    assert reversed_.json()["credit_pending"] == credit["pending"]
    again = book["admin"].post(f"/api/v1/payments/{payment['id']}/reversal", {"reason": "bounced transfer"})
    assert again.status_code == 409
    assert build_ports().transactions is not None
    from domain.application.use_cases import verify_book

    assert verify_book(build_ports()).problems == []


def test_adjustment_write_off_and_refinance(book: dict) -> None:
    credit = _open(book)
    up = book["admin"].post(f"/api/v1/credits/{credit['id']}/adjustments", {"amount": cop("5000.00"), "reason": "fee"})
    assert up.status_code == 200, up.content
    assert Decimal(up.json()["pending"]["amount"]) == Decimal(credit["pending"]["amount"]) + 5000
    refinanced = book["admin"].post(
        f"/api/v1/credits/{credit['id']}/refinance",
        {
            "installments": 24,
            "periodicity": "monthly",
            "first_due_date": (build_ports().clock.today() + timedelta(days=30)).isoformat(),
            "interest_method": "equal_principal",
            "annual_rate": "0.12",
            "reason": "client asked for longer terms",
        },
    )
    assert refinanced.status_code == 201, refinanced.content
    new = refinanced.json()
    # Refinanced the day it was opened: only the principal (as adjusted) is owed, no interest earned yet.
    assert sum(Decimal(i["principal"]["amount"]) for i in new["installments"]) == Decimal("1205000.00")
    assert new["refinanced_from"]["carried"] == new["price"] == cop("1205000.00")
    # The old credit is closed: no more money moves on it.
    closed = book["admin"].post(f"/api/v1/credits/{credit['id']}/write-off", {"reason": "uncollectable"})
    assert closed.status_code == 422
    written = book["admin"].post(f"/api/v1/credits/{new['id']}/write-off", {"reason": "client vanished"})
    assert written.status_code == 200
    assert written.json()["state"] == "written_off"


def test_fee_waiver_requested_by_agent_decided_by_admin(book: dict) -> None:
    from domain.application import use_cases

    ports = build_ports()
    credit = _open(book, first_due_date=ports.clock.today().isoformat(), installments=3)
    installment = credit["installments"][0]["id"]
    path = f"/api/v1/installments/{installment}/fee-waivers"
    # No late fee yet: nothing to waive.
    refused = book["agent"].post(path, {"amount": cop("10.00"), "reason": "client was ill"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "waiver_refused"
    # Forty days late: the nightly job's late-fee use case charges a fee.
    charges = use_cases.charge_late_fees(ports, uuid.UUID(credit["id"]), as_of=ports.clock.today() + timedelta(days=40))
    fee = charges[0].amount
    assert fee.is_positive
    requested = book["agent"].post(path, {"amount": cop(str(fee.amount)), "reason": "client was ill"})
    assert requested.status_code == 201, requested.content
    assert requested.json()["status"] == "requested" and requested.json()["transaction_id"] is None
    waiver_id = requested.json()["id"]
    assert book["agent"].post(f"/api/v1/fee-waivers/{waiver_id}/decision", {"approve": True}).status_code == 403
    decided = book["admin"].post(f"/api/v1/fee-waivers/{waiver_id}/decision", {"approve": True, "note": "ok"})
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "approved" and decided.json()["transaction_id"]
    after = ports.credits.get(uuid.UUID(credit["id"]))
    assert after.installments[0].late_fee_outstanding.is_zero
    twice = book["admin"].post(f"/api/v1/fee-waivers/{waiver_id}/decision", {"approve": False, "note": "no"})
    assert twice.status_code == 422


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("negative", {"amount": cop("-10.00")}),
        ("zero", {"amount": cop("0")}),
        ("too_many_decimals", {"amount": cop("10.001")}),
        ("wrong_currency", {"amount": {"amount": "10.00", "currency": "USD"}}),
        ("unknown_currency", {"amount": {"amount": "10.00", "currency": "XXX"}}),
        ("not_a_number", {"amount": {"amount": "ten", "currency": "COP"}}),
        ("float_amount", {"amount": {"amount": 10.5, "currency": "COP"}}),
        ("lines_not_summing", {"lines": "short"}),
        ("unknown_account", {"lines": "unknown"}),
        ("other_currency_account", {"lines": "usd"}),
        ("no_lines", {"lines": []}),
        ("future_date", {"paid_on": "2999-01-01"}),
        ("overpayment", {"amount": cop("99999999.00")}),
    ],
)
def test_bad_payments_are_4xx_and_write_nothing(book: dict, case: str, change: dict) -> None:
    credit = _open(book)
    body: dict = {"amount": cop("10.00"), "lines": [{"payment_account_id": book["cash"], "amount": cop("10.00")}]}
    body.update(change)
    if change.get("lines") == "short":
        body["lines"] = [{"payment_account_id": book["cash"], "amount": cop("9.00")}]
    elif change.get("lines") == "unknown":
        body["lines"] = [{"payment_account_id": 999999, "amount": cop("10.00")}]
    elif change.get("lines") == "usd":
        body["lines"] = [{"payment_account_id": book["usd"], "amount": cop("10.00")}]
    elif "amount" in change and case not in {"lines_not_summing"}:
        body["lines"] = [{"payment_account_id": book["cash"], "amount": change["amount"]}]
    before = counts()
    response = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body)
    assert 400 <= response.status_code < 500, (case, response.content)
    assert set(response.json()) == {"error"}
    assert counts() == before, case


@pytest.mark.parametrize(
    ("case", "change", "status"),
    [
        ("negative_price", {"price": cop("-1.00")}, 422),
        ("zero_price", {"price": cop("0.00")}, 422),
        ("too_many_decimals", {"price": cop("1.001")}, 422),
        ("currencies_differ", {"cost": {"amount": "1.00", "currency": "USD"}}, 422),
        ("unknown_client", {"client_id": str(uuid.uuid4())}, 404),
        ("unknown_subcategory", {"subcategory_id": 999999}, 404),
        ("zero_installments", {"installments": 0}, 422),
        ("bad_rate", {"annual_rate": "-0.1"}, 422),
        ("first_due_in_past", {"first_due_date": "2000-01-01"}, 422),
        ("bad_method", {"interest_method": "magic"}, 422),
    ],
)
def test_bad_credits_are_4xx_and_write_nothing(book: dict, case: str, change: dict, status: int) -> None:
    before = counts()
    response = book["agent"].post("/api/v1/credits", _open_body(book, **change))
    assert response.status_code == status, (case, response.content)
    assert set(response.json()) == {"error"}
    assert counts() == before


def test_bad_adjustments_and_reasons_write_nothing(book: dict) -> None:
    credit = _open(book)
    before = counts()
    for body in (
        {"amount": cop("0.00"), "reason": "nothing"},
        {"amount": cop("-99999999.00"), "reason": "too much"},
        {"amount": {"amount": "5.00", "currency": "USD"}, "reason": "currency"},
        {"amount": cop("5.00"), "reason": ""},
    ):
        response = book["admin"].post(f"/api/v1/credits/{credit['id']}/adjustments", body)
        assert 400 <= response.status_code < 500, (body, response.content)
    assert counts() == before


def test_money_posts_require_an_idempotency_key(book: dict) -> None:
    before = counts()
    response = book["agent"].post("/api/v1/credits", _open_body(book), key=None)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert counts() == before


def test_who_may_do_what(book: dict) -> None:
    credit = _open(book)
    pay = {"amount": cop("10.00"), "lines": [{"payment_account_id": book["cash"], "amount": cop("10.00")}]}
    path = f"/api/v1/credits/{credit['id']}/payments"
    assert book["other_agent"].post(path, pay).status_code == 404  # not in its portfolio: invisible
    assert book["client_b"].post(path, pay).status_code == 404  # someone else's credit: invisible
    assert book["client_a"].post(path, pay).status_code == 403  # own credit, but clients don't take payments
    assert book["client_a"].post("/api/v1/credits", _open_body(book)).status_code == 403
    payment = book["agent"].post(path, pay).json()
    assert book["agent"].post(f"/api/v1/payments/{payment['id']}/reversal", {"reason": "mine"}).status_code == 403
    assert (
        book["other_agent"].post(f"/api/v1/payments/{payment['id']}/reversal", {"reason": "x" * 4}).status_code == 404
    )
    assert book["agent"].post(f"/api/v1/credits/{credit['id']}/write-off", {"reason": "nope"}).status_code == 403
    missing = book["admin"].post(f"/api/v1/credits/{uuid.uuid4()}/write-off", {"reason": "ghost"})
    assert missing.status_code == 404
    assert book["agent"].post("/api/v1/credits/not-a-uuid/payments", pay).status_code == 422


WRITE_ENDPOINTS = {
    # endpoint: (path template, body, expected per caller: "allowed" | 403 | 404)
    "payment": (
        "/api/v1/credits/{credit}/payments",
        lambda b: {"amount": cop("10.00"), "lines": [{"payment_account_id": b["cash"], "amount": cop("10.00")}]},
        {"client_a": 403, "client_b": 404, "agent": "allowed", "other_agent": 404, "admin": "allowed"},
    ),
    "reversal": (
        "/api/v1/payments/{payment}/reversal",
        lambda b: {"reason": "matrix"},
        {"client_a": 403, "client_b": 404, "agent": 403, "other_agent": 404, "admin": "allowed"},
    ),
    "adjustment": (
        "/api/v1/credits/{credit}/adjustments",
        lambda b: {"amount": cop("5.00"), "reason": "matrix"},
        {"client_a": 403, "client_b": 404, "agent": 403, "other_agent": 404, "admin": "allowed"},
    ),
    "write_off": (
        "/api/v1/credits/{credit}/write-off",
        lambda b: {"reason": "matrix"},
        {"client_a": 403, "client_b": 404, "agent": 403, "other_agent": 404, "admin": "allowed"},
    ),
    "refinance": (
        "/api/v1/credits/{credit}/refinance",
        lambda b: {
            "installments": 3,
            "periodicity": "monthly",
            "first_due_date": (build_ports().clock.today() + timedelta(days=30)).isoformat(),
            "interest_method": "zero_interest",
            "reason": "matrix",
        },
        {"client_a": 403, "client_b": 404, "agent": 403, "other_agent": 404, "admin": "allowed"},
    ),
    "fee_waiver": (
        "/api/v1/installments/{installment}/fee-waivers",
        lambda b: {"amount": cop("1.00"), "reason": "matrix"},
        {"client_a": 403, "client_b": 404, "agent": "allowed", "other_agent": 404, "admin": "allowed"},
    ),
    "waiver_decision": (
        "/api/v1/fee-waivers/{waiver}/decision",
        lambda b: {"approve": True, "note": "matrix"},
        {"client_a": 403, "client_b": 404, "agent": 403, "other_agent": 404, "admin": "allowed"},
    ),
}


@pytest.mark.parametrize("caller", ["client_a", "client_b", "agent", "other_agent", "admin"])
@pytest.mark.parametrize("endpoint", sorted(WRITE_ENDPOINTS))
def test_write_authorization_matrix(book: dict, endpoint: str, caller: str) -> None:
    """Every write endpoint x every kind of caller: invisible is 404, visible but not allowed is 403."""
    from domain.application import use_cases
    from domain.application.ports import Actor
    from domain.ledger.model import Source

    ports = build_ports()
    credit = _open(book, first_due_date=ports.clock.today().isoformat(), installments=3)
    credit_id = uuid.UUID(credit["id"])
    use_cases.charge_late_fees(ports, credit_id, as_of=ports.clock.today() + timedelta(days=40))
    pay = {"amount": cop("10.00"), "lines": [{"payment_account_id": book["cash"], "amount": cop("10.00")}]}
    payment = book["agent"].post(f"/api/v1/credits/{credit_id}/payments", pay).json()
    waiver = use_cases.request_fee_waiver(
        ports,
        use_cases.RequestWaiver(uuid.UUID(credit["installments"][0]["id"]), Money.of("1.00", "COP"), "for the matrix"),
        Actor(book["users"]["agent"].id, Source.WEB),
    )
    template, body, expected = WRITE_ENDPOINTS[endpoint]
    path = template.format(
        credit=credit_id, payment=payment["id"], installment=credit["installments"][0]["id"], waiver=waiver.id
    )
    before = counts()
    response = book[caller].post(path, body(book))
    want = expected[caller]
    if want == "allowed":
        assert response.status_code in (200, 201), (endpoint, caller, response.content)
    else:
        assert response.status_code == want, (endpoint, caller, response.content)
        assert counts() == before  # a refused call writes nothing
        if want == 404:
            assert response.json()["error"]["message"].startswith("No such")  # no hint it exists
