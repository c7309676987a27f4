"""What the credits use cases need from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from domain.credits.model import Credit


class CreditRepository(Protocol):
    def get(self, credit_id: UUID, *, for_update: bool = False) -> Credit | None:
        """The credit with its installments and events; `for_update` locks it until commit."""

    def get_by_installment(self, installment_id: UUID, *, for_update: bool = False) -> Credit | None:
        """The credit owning this installment."""

    def save(self, credit: Credit) -> None:
        """Insert or update the credit and its installments; append its new events.

        Raises domain Conflict if `credit.version` no longer matches the stored row.
        """

    def open_credit_ids(self, *, after: UUID | None, limit: int) -> list[UUID]:
        """Ids of active or defaulted credits in id order, after `after` (keyset chunks for jobs)."""
