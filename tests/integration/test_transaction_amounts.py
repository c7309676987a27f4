"""Each ledger transaction stores its amount (`Transaction.amount`, what the list shows) when it is
booked, by every writer; migration 0006's fill gives rows booked before the column theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from adapters.sql.ledger import DjangoTransactionRepository, fill_missing_amounts
from tests.builders import business_today, open_credit, pay, reverse
from tests.factories import UserFactory

pytestmark = [pytest.mark.integration]


def stored() -> dict[object, tuple[object, object]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, amount, currency FROM ledger_transaction")
        return {tid: (amount, code) for tid, amount, code in cursor.fetchall()}


def booked_book() -> dict[object, tuple[object, object]]:
    """A credit, a split payment, a payment reversed: what each transaction's domain amount is."""
    today = business_today()
    admin = UserFactory(role="admin")
    credit = open_credit(UserFactory(role="client"), UserFactory(role="agent"), price="900.00", installments=3,
                         on=today - timedelta(days=20))  # fmt: skip
    pay(credit, "100.00", split=("60.00", "40.00"))
    reverse(pay(credit, "25.00"), by=admin)
    repository = DjangoTransactionRepository()
    expected = {}
    for tid in stored():
        tx = repository.get(tid)
        assert tx is not None
        expected[tid] = (tx.amount.amount, tx.amount.currency.code)
    return expected


@pytest.mark.django_db
def test_every_booking_stores_its_amount() -> None:
    expected = booked_book()
    # The disbursement, the split repayment, the repayment reversed and its reversal.
    assert len(expected) == 4
    assert stored() == expected
    assert sorted(amount for amount, _ in expected.values())[:3] == [25, 25, 100]  # the split's 60 + 40


@pytest.mark.django_db(transaction=True)  # the fill commits each chunk, then VACUUMs
def test_the_fill_gives_rows_booked_before_the_column_their_amount() -> None:
    expected = booked_book()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_transaction SET amount = NULL, currency = NULL")
        assert cursor.rowcount == len(expected)
    assert fill_missing_amounts(chunk=2) == len(expected)  # several chunks
    assert stored() == expected
    assert fill_missing_amounts() == 0  # nothing left: a second run changes nothing
