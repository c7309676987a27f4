"""Reading credits: the keyset list, a credit's detail, its schedule and its payments.

Mounted at /credits. Ninja serves one path from one router, so `GET /credits` and `POST /credits`
(and the payments pair) must share it or the second method answers 405: the credit writes, in
`api.credits.commands`, are registered on this router at the end of this module.

Scope: a client sees its own credits, an agent its portfolio (credits.agent_id), an admin all.
A credit outside the caller's scope is a 404 exactly like an unknown id (existence never leaks).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from api.credits import commands
from api.deps import services
from api.http.cached import CachedRead, HotRead, cached_bytes, encode, json_response
from api.http.errors import ErrorOut
from api.http.money import MoneyOut, money_dict
from api.http.pagination import PageOut, PageQuery, encode_cursor, page_request
from api.http.read_models import schema_of
from api.http.request_model import RequestModel
from api.http.security import bearer, principal_of
from domain.application.access import Holding, sees
from domain.application.queries import cache as cache_keys
from domain.application.queries.credits import (
    CreditFilter,
    CreditListItem,
    CreditPayment,
    InstallmentRow,
    PaymentAllocationRow,
    PaymentLineRow,
)
from domain.application.queries.viewer import Viewer
from domain.credits.model import CreditState
from domain.identity.model import Principal, Role
from domain.shared.errors import NotFound

router = Router(auth=bearer)
TAGS = ["credits"]
READ_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
LIST_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 422: ErrorOut}


def viewer_of(request: HttpRequest) -> Viewer:
    principal = principal_of(request)
    return Viewer(user_id=principal.user_id, role=principal.role)


def business_today() -> date:
    """The business date (settings.BUSINESS_TIME_ZONE) from the domain clock, never date.today()."""
    return services().ports.clock.today()


def page_body(page: Any, item: Any = None) -> dict[str, Any]:
    """A keyset page's body; without `item` the read models are answered as they are."""
    return {
        "data": [item(x) for x in page.items] if item else list(page.items),
        "next_cursor": encode_cursor(page.next_key),
        "has_more": page.has_more,
    }


# --- schemas -------------------------------------------------------------------------------------


class CreditFilterIn(RequestModel):
    state: CreditState | None = None
    in_default: bool | None = Field(None, description="The nightly delinquency snapshot's flag.")
    user: UUID | None = Field(None, description="A client's public id (agents and admins).")
    opened_from: date | None = None
    opened_to: date | None = None


class CreditListItemOut(Schema):
    id: UUID
    client_id: UUID
    agent_id: UUID | None
    state: str
    currency: str
    price: MoneyOut
    pending: MoneyOut
    installments_count: int
    periodicity: str
    interest_method: str
    opened_on: date
    is_in_default: bool
    days_past_due: int
    next_due_date: date | None


class CreditPage(PageOut[CreditListItemOut]):
    pass


class ScheduleItemOut(Schema):
    id: UUID
    number: int
    due_date: date
    principal: MoneyOut
    interest: MoneyOut
    adjustment: MoneyOut
    amount: MoneyOut = Field(description="principal + adjustment + interest.")
    late_fee: MoneyOut = Field(description="Every late fee charged on the installment.")
    late_fee_waived: MoneyOut
    paid_principal: MoneyOut
    paid_interest: MoneyOut
    paid_late_fee: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut
    status: str = Field(description="paid, overdue, due_today, partial or upcoming.")
    days_past_due: int


class ScheduleOut(Schema):
    data: list[ScheduleItemOut]


class DelinquencyOut(Schema):
    as_of: date | None = Field(description="When the nightly job last computed it (null: not yet).")
    days_past_due: int
    aging_bucket: str
    missed_installments: int
    morosidad_level: int
    is_in_default: bool


class CreditDetailOut(Schema):
    id: UUID
    client_id: UUID
    agent_id: UUID | None
    state: str
    currency: str
    price: MoneyOut
    cost: MoneyOut | None = Field(description="Agents and admins only.")
    earnings: MoneyOut | None = Field(description="price - cost; agents and admins only.")
    allow_loss: bool | None = Field(
        description="Opened as a loss-leader (cost above price asked for explicitly); agents and admins only."
    )
    total_due: MoneyOut
    paid: MoneyOut
    pending: MoneyOut
    overdue: MoneyOut
    next_due_date: date | None
    next_due_amount: MoneyOut | None
    subcategory_id: int | None
    periodicity: str
    interest_method: str
    annual_rate: str
    installments_count: int
    opened_on: date
    refinanced_from_id: UUID | None
    created_at: datetime
    delinquency: DelinquencyOut
    installments: list[ScheduleItemOut]


