"""The collectors' work lists: installments due today, tomorrow, overdue, or the whole portfolio."""

from __future__ import annotations

import enum
from datetime import date
from typing import NamedTuple, Protocol
from uuid import UUID

from domain.identity.model import Principal, Role
from domain.identity.ports import PeopleDirectory
from domain.shared.errors import Forbidden, NotFound
from domain.shared.money import Money
from domain.shared.pagination import Page, PageRequest


class WorkList(enum.StrEnum):
    DUE_TODAY = "due-today"
    DUE_TOMORROW = "due-tomorrow"
    OVERDUE = "overdue"
    PORTFOLIO = "portfolio"


class DueItem(NamedTuple):
    """A row of a page of a work list (a named tuple: see the package's note)."""

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


def whose_work_list(caller: Principal, agent: UUID | None, people: PeopleDirectory) -> int | None:
    """The agent whose work list the caller may read (None: every agent's). An agent reads their
    own only; an admin anyone's, named by public id; a client none."""
    if caller.role not in (Role.AGENT, Role.ADMIN):
        raise Forbidden("Your role does not allow this operation.")
    if caller.role is Role.AGENT:
        if agent is not None and agent != caller.public_id:
            raise Forbidden("Agents see their own lists only.")
        return caller.user_id
    if agent is None:
        return None
    person = people.person(agent)
    if person is None or person.role is not Role.AGENT:
        raise NotFound("No such agent.")
    return person.id
