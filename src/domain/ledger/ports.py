"""What the ledger use cases need from storage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.ledger.model import Transaction


class TransactionRepository(Protocol):
    def get(self, transaction_id: UUID, *, for_update: bool = False) -> Transaction | None: ...

    def save(self, transaction: Transaction) -> None:
        """Insert a transaction with its postings, or update its status and `reversed_by_id`."""

    def late_fee_nights(self, credit_id: UUID) -> list[date]:
        """The dates late fees were charged on the credit (its late-fee bookings), in any order."""

    def stream(self) -> Iterator[Transaction]:
        """Every transaction, in any order, without loading the book into memory (for the check)."""
