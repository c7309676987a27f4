"""The collectors' work lists: installments due today, tomorrow, overdue, or the whole portfolio."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.shared.money import Money
from domain.shared.pagination import Page, PageRequest


class WorkList(enum.StrEnum):
    DUE_TODAY = "due-today"
    DUE_TOMORROW = "due-tomorrow"
    OVERDUE = "overdue"
    PORTFOLIO = "portfolio"


@dataclass(frozen=True, slots=True)
class DueItem:
    installment_id: UUID
    credit_id: UUID
    number: int
    due_date: date
    outstanding: Money
    days_past_due: int
    client_id: UUID
    client_username: str
    client_name: str
    client_phone: str


class CollectionReads(Protocol):
    def work_list(self, kind: WorkList, *, agent_id: int | None, today: date, page: PageRequest) -> Page[DueItem]: ...