CreditPaymentLineOut = schema_of(PaymentLineRow, "CreditPaymentLineOut")
CreditPaymentAllocationOut = schema_of(PaymentAllocationRow, "CreditPaymentAllocationOut")
CreditPaymentOut = schema_of(
    CreditPayment,
    "CreditPaymentOut",
    described={
        "allocations": "What the payment pays now, installment by installment (a reversal or a backdated "
        "payment reprocesses the credit's payments in date order; a reversed payment keeps its last)."
    },
    nested={PaymentLineRow: CreditPaymentLineOut, PaymentAllocationRow: CreditPaymentAllocationOut},
)


class CreditPaymentPage(PageOut[CreditPaymentOut]):  # type: ignore[valid-type]  # a schema built from its read model
    pass


# --- serializers ---------------------------------------------------------------------------------


def _list_item(c: CreditListItem) -> dict[str, Any]:
    return {
        "id": c.id,
        "client_id": c.client_id,
        "agent_id": c.agent_id,
        "state": c.state,
        "currency": c.price.currency.code,
        "price": money_dict(c.price),
        "pending": money_dict(c.pending),
        "installments_count": c.installments_count,
        "periodicity": c.periodicity,
        "interest_method": c.interest_method,
        "opened_on": c.opened_on,
        "is_in_default": c.is_in_default,
        "days_past_due": c.days_past_due,
        "next_due_date": c.next_due_date,
    }


def _schedule_item(i: InstallmentRow) -> dict[str, Any]:
    return {
        "id": i.id,
        "number": i.number,
        "due_date": i.due_date,
        "principal": money_dict(i.principal),
        "interest": money_dict(i.interest),
        "adjustment": money_dict(i.adjustment),
        "amount": money_dict(i.amount),
        "late_fee": money_dict(i.late_fee),
        "late_fee_waived": money_dict(i.late_fee_waived),
        "paid_principal": money_dict(i.paid_principal),
        "paid_interest": money_dict(i.paid_interest),
        "paid_late_fee": money_dict(i.paid_late_fee),
        "paid": money_dict(i.paid),
        "outstanding": money_dict(i.outstanding),
        "status": i.status,
        "days_past_due": i.days_past_due,
    }


def _not_found() -> NotFound:
    return NotFound("No such credit.")


# --- endpoints -----------------------------------------------------------------------------------


@router.get("", response={200: CreditPage, **LIST_ERRORS}, tags=TAGS)
def list_credits(request: HttpRequest, page: Query[PageQuery], filters: Query[CreditFilterIn]) -> HttpResponse:
    """Credits newest first (keyset on created_at, id). A client sees its own, an agent its
    portfolio, an admin all; the `user` filter narrows within that scope."""
    result = services().reads.credits.list_credits(
        viewer_of(request),
        CreditFilter(
            state=filters.state.value if filters.state else None,
            in_default=filters.in_default,
            user_public_id=filters.user,
            opened_from=filters.opened_from,
            opened_to=filters.opened_to,
        ),
        page_request(page, 2, "tu"),
    )
    return json_response(page_body(result, _list_item))


@router.get("/{credit_id}", response={200: CreditDetailOut, **READ_ERRORS}, tags=TAGS)
def credit_detail(request: HttpRequest, credit_id: UUID) -> HttpResponse:
    """A credit's figures (as of the business date), delinquency snapshot and installments.
    Cost and earnings are shown to agents and admins only.

    Cached per credit, side (client or staff) and business day, with who may see it; any write to
    the credit invalidates it on commit."""
    viewer = viewer_of(request)
    principal = principal_of(request)
    today = business_today()

    def build() -> bytes:
        detail = _detail_body(viewer, credit_id, today)
        # The owner and agent travel with the bytes so a hit can be authorized without a query.
        head = f"{detail['client_id']}|{detail['agent_id'] or ''}|".encode() if detail else b"||"
        return head + (encode(CreditDetailOut, detail) if detail else b"")

    payload = _detail_answer(principal, cached_bytes(_detail_entry(principal, credit_id, today), build))
    if payload is None:
        raise _not_found()
    return HttpResponse(payload, content_type="application/json")


