"""Issue 11 §6: the largest amount the API accepts, at the largest rate and term, still fits the
numeric(20, 4) columns with everything the book adds to it (the schedule's interest, a year of late
fees, the nightly run's updates), and the derivation of that limit holds for the stored columns."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.jobs.nightly import NightlyDelinquency, refresh_one
from adapters.orm import money_fields
from config.bootstrap import build_ports
from domain.credits.schedule import MAX_ANNUAL_RATE, MAX_INSTALLMENTS, InterestMethod, Periodicity
from domain.payments.late_fees import LateFeePolicy
from domain.shared.money import HEADROOM_DIGITS, MAX_INTEGER_DIGITS, STORED_INTEGER_DIGITS, Currency, max_amount
from tests.builders import business_today, open_credit, reload
from tests.factories import CurrencyFactory, UserFactory
from tools.bookgen.checks import BookChecker

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def test_the_limit_is_derived_from_the_stored_columns() -> None:
    assert money_fields.MAX_DIGITS - money_fields.DECIMAL_PLACES == STORED_INTEGER_DIGITS
    assert MAX_INTEGER_DIGITS == STORED_INTEGER_DIGITS - HEADROOM_DIGITS
    # What the book may multiply an accepted amount by: interest at the max rate over the longest
    # (monthly) term, then late fees capped at most at the installment (LateFeePolicy refuses a cap > 1).
    years = Decimal(MAX_INSTALLMENTS) / Periodicity.MONTHLY.periods_per_year
    max_cap_share = Decimal(1)
    factor = (1 + MAX_ANNUAL_RATE * years) * (1 + max_cap_share)
    assert factor < 10**HEADROOM_DIGITS
    with pytest.raises(Exception, match="between 0 and 1"):
        LateFeePolicy(cap_share=Decimal("1.01"))
    for code, units, largest in (
        ("COP", 2, "999999999999.99"),
        ("CLP", 0, "999999999999"),
        ("KWD", 3, "999999999999.999"),
    ):
        assert str(max_amount(Currency(code, units)).amount) == largest


@pytest.mark.parametrize("method", [InterestMethod.FLAT_MARKUP, InterestMethod.FRENCH])
def test_a_credit_at_the_max_price_rate_and_term_takes_a_year_of_late_fees(method: InterestMethod) -> None:
    CurrencyFactory(code="COP", minor_units=2)
    today = business_today()
    largest = max_amount(Currency("COP", 2))
    agent, client = UserFactory(role="agent"), UserFactory()
    credit = open_credit(
        client,
        agent,
        price=str(largest.amount),
        cost="1.00",
        installments=MAX_INSTALLMENTS,
        annual_rate=str(MAX_ANNUAL_RATE),
        method=method,
        on=today - timedelta(days=400),
    )
    assert credit.total_interest.amount > 990 * largest.amount  # about 1000 x the principal
    ports = build_ports()
    job = NightlyDelinquency(ports.policies, chunk_size=10, fallback=lambda cid, day: refresh_one(ports, cid, day))

    result = job.run(today)

    assert result.fallback == 0
    assert result.installments_charged >= 12  # every installment overdue for up to a year
    after = reload(credit)
    assert after.state.value == "defaulted"
    charged = sum((i.late_fee.amount for i in after.installments), Decimal(0))
    assert charged > 0
    total_due = after.total_due.amount
    assert total_due < Decimal(10) ** STORED_INTEGER_DIGITS
    assert BookChecker(sample=5).run().ok
