"""Reprocessing: a credit's surviving payments replayed in date order over its schedule.

When a payment is reversed, or a payment is dated before payments already booked (or before late
fees already charged), what every later payment paid depends on it: oldest-first only holds if the
payments are allocated in the order they were *made*, not the order they were *booked*. Like the
mature loan systems (Apache Fineract's "loan transaction reprocessing"), `replay` rebuilds from the
schedule (principal as adjusted, interest, late fees charged and waived) the allocation each
surviving payment would have had, had they arrived in `(paid_on, received_at)` order, with the
ordinary waterfall (oldest installment first; late fee → interest → principal). The use cases book
the differences as compensating entries; nothing booked is edited.

Late fees in the replay (the rule):
- fees accrue on the nights they were actually charged (`fee_nights`: the date, booking time and
  amount of the credit's late-fee bookings; a nightly run that charged nothing changed nothing), each night
  by the same `LateFeePolicy` as the nightly run, on what the *replayed* history left owed that
  night; a night comes before the payments of a later date, and among those of its own date before
  the ones received after it was booked, or at the same instant (the nightly run for a date runs
  at its start, so a payment entered late for that date comes after it);
- a replay never raises a fee retroactively: each installment's fee is at most what was charged
  on it, and what a night adds to the credit's fees at most what that night actually charged it
  (oldest installments first); the next nightly run charges what accrues from then on, on the
  balance as it then is. Replaying a replayed history therefore changes nothing (a fixed point);
- what was charged but, after the replay, had not accrued is no longer owed: the use case books
  it back as a late-fee reversal; a fee never falls below what was waived on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.payments.allocation import AllocationLine
from domain.payments.late_fees import LateFeePolicy
from domain.shared.money import Currency, Money


class ReplayInstallment(Protocol):
    """The view of an installment the replay needs (the credits' Installment fits it)."""

    @property
    def id(self) -> UUID: ...

    @property
    def number(self) -> int: ...

    @property
    def due_date(self) -> date: ...

    @property
    def principal_due(self) -> Money: ...

    @property
    def interest(self) -> Money: ...

    @property
    def late_fee(self) -> Money: ...

    @property
    def late_fee_waived(self) -> Money: ...


class ReplayPayment(Protocol):
    """The view of a payment the replay needs (the payments' Payment fits it)."""

    @property
    def id(self) -> UUID: ...

    @property
    def amount(self) -> Money: ...

    @property
    def paid_on(self) -> date: ...

    @property
    def received_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class InstallmentOutcome:
    """An installment after the replay: its late fee and what the payments paid of it."""

    late_fee: Money
    paid_late_fee: Money
    paid_interest: Money
    paid_principal: Money


@dataclass(frozen=True, slots=True)
class Replayed:
    allocations: dict[UUID, tuple[AllocationLine, ...]]
    """Per surviving payment, its allocation lines (in waterfall order)."""
    installments: dict[UUID, InstallmentOutcome]
    unallocated: Money
    """What no installment could take (more than the credit owes): the caller refuses it."""


def in_payment_order(payments: Sequence[ReplayPayment]) -> list[ReplayPayment]:
    """The order payments are allocated in: the day they were made, then when they were received."""
    return sorted(payments, key=lambda p: (p.paid_on, p.received_at, p.id))


class _Slot:
    """The running state of one installment during the replay."""

    __slots__ = ("charged", "fee", "item", "paid_fee", "paid_interest", "paid_principal")

    def __init__(self, item: ReplayInstallment, zero: Money, fees_from_start: bool) -> None:
        self.item = item
        self.charged = item.late_fee
        # Without a fee history the fees charged are taken as owed from the start.
        self.fee = item.late_fee if fees_from_start else zero
        self.paid_fee = zero
        self.paid_interest = zero
        self.paid_principal = zero

    @property
    def fee_owed(self) -> Money:
        left = self.fee - self.item.late_fee_waived - self.paid_fee
        return left.max(Money.zero(left.currency))

    @property
    def interest_owed(self) -> Money:
        return self.item.interest - self.paid_interest

    @property
    def principal_owed(self) -> Money:
        return self.item.principal_due - self.paid_principal

    def accrued(self, night: date, policy: LateFeePolicy) -> Money:
        """The fee this installment would carry after `night`, by the rules (never above what was charged)."""
        base = self.principal_owed + self.interest_owed
        accrued = policy.accrued(
            base=base, amount=self.item.principal_due + self.item.interest, days_late=(night - self.item.due_date).days
        )
        return self.fee.max(accrued).min(self.charged)


def _accrue_night(slots: list[_Slot], night: date, allowed: Money, policy: LateFeePolicy) -> None:
    """One fee night: each installment's fee grows to what it accrued, the growth of all of them
    together at most `allowed` (what the credit was actually charged that night), oldest first."""
    for slot in slots:
        growth = (slot.accrued(night, policy) - slot.fee).min(allowed)
        slot.fee += growth
        allowed -= growth


def replay(
    installments: Sequence[ReplayInstallment],
    payments: Sequence[ReplayPayment],
    *,
    currency: Currency,
    fee_nights: Sequence[tuple[date, datetime, Money]] | None = None,
    policy: LateFeePolicy | None = None,
) -> Replayed:
    """Allocate `payments` in payment order over `installments` from nothing paid (see module doc).

    With `policy` and `fee_nights`, fees accrue night by night as described above; without them,
    the fees charged are owed from the start (a credit with no late fees needs nothing else).
    """
    zero = Money.zero(currency)
    # Fees accrue night by night only with both a policy and the nights it was applied on.
    fee_policy = policy if fee_nights is not None else None
    with_fees = fee_policy is not None
    slots = [_Slot(i, zero, not with_fees) for i in sorted(installments, key=lambda i: (i.due_date, i.number))]
    nights = sorted(fee_nights or (), key=lambda n: n[:2]) if with_fees else []
    night_at = 0
    allocations: dict[UUID, tuple[AllocationLine, ...]] = {}
    unallocated = zero

    def accrue_before(day: date, at: datetime | None, policy: LateFeePolicy) -> None:
        nonlocal night_at
        while night_at < len(nights) and (at is None or nights[night_at][:2] <= (day, at)):
            on, _, charged = nights[night_at]
            _accrue_night(slots, on, charged, policy)
            night_at += 1

    for payment in in_payment_order(payments):
        if fee_policy is not None:
            accrue_before(payment.paid_on, payment.received_at, fee_policy)
        left = payment.amount
        lines: list[AllocationLine] = []
        for slot in slots:
            if left.is_zero:
                break
            fee = left.min(slot.fee_owed)
            left -= fee
            interest = left.min(slot.interest_owed)
            left -= interest
            principal = left.min(slot.principal_owed)
            left -= principal
            if fee.is_zero and interest.is_zero and principal.is_zero:
                continue
            slot.paid_fee += fee
            slot.paid_interest += interest
            slot.paid_principal += principal
            lines.append(AllocationLine(slot.item.id, fee, interest, principal))
        allocations[payment.id] = tuple(lines)
        unallocated += left
    if fee_policy is not None:
        accrue_before(date.max, None, fee_policy)
    outcome = {
        s.item.id: InstallmentOutcome(
            late_fee=s.fee.max(s.item.late_fee_waived + s.paid_fee),
            paid_late_fee=s.paid_fee,
            paid_interest=s.paid_interest,
            paid_principal=s.paid_principal,
        )
        for s in slots
    }
    return Replayed(allocations, outcome, unallocated)