def _detail_entry(principal: Principal, credit_id: UUID, today: date) -> CachedRead:
    """Per credit, side (client or staff: the seller's figures) and business day."""
    side = "staff" if Viewer(user_id=principal.user_id, role=principal.role).is_staff_side else "client"
    return CachedRead("credit", (cache_keys.credit(credit_id),), f"{credit_id}:{side}:{today}")


def _detail_answer(principal: Principal, stored: bytes) -> bytes | None:
    """The detail for this caller, or None when it may not see the credit (or there is none)."""
    client_id, agent_id, payload = stored.split(b"|", 2)
    holding = Holding(client_id.decode(), agent_id.decode() or None) if payload else None
    if holding is None or not sees(principal.role, str(principal.public_id), holding):
        return None
    return payload


# The same entry and the same check for the early path (api.hot_reads). Django's uuid converter's
# form: the one path that reaches the endpoint (any other spelling is a 404 or a 422 there).
DETAIL = HotRead(
    re.compile(r"/credits/(?P<credit_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"),
    lambda principal, params: _detail_entry(principal, UUID(params["credit_id"]), business_today()),
    _detail_answer,
)


def _detail_body(viewer: Viewer, credit_id: UUID, today: date) -> dict[str, Any] | None:
    # Fetched unscoped: the cached bytes are shared by everyone on this side, and visibility is
    # checked per caller against the owner and agent stored with them.
    d = services().reads.credits.detail(Viewer(user_id=viewer.user_id, role=Role.ADMIN), credit_id, today=today)
    if d is None:
        return None
    seller = viewer.is_staff_side
    snap = d.delinquency
    return {
        "id": d.id,
        "client_id": d.client_id,
        "agent_id": d.agent_id,
        "state": d.state,
        "currency": d.currency,
        "price": money_dict(d.price),
        "cost": money_dict(d.cost) if seller else None,
        "earnings": money_dict(d.earnings) if seller else None,
        "allow_loss": d.allow_loss if seller else None,
        "total_due": money_dict(d.total_due),
        "paid": money_dict(d.paid),
        "pending": money_dict(d.pending),
        "overdue": money_dict(d.overdue),
        "next_due_date": d.next_due_date,
        "next_due_amount": money_dict(d.next_due_amount) if d.next_due_amount else None,
        "subcategory_id": d.subcategory_id,
        "periodicity": d.periodicity,
        "interest_method": d.interest_method,
        "annual_rate": f"{d.annual_rate.normalize():f}",
        "installments_count": d.installments_count,
        "opened_on": d.opened_on,
        "refinanced_from_id": d.refinanced_from_id,
        "created_at": d.created_at,
        "delinquency": {
            "as_of": snap.as_of,
            "days_past_due": snap.days_past_due,
            "aging_bucket": snap.aging_bucket,
            "missed_installments": snap.missed_installments,
            "morosidad_level": snap.morosidad_level,
            "is_in_default": snap.is_in_default,
        },
        "installments": [_schedule_item(i) for i in d.installments],
    }


@router.get("/{credit_id}/installments", response={200: ScheduleOut, **READ_ERRORS}, tags=TAGS)
def credit_installments(request: HttpRequest, credit_id: UUID) -> dict[str, Any]:
    """The schedule: each installment's amounts, what was paid, what is outstanding, its status."""
    rows = services().reads.credits.schedule(viewer_of(request), credit_id, today=business_today())
    if rows is None:
        raise _not_found()
    return {"data": [_schedule_item(i) for i in rows]}


@router.get("/{credit_id}/payments", response={200: CreditPaymentPage, **READ_ERRORS}, tags=TAGS)
def credit_payments(request: HttpRequest, credit_id: UUID, page: Query[PageQuery]) -> dict[str, Any]:
    """The credit's payments, newest first, with their method lines and status (posted, reversed)."""
    result = services().reads.credits.payments(viewer_of(request), credit_id, page_request(page, 2, "du"))
    if result is None:
        raise _not_found()
    return page_body(result)


# The writes of the same paths (open, adjust, write off, refinance, pay) live in commands.py.
commands.register(router)
