"""Small builders for credits in a known shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from domain.credits.model import Credit
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms
from domain.shared.money import USD, Currency, Money

from .fakes import SequentialIds

AT = datetime(2024, 1, 1, 12, tzinfo=UTC)
OPENED = date(2024, 1, 1)
FIRST_DUE = date(2024, 2, 1)


def usd(amount: str) -> Money:
    return Money.of(amount, USD)


def new_credit(
    price: str = "400",
    n: int = 4,
    *,
    method: InterestMethod = InterestMethod.ZERO_INTEREST,
    rate: str = "0",
    currency: Currency = USD,
    active: bool = True,
    ids: SequentialIds | None = None,
    periodicity: Periodicity = Periodicity.MONTHLY,
) -> Credit:
    """A credit of `price` in `n` monthly installments from 2024-02-01 (100 USD each by default)."""
    ids = ids or SequentialIds(1000)
    amount = Money.of(price, currency)
    credit = Credit.open(
        id=ids.new_id(),
        user_id=7,
        agent_id=3,
        price=amount,
        cost=Money.of(Decimal(price) * 3 // 4, currency),
        subcategory_id=1,
        terms=ScheduleTerms(amount, n, periodicity, FIRST_DUE, method, Decimal(rate)),
        opened_on=OPENED,
        ids=ids,
    )
    if active:
        credit.activate(event_id=ids.new_id(), at=AT)
    return credit


def eid(n: int) -> UUID:
    return UUID(int=10**6 + n)
