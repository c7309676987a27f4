"""Issue 11 over HTTP with real JWTs: a refinance carries only what is owed (§3); nothing is booked
before a credit opened (§2); loss-leaders, rates and schedules that cannot be (§4, §6); amounts the
book cannot store (§6). Every refusal is a 422 in the envelope and writes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from adapters.orm.credits.models import Credit as CreditRow
from domain.application import use_cases as services
from domain.ledger import accounts
from domain.ledger.book import balance_of
from domain.shared.money import Money
from tests.builders import business_today, open_credit, pay, ports_at, reload
from tests.e2e import test_book_commands as commands
from tests.e2e.test_book_commands import cop, counts
from tools.bookgen.checks import BookChecker

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

book = commands.book  # the same fixture: an admin, agents, clients and payment accounts, logged in
_open_body = commands._open_body


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def _refinance_body(**overrides: object) -> dict:
    body = {
        "installments": 24,
        "periodicity": "monthly",
        "first_due_date": (business_today() + timedelta(days=30)).isoformat(),
        "interest_method": "french",
        "annual_rate": "0.24",
        "reason": "client asked for longer terms",
    }
    body.update(overrides)
    return body


def _refused(response: object, code: str) -> dict:
    assert response.status_code == 422, response.content  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == code, error
    return error


def _earned(installments: list, opened: date, on: date) -> Decimal:
    """The stated accrual rule, written out independently: past periods in full, the current one by days."""
    earned, start = Decimal(0), opened
    for inst in installments:
        interest = inst.interest.amount
        if on >= inst.due_date:
            earned += interest
        elif on > start:
            share = interest * (on - start).days / (inst.due_date - start).days
            earned += share.quantize(Decimal("0.01"))
        start = inst.due_date
    return earned


# --- §3 refinance ---------------------------------------------------------------------------------


def test_refinance_carries_principal_accrued_interest_and_fees_never_future_interest(book: dict) -> None:
    today = business_today()
    opened = today - timedelta(days=75)
    # Opened 75 days ago: installment 1 fell due 45 days ago, 2 fifteen days ago, 3 falls due in 15.
    credit = open_credit(book["users"]["a"], book["users"]["agent"], price="1200000.00", on=opened)
    pay(credit, "40000.00", on=opened + timedelta(days=35))  # part of installment 1, late
    services.charge_late_fees(ports_at(today), credit.id, as_of=today)
    old = reload(credit)
    fees = sum((i.late_fee_outstanding.amount for i in old.installments), Decimal(0))
    principal = sum((i.principal_outstanding.amount for i in old.installments), Decimal(0))
    paid_interest = sum((i.paid_interest.amount for i in old.installments), Decimal(0))
    accrued = _earned(old.installments, opened, today) - paid_interest
    assert fees > 0 and accrued > 0

    response = book["admin"].post(f"/api/v1/credits/{credit.id}/refinance", _refinance_body())

    assert response.status_code == 201, response.content
    new = response.json()
    total = principal + accrued + fees
    # Found: the new principal was the old pending balance, interest of future periods included.
    assert Decimal(new["price"]["amount"]) == total < old.pending.amount
    assert sum(Decimal(i["principal"]["amount"]) for i in new["installments"]) == total
    carried = new["refinanced_from"]
    assert carried["credit_id"] == str(credit.id) and carried["as_of"] == today.isoformat()
    assert carried["outstanding_principal"] == carried["principal"] == cop(f"{principal:.2f}")
    assert carried["accrued_interest"] == cop(f"{accrued:.2f}")
    assert carried["late_fees"] == cop(f"{fees:.2f}")
    assert carried["prepaid_interest_credited"] == cop("0.00")
    assert carried["carried"] == new["price"] == cop(f"{total:.2f}")
    forgiven = old.pending.amount - total
    assert carried["interest_forgiven"] == cop(f"{forgiven:.2f}")

    # The old receivable is closed in full, the unearned interest reversed from income; the book holds.
    ports = ports_at(today)
    assert balance_of(accounts.receivable(credit.id), old.currency, ports.transactions.stream()).is_zero
    assert BookChecker(sample=10).run().ok

    # The audit trail shows each part too.
    audit = book["admin"].get(f"/api/v1/audit?credit={credit.id}&event=credit_refinanced").json()["data"]
    assert len(audit) == 1
    details = audit[0]["details"]
    assert (details["principal"], details["accrued_interest"], details["late_fees"], details["carried"]) == (
        f"{principal:.2f}",
        f"{accrued:.2f}",
        f"{fees:.2f}",
        f"{total:.2f}",
    )
    assert details["interest_forgiven"] == f"{forgiven:.2f}"
    assert audit[0]["amount"] == cop(f"{total:.2f}")


# --- §2 dates before the credit ------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["adjustment", "write-off", "fee-waiver", "refinance"])
def test_nothing_is_booked_before_the_credit_was_opened(book: dict, operation: str) -> None:
    """None of these takes a date: they book today. A credit whose opening date is after today
    (imported with its own dates, or a business time zone that moved) must refuse them."""
    today = business_today()
    credit = open_credit(book["users"]["a"], book["users"]["agent"], on=today - timedelta(days=60))
    services.charge_late_fees(ports_at(today), credit.id, as_of=today)
    installment = reload(credit).installments[0]
    assert installment.late_fee_outstanding.is_positive
    tomorrow = today + timedelta(days=1)
    CreditRow.objects.filter(id=credit.id).update(opened_on=tomorrow)
    requests = {
        "adjustment": (f"/api/v1/credits/{credit.id}/adjustments", {"amount": cop("5000.00"), "reason": "fee"}),
        "write-off": (f"/api/v1/credits/{credit.id}/write-off", {"reason": "uncollectable"}),
        "fee-waiver": (f"/api/v1/installments/{installment.id}/fee-waivers", {"amount": cop("1.00"), "reason": "ill"}),
        "refinance": (f"/api/v1/credits/{credit.id}/refinance", _refinance_body()),
    }
    path, body = requests[operation]
    before = counts()

    error = _refused(book["admin"].post(path, body), "dated_before_opening")

    assert error["details"] == {"date": today.isoformat(), "earliest_allowed": tomorrow.isoformat()}
    assert tomorrow.isoformat() in error["message"]
    assert counts() == before


# --- §4 loss-leaders and rates -------------------------------------------------------------------


def test_cost_above_price_needs_allow_loss_and_is_recorded(book: dict) -> None:
    before = counts()
    error = _refused(
        book["agent"].post("/api/v1/credits", _open_body(book, cost=cop("1500000.00"))), "cost_above_price"
    )
    assert "allow_loss" in error["message"]
    assert counts() == before

    opened = book["agent"].post("/api/v1/credits", _open_body(book, cost=cop("1500000.00"), allow_loss=True))
    assert opened.status_code == 201, opened.content
    assert opened.json()["allow_loss"] is True
    credit_id = opened.json()["id"]
    assert CreditRow.objects.get(id=credit_id).allow_loss is True
    staff = book["agent"].get(f"/api/v1/credits/{credit_id}").json()
    assert staff["allow_loss"] is True and staff["earnings"] == cop("-300000.00")
    assert book["client_a"].get(f"/api/v1/credits/{credit_id}").json()["allow_loss"] is None
    normal = book["agent"].post("/api/v1/credits", _open_body(book))
    assert normal.json()["allow_loss"] is False


@pytest.mark.parametrize(
    ("method", "rate", "status"),
    [
        ("zero_interest", "0.24", 422),  # found: the rate was silently ignored
        ("zero_interest", "0.000001", 422),
        ("zero_interest", "0", 201),
        ("french", "0", 201),  # the declining-balance limit case: no interest, as asked
        ("equal_principal", "0", 201),
        ("flat_markup", "0", 201),  # the markup is inside the price (the seed's way)
        ("flat_markup", "0.24", 201),
    ],
)
def test_a_rate_the_method_cannot_mean_is_refused(book: dict, method: str, rate: str, status: int) -> None:
    before = counts()
    response = book["agent"].post("/api/v1/credits", _open_body(book, interest_method=method, annual_rate=rate))
    if status == 422:
        _refused(response, "rate_contradicts_method")
        assert counts() == before
    else:
        assert response.status_code == 201, response.content
        assert Decimal(response.json()["annual_rate"]) == Decimal(rate)


# --- §6 installments of 0.00 ---------------------------------------------------------------------

TINY_AT_999 = {
    "periodicity": "daily",
    "installments": 36,
    "interest_method": "french",
    "annual_rate": "9.99",
}


def test_a_schedule_with_installments_of_zero_is_refused(book: dict) -> None:
    # Found: 0.36 USD at 999 %/yr, daily x36: installments 28-36 were 0.00.
    before = counts()
    body = _open_body(book, price=usd("0.36"), cost=usd("0.10"), first_due_date=business_today().isoformat())
    body.update(TINY_AT_999)
    error = _refused(book["agent"].post("/api/v1/credits", body), "empty_installment")
    assert "would be 0 USD" in error["message"] and error["details"]["last_empty"] == 36
    assert counts() == before


def test_a_refinance_into_installments_of_zero_is_refused(book: dict) -> None:
    opened = book["agent"].post(
        "/api/v1/credits",
        _open_body(
            book, price=usd("0.36"), cost=usd("0.10"), installments=1, interest_method="zero_interest", annual_rate="0"
        ),
    )
    assert opened.status_code == 201, opened.content
    before = counts()
    body = _refinance_body(first_due_date=business_today().isoformat(), **TINY_AT_999)
    _refused(book["admin"].post(f"/api/v1/credits/{opened.json()['id']}/refinance", body), "empty_installment")
    assert counts() == before


# --- §6 amounts the book can store ---------------------------------------------------------------


def test_an_adjustment_beyond_what_can_be_stored_is_refused_and_changes_nothing(book: dict) -> None:
    credit = book["agent"].post("/api/v1/credits", _open_body(book)).json()
    before = counts()
    # Found: +9,999,999,999,999,999.99 was accepted and broke every later nightly run.
    huge = book["admin"].post(
        f"/api/v1/credits/{credit['id']}/adjustments", {"amount": cop("9999999999999999.99"), "reason": "typo"}
    )
    assert huge.status_code == 422, huge.content
    assert "999999999999.99" in str(huge.json()["error"])
    # Within the per-amount limit, but the principal after it would not be.
    over = book["admin"].post(
        f"/api/v1/credits/{credit['id']}/adjustments", {"amount": cop("999999999999.99"), "reason": "typo"}
    )
    error = _refused(over, "amount_too_large")
    assert error["details"] == {"max_amount": "999999999999.99", "currency": "COP"}
    assert "999,999,999,999.99" in error["message"]
    assert counts() == before
    assert book["admin"].get(f"/api/v1/credits/{credit['id']}").json()["pending"] == credit["pending"]


@pytest.mark.parametrize(
    "change",
    [
        {"price": cop("1000000000000.00")},
        {"price": cop("-1000000000000.00")},
        {"cost": cop("1000000000000.00"), "allow_loss": True},
        {"annual_rate": "10.5"},
        {"annual_rate": "999.999999"},
    ],
)
def test_credit_amounts_and_rates_beyond_the_limits_are_refused(book: dict, change: dict) -> None:
    before = counts()
    response = book["agent"].post("/api/v1/credits", _open_body(book, **change))
    assert response.status_code == 422, response.content
    assert set(response.json()) == {"error"}
    assert counts() == before


def test_the_documented_schema_states_the_limits(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    amount = schema["MoneyIn"]["properties"]["amount"]
    assert amount["pattern"] == r"^-?\d{1,12}(\.\d{1,4})?$"
    assert "999999999999.99 COP" in amount["description"] and "KWD 3" in amount["description"]
    rate = schema["OpenCreditIn"]["properties"]["annual_rate"]
    assert "10" in rate["pattern"] and "1000 % a year" in rate["description"]
    assert "zero_interest: must be 0" in rate["description"]
    assert "allow_loss" in schema["OpenCreditIn"]["properties"]
    assert "refinanced_from" in schema["RefinanceOut"]["properties"]


def test_the_largest_accepted_amounts_open_and_adjust(book: dict) -> None:
    price = "999999999999.00"
    opened = book["agent"].post(
        "/api/v1/credits",
        _open_body(book, price=cop(price), cost=cop("1.00"), annual_rate="10", interest_method="flat_markup"),
    )
    assert opened.status_code == 201, opened.content
    up = book["admin"].post(
        f"/api/v1/credits/{opened.json()['id']}/adjustments", {"amount": cop("0.99"), "reason": "rounding"}
    )
    assert up.status_code == 200, up.content
    total = sum(Decimal(i["principal"]["amount"]) for i in up.json()["installments"])
    assert Money.of(total, "COP") == Money.of("999999999999.99", "COP")
