"""The ledger's transactions as a keyset list over a bounded date range (partition-pruned)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from api.credits.router import business_today, page_body, viewer_of
from api.deps import services
from api.http.cached import json_response
from api.http.errors import ErrorOut
from api.http.money import MoneyOut, money_dict
from api.http.pagination import PageOut, PageQuery, page_request
from api.http.request_model import RequestModel
from api.http.security import bearer
from domain.application.queries.transactions import TransactionFilter, TransactionItem
from domain.ledger.model import TransactionStatus, TransactionType
from domain.shared.errors import InvalidInput

router = Router(tags=["transactions"], auth=bearer)

MAX_RANGE_DAYS = 366


class TransactionFilterIn(RequestModel):
    date_from: date | None = Field(
        None, alias="from", description="First business date (default: the first of `to`'s month)."
    )
    date_to: date | None = Field(None, alias="to", description="Last business date (default: today).")
    type: TransactionType | None = None
    status: TransactionStatus | None = None
    credit: UUID | None = Field(None, description="Only this credit's transactions.")


class TransactionOut(Schema):
    id: UUID
    occurred_on: date
    type: str
    status: str
    source: str
    user_id: UUID | None = Field(description="The client's public id.")
    agent_id: UUID | None = Field(description="Public id of who booked it (null for system jobs).")
    credit_id: UUID | None
    reference_id: UUID | None
    reverses_id: UUID | None
    reversed_by_id: UUID | None
    memo: str
    recorded_at: datetime
    amount: MoneyOut | None = Field(description="The sum of the transaction's debit postings.")


class TransactionPage(PageOut[TransactionOut]):
    pass


def date_range(date_from: date | None, date_to: date | None, today: date) -> tuple[date, date]:
    """Both ends inclusive; by default the current month up to today. At most 366 days, so every
    query reads a bounded number of monthly partitions."""
    end = date_to or (today if date_from is None else min(today, date_from + timedelta(days=MAX_RANGE_DAYS - 1)))
    start = date_from or end.replace(day=1)
    if end < start:
        raise InvalidInput("`from` must not be after `to`.", details={"from": str(start), "to": str(end)})
    if (end - start).days >= MAX_RANGE_DAYS:
        raise InvalidInput(
            f"The date range may span at most {MAX_RANGE_DAYS} days.", details={"from": str(start), "to": str(end)}
        )
    return start, end


def _item(t: TransactionItem) -> dict[str, Any]:
    return {
        "id": t.id,
        "occurred_on": t.occurred_on,
        "type": t.type,
        "status": t.status,
        "source": t.source,
        "user_id": t.user_id,
        "agent_id": t.agent_id,
        "credit_id": t.credit_id,
        "reference_id": t.reference_id,
        "reverses_id": t.reverses_id,
        "reversed_by_id": t.reversed_by_id,
        "memo": t.memo,
        "recorded_at": t.recorded_at,
        "amount": money_dict(t.amount) if t.amount is not None else None,
    }


@router.get("", response={200: TransactionPage, 401: ErrorOut, 422: ErrorOut})
def list_transactions(
    request: HttpRequest, page: Query[PageQuery], filters: Query[TransactionFilterIn]
) -> HttpResponse:
    """Newest first (keyset on occurred_on, id) within [from, to]. A client sees the transactions
    of its credits, an agent the ones it booked, an admin all."""
    start, end = date_range(filters.date_from, filters.date_to, business_today())
    result = services().reads.transactions.list_transactions(
        viewer_of(request),
        TransactionFilter(
            date_from=start,
            date_to=end,
            type=filters.type.value if filters.type else None,
            status=filters.status.value if filters.status else None,
            credit_id=filters.credit,
        ),
        page_request(page, 2, "du"),
    )
    return json_response(page_body(result, _item))
