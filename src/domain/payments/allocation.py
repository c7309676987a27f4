"""The allocation waterfall: how a payment is spread over a credit's installments.

Oldest installment first (by due date, then number); within an installment late fee → interest →
principal. A partial payment leaves the last installment it reaches partly paid.

What may be paid without prepayment is "what is due now": everything outstanding on installments
due on or before the payment date, plus the next installment (the current one: a client may
always pay the installment in progress, even a day early). More than that is an overpayment and
refused unless `prepay` is asked; then the surplus covers the following installments in order,
as scheduled (no interest rebate; a negative adjustment can grant one). More than the whole
outstanding balance is always refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.shared.errors import InvalidInput, OverpaymentRefused
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


def due_now(items: Sequence[DueItem], as_of: date, currency: Currency) -> Money:
    """What may be paid on `as_of` without prepayment (see the module docstring)."""
    open_items = _in_order(items)
    due = [i for i in open_items if i.due_date <= as_of]
    upcoming = [i for i in open_items if i.due_date > as_of][:1]
    return total((_owed(i) for i in due + upcoming), currency)


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
        payable = due_now(items, as_of, currency)
        if amount > payable:
            raise OverpaymentRefused(
                "The payment is more than what is due now; ask for prepayment to cover later installments.",
                details={"due_now": str(payable), "amount": str(amount)},
            )
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
