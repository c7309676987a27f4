"""Payments and fee waivers.

A Payment is a received amount split over one or more payment methods (cash box, bank account,
wallet: the seed's AccountMethodAmount lines), taken by an agent on a date under an idempotency
key. It carries the allocation lines the waterfall produced, so a reversal can take exactly those
amounts back out, and the credit state it found (`credit_state_before`, an opaque string to this
context) so the credit can be restored exactly. Nothing is deleted: a reversal is recorded on the
payment and as a compensating ledger transaction.

A FeeWaiver is requested (an agent, with a reason) and decided (an admin approves or rejects);
an admin may also grant one directly (requested and approved at once).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from domain.payments.allocation import AllocationLine
from domain.payments.errors import PaymentAlreadyReversed
from domain.shared.errors import InvalidInput, WaiverRefused
from domain.shared.money import Money

MAX_IDEMPOTENCY_KEY = 255


class PaymentStatus(enum.StrEnum):
    POSTED = "posted"
    REVERSED = "reversed"


@dataclass(frozen=True, slots=True)
class MethodLine:
    """The part of a payment received through one payment account/method."""

    account_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class PaymentReversal:
    transaction_id: UUID
    reversed_at: datetime
    reason: str
    reversed_by: int | None


@dataclass(slots=True)
class Payment:
    id: UUID
    credit_id: UUID
    user_id: int
    agent_id: int | None
    amount: Money
    paid_on: date
    received_at: datetime
    idempotency_key: str
    method_lines: tuple[MethodLine, ...]
    allocations: tuple[AllocationLine, ...]
    prepay: bool
    credit_state_before: str
    transaction_id: UUID
    status: PaymentStatus = PaymentStatus.POSTED
    reversal: PaymentReversal | None = None

    @staticmethod
    def validate_request(amount: Money, method_lines: Sequence[MethodLine], idempotency_key: str) -> None:
        """The rules of form of a payment request (checked before anything is allocated)."""
        if not amount.is_positive:
            raise InvalidInput("A payment must be positive.")
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidInput(f"An idempotency key of 1 to {MAX_IDEMPOTENCY_KEY} characters is required.")
        if not method_lines:
            raise InvalidInput("A payment needs at least one payment-method line.")
        running = Money.zero(amount.currency)
        for line in method_lines:
            if line.amount.currency != amount.currency:
                raise InvalidInput("Every payment-method line must be in the payment's currency.")
            if not line.amount.is_positive:
                raise InvalidInput("Every payment-method line must be positive.")
            running += line.amount
        if running != amount:
            raise InvalidInput(
                "The payment-method lines must add up to the payment's amount.",
                details={"amount": str(amount), "lines_total": str(running)},
            )

    def matches(
        self,
        *,
        credit_id: UUID,
        amount: Money,
        method_lines: Sequence[MethodLine],
        paid_on: date,
        prepay: bool,
    ) -> bool:
        """Whether a retried request is the same payment (idempotent replay) or another one."""
        return (
            self.credit_id == credit_id
            and self.amount == amount
            and self.method_lines == tuple(method_lines)
            and self.paid_on == paid_on
            and self.prepay == prepay
        )

    @property
    def is_reversed(self) -> bool:
        return self.status is PaymentStatus.REVERSED

    def reallocate(self, lines: tuple[AllocationLine, ...]) -> None:
        """A reprocessing moved this payment's money to other installments or components."""
        if self.is_reversed:
            raise PaymentAlreadyReversed("A reversed payment is not reallocated.", details={"payment_id": str(self.id)})
        if sum((line.amount.amount for line in lines), Decimal(0)) != self.amount.amount:
            raise InvalidInput("A payment's allocation must add up to its amount.")
        self.allocations = lines

    def reverse(self, *, transaction_id: UUID, at: datetime, reason: str, by: int | None) -> None:
        if self.is_reversed:
            raise PaymentAlreadyReversed("This payment was already reversed.", details={"payment_id": str(self.id)})
        if not reason or not reason.strip():
            raise InvalidInput("A reversal needs a reason.")
        self.status = PaymentStatus.REVERSED
        self.reversal = PaymentReversal(transaction_id, at, reason, by)


class WaiverStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(slots=True)
class FeeWaiver:
    id: UUID
    credit_id: UUID
    installment_id: UUID
    amount: Money
    reason: str
    requested_by: int
    requested_at: datetime
    status: WaiverStatus = WaiverStatus.REQUESTED
    decided_by: int | None = None
    decided_at: datetime | None = None
    decision_note: str = ""
    transaction_id: UUID | None = None

    @classmethod
    def request(
        cls,
        *,
        id: UUID,
        credit_id: UUID,
        installment_id: UUID,
        amount: Money,
        reason: str,
        requested_by: int,
        at: datetime,
    ) -> FeeWaiver:
        if not reason or not reason.strip():
            raise InvalidInput("A fee waiver needs a reason.")
        if not amount.is_positive:
            raise InvalidInput("A fee waiver must be positive.")
        return cls(id, credit_id, installment_id, amount, reason.strip(), requested_by, at)

    def _decide(self, status: WaiverStatus, by: int, at: datetime, note: str) -> None:
        if self.status is not WaiverStatus.REQUESTED:
            raise WaiverRefused(f"This waiver was already {self.status}.", details={"waiver_id": str(self.id)})
        self.status = status
        self.decided_by = by
        self.decided_at = at
        self.decision_note = note

    def approve(self, *, by: int, at: datetime, transaction_id: UUID, note: str = "") -> None:
        self._decide(WaiverStatus.APPROVED, by, at, note)
        self.transaction_id = transaction_id

    def reject(self, *, by: int, at: datetime, note: str) -> None:
        if not note or not note.strip():
            raise InvalidInput("A rejection needs a note.")
        self._decide(WaiverStatus.REJECTED, by, at, note)
