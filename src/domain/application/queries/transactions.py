"""Reading the ledger's transactions, scoped to what the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple, Protocol
from uuid import UUID

from domain.application.queries.viewer import Viewer
from domain.shared.money import Money
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    date_from: date
    date_to: date
    type: str | None = None
    status: str | None = None
    credit_id: UUID | None = None


class TransactionItem(NamedTuple):
    """A row of a page of transactions (a named tuple: see the package's note)."""

    id: UUID
    occurred_on: date
    type: str
    status: str
    source: str
    user_id: UUID | None
    agent_id: UUID | None
    credit_id: UUID | None
    reference_id: UUID | None
    reverses_id: UUID | None
    reversed_by_id: UUID | None
    memo: str
    recorded_at: datetime
    # The sum of the debit postings (every booking is in one currency: its credit's).
    amount: Money | None


class TransactionReads(Protocol):
    def list_transactions(
        self, viewer: Viewer, filters: TransactionFilter, page: PageRequest
    ) -> Page[TransactionItem]: ...
