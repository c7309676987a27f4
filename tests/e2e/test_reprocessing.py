"""Money flows that depend on order, over HTTP: a reversal or a backdated payment reprocesses the
credit's other payments in date order; late fees the replayed history did not owe are taken back;
dates before the credit and payments on a closed credit are refused; "due now" counts what was paid.

Credits are opened in the past through the use cases with the business clock set back (the API
only opens credits today); everything the user did is then done over HTTP.
"""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client

from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.shared.money import Money
from tests.e2e.test_book_commands import Api, cop
from tests.factories import PaymentAccountFactory, UserFactory
from tests.unit.domain.fakes import FixedClock

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


@pytest.fixture
def desk(client: Client, login: Callable[..., dict]) -> dict:
    UserFactory(username="boss", role="admin")
    agent = UserFactory(username="agent-a", role="agent")
    borrower = UserFactory(username="client-a", role="client")
    cash = PaymentAccountFactory(name="Caja", kind="cash", currency_id="COP")
    return {
        "admin": Api(client, login("boss")["access_token"]),
        "agent": Api(client, login("agent-a")["access_token"]),
        "agent_user": agent,
        "client_user": borrower,
        "cash": cash.id,
        "today": build_ports().clock.today(),
    }


def _open_in_the_past(desk: dict, *, days_ago: int, installments: int = 5, price: str = "500000.00") -> str:
    """A monthly zero-interest credit opened `days_ago` days ago, its first installment due a month later."""
    opened_on = desk["today"] - timedelta(days=days_ago)
    clock = FixedClock()
    clock.set_date(opened_on)
    ports = dataclasses.replace(build_ports(), clock=clock)
    credit = use_cases.open_credit(
        ports,
        use_cases.OpenCredit(
            user_id=desk["client_user"].id,
            agent_id=desk["agent_user"].id,
            price=Money.of(price, "COP"),
            cost=Money.of(Decimal(price) / 5, "COP"),
            subcategory_id=None,
            periodicity=Periodicity.MONTHLY,
            installments=installments,
            first_due_date=opened_on + timedelta(days=30),
            method=InterestMethod.ZERO_INTEREST,
        ),
        Actor(desk["agent_user"].id, Source.WEB),
    )
    return str(credit.id)


def _pay(desk: dict, credit_id: str, amount: Decimal, paid_on: date, *, prepay: bool = True) -> object:
    body = {
        "amount": cop(f"{amount:.2f}"),
        "lines": [{"payment_account_id": desk["cash"], "amount": cop(f"{amount:.2f}")}],
        "paid_on": paid_on.isoformat(),
        "prepay": prepay,
    }
    return desk["agent"].post(f"/api/v1/credits/{credit_id}/payments", body)


def _detail(desk: dict, credit_id: str) -> dict:
    response = desk["admin"].get(f"/api/v1/credits/{credit_id}")
    assert response.status_code == 200, response.content
    return response.json()


def _amount(money: dict) -> Decimal:
    return Decimal(money["amount"])


def _oldest_first(amounts: list[Decimal], money: Decimal) -> list[Decimal]:
    """What each installment would hold if `money` were allocated from scratch, oldest first."""
    paid = []
    for owed in amounts:
        part = min(owed, money)
        paid.append(part)
        money -= part
    return paid


def _check_book() -> str:
    out = io.StringIO()
    call_command("check_book", sample=50, stdout=out)
    return out.getvalue()


def test_reversing_the_oldest_payment_reallocates_the_later_ones_oldest_first(desk: dict) -> None:
    """The finding: reversing the oldest of three payments left installment 3 overdue while 4 was
    paid and 5 partly paid; the credit showed an overdue balance that later money covers."""
    credit_id = _open_in_the_past(desk, days_ago=140)
    schedule = _detail(desk, credit_id)["installments"]
    amounts = [_amount(i["amount"]) for i in schedule]
    dues = [date.fromisoformat(i["due_date"]) for i in schedule]
    first = _pay(desk, credit_id, amounts[0] + amounts[1], dues[0] - timedelta(days=2))
    second = _pay(desk, credit_id, amounts[2] + amounts[3], dues[2] - timedelta(days=1))
    third = _pay(desk, credit_id, amounts[4] / 2, dues[3] + timedelta(days=1))
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201], [first.content, second.content]

    reversed_ = desk["admin"].post(f"/api/v1/payments/{first.json()['id']}/reversal", {"reason": "cheque bounced"})
    assert reversed_.status_code == 200, reversed_.content

    detail = _detail(desk, credit_id)
    standing = amounts[2] + amounts[3] + amounts[4] / 2
    expected = _oldest_first(amounts, standing)
    assert [_amount(i["paid"]) for i in detail["installments"]] == expected
    overdue = sum((a - p for a, p, d in zip(amounts, expected, dues, strict=True) if d < desk["today"]), Decimal(0))
    assert _amount(detail["overdue"]) == overdue
    assert _amount(detail["pending"]) == sum(amounts) - standing
    # Each standing payment now covers installments in date order: the second pays the first ones.
    payments = desk["admin"].get(f"/api/v1/credits/{credit_id}/payments").json()["data"]
    by_id = {p["id"]: p for p in payments}
    second_lines = by_id[second.json()["id"]]["allocations"]
    assert [line["installment_number"] for line in second_lines] == [1, 2]
    # The moves are booked (a balanced reallocation) and audited with the credit's id.
    transactions = desk["admin"].get(f"/api/v1/transactions?credit={credit_id}").json()["data"]
    assert "reallocation" in {t["type"] for t in transactions}
    audit = desk["admin"].get(f"/api/v1/audit?credit={credit_id}").json()["data"]
    assert "payments_reprocessed" in {r["event"] for r in audit}
    assert "The book is consistent" in _check_book()


