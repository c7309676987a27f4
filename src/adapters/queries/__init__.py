"""Query ports of the read side: raw SQL through `read_cursor()` (a replica, or the primary inside a
unit of work or after the caller's own write: adapters/db/routing.py) into frozen DTOs.

No model instances and no ORM query building on these hot paths (see ARCHITECTURE.md's
performance notes); every list is keyset-paginated with a constant number of statements whatever
its length, and every statement applies the caller's scope in its WHERE clause.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.queries.clients import ClientDirectory
from adapters.queries.collections import CollectionsQueries
from adapters.queries.credits import CreditQueries
from adapters.queries.figures import SqlCreditFigures, SummaryQueries
from adapters.queries.portfolio import PortfolioQueries
from adapters.queries.transactions import TransactionQueries
from domain.credits.delinquency import DelinquencyPolicy


@dataclass(frozen=True, slots=True)
class ReadQueries:
    credits: CreditQueries
    transactions: TransactionQueries
    figures: SqlCreditFigures
    summaries: SummaryQueries
    collections: CollectionsQueries
    clients: ClientDirectory
    portfolio: PortfolioQueries

    @classmethod
    def build(cls, delinquency: DelinquencyPolicy) -> ReadQueries:
        figures = SqlCreditFigures(delinquency)
        return cls(
            credits=CreditQueries(),
            transactions=TransactionQueries(),
            figures=figures,
            summaries=SummaryQueries(figures),
            collections=CollectionsQueries(),
            clients=ClientDirectory(),
            portfolio=PortfolioQueries(delinquency),
        )
