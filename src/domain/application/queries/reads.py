"""The read side the API is handed: one query port per area."""

from __future__ import annotations

from typing import Protocol

from domain.application.queries.clients import ClientReads
from domain.application.queries.collections import CollectionReads
from domain.application.queries.credits import CreditReads
from domain.application.queries.portfolio import PortfolioReads
from domain.application.queries.summaries import SummaryReads
from domain.application.queries.transactions import TransactionReads


class Reads(Protocol):
    @property
    def credits(self) -> CreditReads: ...

    @property
    def transactions(self) -> TransactionReads: ...

    @property
    def summaries(self) -> SummaryReads: ...

    @property
    def collections(self) -> CollectionReads: ...

    @property
    def clients(self) -> ClientReads: ...

    @property
    def portfolio(self) -> PortfolioReads: ...
