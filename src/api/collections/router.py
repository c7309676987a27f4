"""An agent's work lists: due today, due tomorrow, overdue, and its whole open portfolio.

Agents get their own lists; admins may pass `?agent=<public id>` (without it: the whole book).
Clients are refused (403): these are staff screens. "Today" is the business date.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from api.credits.router import business_today, page_body
from api.deps import services
from api.http.cached import json_response
from api.http.errors import ErrorOut
from api.http.money import MoneyOut, money_dict
from api.http.pagination import PageOut, PageQuery, page_request
from api.http.request_model import RequestModel
from api.http.security import bearer, principal_of
from domain.application.queries.collections import DueItem, WorkList, whose_work_list

router = Router(tags=["collections"], auth=bearer)

ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class AgentFilterIn(RequestModel):
    agent: UUID | None = Field(None, description="Admins only: the agent whose list to show.")


class DueItemOut(Schema):
    installment_id: UUID
    credit_id: UUID
    number: int
    due_date: date
    outstanding: MoneyOut
    days_past_due: int
    client_id: UUID
    client_username: str
    client_name: str
    client_phone: str


class DueItemPage(PageOut[DueItemOut]):
    pass


def _item(d: DueItem) -> dict[str, Any]:
    return {
        "installment_id": d.installment_id,
        "credit_id": d.credit_id,
        "number": d.number,
        "due_date": d.due_date,
        "outstanding": money_dict(d.outstanding),
        "days_past_due": d.days_past_due,
        "client_id": d.client_id,
        "client_username": d.client_username,
        "client_name": d.client_name,
        "client_phone": d.client_phone,
    }


def _work_list(request: HttpRequest, kind: WorkList, page: PageQuery, agent: UUID | None) -> HttpResponse:
    agent_id = whose_work_list(principal_of(request), agent, services().ports.people)
    result = services().reads.collections.work_list(
        kind, agent_id=agent_id, today=business_today(), page=page_request(page, 2, "du")
    )
    return json_response(page_body(result, _item))


@router.get("/due-today", response={200: DueItemPage, **ERRORS})
def due_today(request: HttpRequest, page: Query[PageQuery], filters: Query[AgentFilterIn]) -> HttpResponse:
    """Unsettled installments of open credits falling due on the business date."""
    return _work_list(request, WorkList.DUE_TODAY, page, filters.agent)


@router.get("/due-tomorrow", response={200: DueItemPage, **ERRORS})
def due_tomorrow(request: HttpRequest, page: Query[PageQuery], filters: Query[AgentFilterIn]) -> HttpResponse:
    """Unsettled installments of open credits falling due the day after the business date."""
    return _work_list(request, WorkList.DUE_TOMORROW, page, filters.agent)


@router.get("/overdue", response={200: DueItemPage, **ERRORS})
def overdue(request: HttpRequest, page: Query[PageQuery], filters: Query[AgentFilterIn]) -> HttpResponse:
    """Unsettled installments past their due date, most overdue first."""
    return _work_list(request, WorkList.OVERDUE, page, filters.agent)


@router.get("/portfolio", response={200: DueItemPage, **ERRORS})
def portfolio(request: HttpRequest, page: Query[PageQuery], filters: Query[AgentFilterIn]) -> HttpResponse:
    """Every unsettled installment of the agent's open credits, by due date."""
    return _work_list(request, WorkList.PORTFOLIO, page, filters.agent)
