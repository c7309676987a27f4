"""The book's figures per currency: outstanding, collected, at risk, and the aging buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from domain.shared.aging import AgingBucket
from domain.shared.money import Money


@dataclass(frozen=True, slots=True)
class AgingRow:
    bucket: AgingBucket
    credits: int
    outstanding: Money


@dataclass(frozen=True, slots=True)
class BookFigures:
    currency: str
    credits: int
    open_credits: int
    in_default: int
    outstanding: Money
    collected: Money
    at_risk: Money
    at_risk_ratio: Decimal
    aging: tuple[AgingRow, ...]


class PortfolioReads(Protocol):
    at_risk_after_days: int

    def book(self, *, as_of: date) -> list[BookFigures]: ...