def test_a_backdated_payment_goes_first_and_moves_the_later_payment(desk: dict) -> None:
    credit_id = _open_in_the_past(desk, days_ago=100)
    schedule = _detail(desk, credit_id)["installments"]
    amounts = [_amount(i["amount"]) for i in schedule]
    dues = [date.fromisoformat(i["due_date"]) for i in schedule]
    later = _pay(desk, credit_id, amounts[0], dues[1])
    assert later.status_code == 201, later.content
    earlier = _pay(desk, credit_id, amounts[0], dues[0])
    assert earlier.status_code == 201, earlier.content

    payments = {p["id"]: p for p in desk["admin"].get(f"/api/v1/credits/{credit_id}/payments").json()["data"]}
    inst = {i["number"]: i["id"] for i in schedule}
    assert [a["installment_id"] for a in payments[earlier.json()["id"]]["allocations"]] == [inst[1]]
    assert [a["installment_id"] for a in payments[later.json()["id"]]["allocations"]] == [inst[2]]
    assert [_amount(i["paid"]) for i in _detail(desk, credit_id)["installments"]] == _oldest_first(
        amounts, amounts[0] * 2
    )
    assert "The book is consistent" in _check_book()


def test_late_fees_the_replayed_history_did_not_owe_are_taken_back(desk: dict) -> None:
    """Fees charged while installment 1 looked unpaid; then the collector enters the payment made on
    its due date: the fee was never owed, so it is reversed (booked) and not charged again."""
    credit_id = _open_in_the_past(desk, days_ago=80)
    ports = build_ports()
    charged = use_cases.charge_late_fees(ports, uuid.UUID(credit_id), as_of=desk["today"])
    assert charged, "installments 1 and 2 are overdue: the nightly run charges fees"
    before = _detail(desk, credit_id)
    fees_before = {i["number"]: _amount(i["late_fee"]) for i in before["installments"]}
    assert fees_before[1] > 0
    amounts = [_amount(i["amount"]) for i in before["installments"]]
    due_1 = date.fromisoformat(before["installments"][0]["due_date"])

    paid = _pay(desk, credit_id, amounts[0], due_1, prepay=False)
    assert paid.status_code == 201, paid.content

    after = _detail(desk, credit_id)
    fees_after = {i["number"]: _amount(i["late_fee"]) for i in after["installments"]}
    assert fees_after[1] == 0
    assert fees_after[2] == fees_before[2]  # installment 2 was still late on the fee night
    assert _amount(after["installments"][0]["paid"]) == amounts[0]
    assert _amount(after["pending"]) == _amount(before["pending"]) - amounts[0] - fees_before[1]
    reallocation = [
        t
        for t in desk["admin"].get(f"/api/v1/transactions?credit={credit_id}").json()["data"]
        if t["type"] == "reallocation"
    ]
    assert len(reallocation) == 1 and _amount(reallocation[0]["amount"]) == fees_before[1]
    # The next nightly run for the same date finds nothing to charge on installment 1.
    assert all(c.installment_id != uuid.UUID(after["installments"][0]["id"]) for c in
               use_cases.charge_late_fees(build_ports(), uuid.UUID(credit_id), as_of=desk["today"]))  # fmt: skip
    assert "The book is consistent" in _check_book()


@pytest.mark.parametrize("paid_on", ["day_before_opening", "0001-01-01", "2020-01-01"])
def test_a_payment_dated_before_the_credit_is_refused_with_the_earliest_date(desk: dict, paid_on: str) -> None:
    credit_id = _open_in_the_past(desk, days_ago=10)
    opened_on = desk["today"] - timedelta(days=10)
    day = opened_on - timedelta(days=1) if paid_on == "day_before_opening" else date.fromisoformat(paid_on)
    response = _pay(desk, credit_id, Decimal("1000"), day)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "dated_before_opening"
    assert error["details"]["earliest_allowed"] == opened_on.isoformat()
    assert desk["admin"].get(f"/api/v1/credits/{credit_id}/payments").json()["data"] == []
    assert _pay(desk, credit_id, Decimal("1000"), opened_on).status_code == 201


def test_paying_a_paid_credit_says_the_credit_is_not_open(desk: dict) -> None:
    credit_id = _open_in_the_past(desk, days_ago=0, installments=2, price="2000.00")
    assert _pay(desk, credit_id, Decimal("2000"), desk["today"]).status_code == 201
    again = _pay(desk, credit_id, Decimal("10"), desk["today"])
    assert again.status_code == 409, again.content
    assert again.json()["error"]["code"] == "credit_not_open"
    assert again.json()["error"]["details"] == {"state": "paid"}


def test_due_now_counts_what_was_already_paid_not_each_request_alone(desk: dict) -> None:
    """Found: `prepay: false` limited one request's size, but five payments in a row each paid a
    future installment. What is due now is the installments due and the one in progress, less
    everything paid; the next installment becomes payable when its turn comes."""
    credit_id = _open_in_the_past(desk, days_ago=0, installments=5)
    amounts = [_amount(i["amount"]) for i in _detail(desk, credit_id)["installments"]]
    assert _pay(desk, credit_id, amounts[0], desk["today"], prepay=False).status_code == 201
    second = _pay(desk, credit_id, amounts[1], desk["today"], prepay=False)
    assert second.status_code == 422, second.content
    assert second.json()["error"]["code"] == "overpayment_refused"
    assert second.json()["error"]["details"]["due_now"] == "0.00 COP"
    # Asked for, prepayment still covers the next installments.
    assert _pay(desk, credit_id, amounts[1], desk["today"], prepay=True).status_code == 201
