"""What the ledger use cases need from storage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from domain.ledger.model import Transaction
from domain.shared.money import Money


class TransactionRepository(Protocol):
    def get(self, transaction_id: UUID, *, for_update: bool = False) -> Transaction | None: ...

    def save(self, transaction: Transaction) -> None:
        """Insert a transaction with its postings, or update its status and `reversed_by_id`."""

    def late_fee_nights(self, credit_id: UUID) -> list[tuple[date, datetime, Money]]:
        """The credit's late-fee bookings: each one's date, booking time and amount."""

    def stream(self) -> Iterator[Transaction]:
        """Every transaction, in any order, without loading the book into memory (for the check)."""
