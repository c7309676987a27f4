"""The allocation waterfall: how a payment is spread over a credit's installments.

Oldest installment first (by due date, then number); within an installment late fee → interest →
principal. A partial payment leaves the last installment it reaches partly paid.

What may be paid without prepayment is "what is due now", counted over the whole credit, not per
request: everything the installments due on or before the payment date ask for (principal as
adjusted, interest, late fees charged less waived), plus the installment in progress (the first
one due after the date: a client may always pay it, even a day early), less everything already
paid on the credit. Five payments in a row therefore cannot each pay the "next" installment: once
the current installment is paid, the next one becomes payable only when its turn comes (its
predecessor's due date passes), or with prepayment. More than that is an overpayment and refused
unless `prepay` is asked; then the surplus covers the following installments in order, as
scheduled (no interest rebate; a negative adjustment can grant one). More than the whole
outstanding balance is always refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.payments.errors import OverpaymentRefused
from domain.shared.errors import InvalidInput
from domain.shared.money import Currency, Money, total


class DueItem(Protocol):
    """The view of an installment the waterfall needs (the credits' Installment fits it)."""

    @property
    def id(self) -> UUID: ...

    @property
    def number(self) -> int: ...

    @property
    def due_date(self) -> date: ...

    @property
    def late_fee_outstanding(self) -> Money: ...

    @property
    def interest_outstanding(self) -> Money: ...

    @property
    def principal_outstanding(self) -> Money: ...

    @property
    def paid(self) -> Money: ...


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """The part of one payment that went to one installment, per component."""

    installment_id: UUID
    late_fee: Money
    interest: Money
    principal: Money

    @property
    def amount(self) -> Money:
        return self.late_fee + self.interest + self.principal


def _owed(item: DueItem) -> Money:
    return item.late_fee_outstanding + item.interest_outstanding + item.principal_outstanding


def _in_order(items: Sequence[DueItem]) -> list[DueItem]:
    return sorted((i for i in items if _owed(i).is_positive), key=lambda i: (i.due_date, i.number))


def due_now(items: Sequence[DueItem], as_of: date, currency: Currency, *, paid: Money | None = None) -> Money:
    """What may be paid on `as_of` without prepayment (see the module docstring).

    `paid` is what was paid on the credit before this payment, when that is not what the
    installments show (a backdated payment counts only the payments made before it).
    """
    schedule = sorted(items, key=lambda i: (i.due_date, i.number))
    due = [i for i in schedule if i.due_date <= as_of]
    in_progress = [i for i in schedule if i.due_date > as_of][:1]
    asked = total((_owed(i) + i.paid for i in due + in_progress), currency)
    if paid is None:
        paid = total((i.paid for i in schedule), currency)
    return (asked - paid).max(Money.zero(currency))


def refuse_beyond_due_now(amount: Money, payable: Money) -> None:
    if amount > payable:
        raise OverpaymentRefused(
            "The payment is more than what is due now; ask for prepayment to cover later installments.",
            details={"due_now": str(payable), "amount": str(amount)},
        )


def allocate_payment(
    amount: Money, items: Sequence[DueItem], *, as_of: date, prepay: bool = False
) -> tuple[AllocationLine, ...]:
    """Spread `amount` over `items`; the lines' amounts always sum to `amount` exactly."""
    if not amount.is_positive:
        raise InvalidInput("A payment must be positive.")
    currency = amount.currency
    open_items = _in_order(items)
    balance = total((_owed(i) for i in open_items), currency)
    if amount > balance:
        raise OverpaymentRefused(
            "The payment is more than the credit's outstanding balance.",
            details={"outstanding": str(balance), "amount": str(amount)},
        )
    if not prepay:
        refuse_beyond_due_now(amount, due_now(items, as_of, currency))
    left = amount
    lines: list[AllocationLine] = []
    for item in open_items:
        if left.is_zero:
            break
        fee = left.min(item.late_fee_outstanding)
        left -= fee
        interest = left.min(item.interest_outstanding)
        left -= interest
        principal = left.min(item.principal_outstanding)
        left -= principal
        lines.append(AllocationLine(item.id, fee, interest, principal))
    return tuple(lines)
