"""Late fees: grace days, a monthly rate and a cap as a share of the installment.

The fee accrued on an installment `d` days after its due date is

    0                                                          if d <= grace_days
    min(cap_share * amount, base * monthly_rate * d / 30)      otherwise

where `base` is the principal and interest still owed on it (no fee on fees), `amount` is the
installment's amount (principal as adjusted + interest), and the month is 30 days (30/360).
Once the grace period is over the fee counts from the due date, not from the end of the grace.
Both figures are rounded half-even to the currency (a named rounding point).

Charging is idempotent and monotone: the charge on a date is `accrued - already charged` when
positive, so running the nightly job twice charges once, and a partial payment that lowers the
base never takes back a fee already charged (it only delays the next one). Waived fees stay
counted as charged, so they are not charged again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from domain.shared.errors import FloatRefused, InvalidInput
from domain.shared.money import Money


class FeeSubject(Protocol):
    """The view of an installment fees need (the credits' Installment fits it)."""

    @property
    def id(self) -> UUID: ...

    @property
    def due_date(self) -> date: ...

    @property
    def amount(self) -> Money: ...

    @property
    def scheduled_outstanding(self) -> Money: ...

    @property
    def late_fee(self) -> Money: ...


@dataclass(frozen=True, slots=True)
class LateFeePolicy:
    grace_days: int = 3
    monthly_rate: Decimal = Decimal("0.05")
    cap_share: Decimal = Decimal("0.50")
    days_per_month: int = 30

    def __post_init__(self) -> None:
        for name in ("monthly_rate", "cap_share"):
            value = getattr(self, name)
            if isinstance(value, float):
                raise FloatRefused(f"{name} must be a Decimal, not a float.")
            if not Decimal(0) <= value <= Decimal(1):
                raise InvalidInput(f"{name} must be between 0 and 1.")
        if self.grace_days < 0 or self.days_per_month < 1:
            raise InvalidInput("grace_days must be >= 0 and days_per_month >= 1.")

    def accrued(self, *, base: Money, amount: Money, days_late: int) -> Money:
        """The total fee an installment should carry after `days_late` days (see module docstring)."""
        if days_late <= self.grace_days or not base.is_positive:
            return Money.zero(base.currency)
        fee = Money.rounded(base.amount * self.monthly_rate * days_late / self.days_per_month, base.currency)
        return fee.min(amount.times(self.cap_share))

    def charge_due(self, item: FeeSubject, as_of: date) -> Money:
        """What to charge now so that the installment carries its accrued fee (never negative)."""
        accrued = self.accrued(
            base=item.scheduled_outstanding, amount=item.amount, days_late=(as_of - item.due_date).days
        )
        return (accrued - item.late_fee).max(Money.zero(accrued.currency))


@dataclass(frozen=True, slots=True)
class FeeCharge:
    installment_id: UUID
    amount: Money


def assess_late_fees(items: Iterable[FeeSubject], as_of: date, policy: LateFeePolicy) -> list[FeeCharge]:
    """The fees to charge on `as_of`, one per installment that needs one."""
    charges = []
    for item in items:
        amount = policy.charge_due(item, as_of)
        if amount.is_positive:
            charges.append(FeeCharge(item.id, amount))
    return charges
