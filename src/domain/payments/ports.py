"""What the payments use cases need from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from domain.payments.model import FeeWaiver, Payment
from domain.shared.later import Later
from domain.shared.money import Currency


class PaymentRepository(Protocol):
    def get(self, payment_id: UUID, *, for_update: bool = False) -> Payment | None: ...

    def get_by_idempotency_key(self, key: str) -> Payment | None:
        """Keys are unique across payments (a unique index in the database)."""

    def posted_for_credit(self, credit_id: UUID) -> list[Payment]:
        """The credit's payments that stand (not reversed), in any order, with their allocations."""

    def save(self, payment: Payment) -> None:
        """Insert the payment with its method and allocation lines, or update its status/reversal
        and, when a reprocessing changed it, its allocation lines."""


class FeeWaiverRepository(Protocol):
    def get(self, waiver_id: UUID, *, for_update: bool = False) -> FeeWaiver | None: ...

    def save(self, waiver: FeeWaiver) -> None: ...


class PaymentAccounts(Protocol):
    """The payment accounts (cash drawers, bank accounts) money may be taken into."""

    def usable(self, account_ids: set[int], currency: Currency) -> Later[set[int]]:
        """Of these ids, the accounts that exist, are active and hold `currency`: asked ahead, so the
        question can travel with the credit's lock."""
