"""Query ports for the read models: adapters answer them with lean SQL (no aggregates)."""

from __future__ import annotations

from datetime import date
from typing import Protocol
from uuid import UUID

from domain.analytics.model import BookChunk, CreditFigures, DueInstallment, GroupedChunk


class CreditFiguresQuery(Protocol):
    def for_user(self, user_id: int, as_of: date) -> list[CreditFigures]: ...

    def chunk(self, *, after: UUID | None, limit: int, as_of: date) -> list[CreditFigures]:
        """Credits in id order after `after` (keyset: constant cost at any depth)."""

    def count(self) -> int: ...


class BookFiguresQuery(Protocol):
    """The whole book for the portfolio analysis, walked by key and grouped where the data is."""

    def next_chunk(self, *, after: UUID | None, limit: int) -> BookChunk | None:
        """The next `limit` credits in id order after `after` (None: none left)."""

    def grouped(self, chunk: BookChunk, *, as_of: date, top: int) -> GroupedChunk:
        """The chunk's credits summed into groups, with their own `top` debtors per currency."""

    def count(self) -> int: ...


class CollectionsQuery(Protocol):
    def unsettled_for_agent(self, agent_id: int, *, due_until: date) -> list[DueInstallment]:
        """The agent's unsettled installments due on or before `due_until`."""
