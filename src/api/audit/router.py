"""The audit trail, for admins only: every money event, newest first, filtered and keyset-paged."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from api.credits.router import page_body
from api.deps import services
from api.http.cached import json_response
from api.http.errors import ErrorOut
from api.http.money import MoneyOut, money_dict
from api.http.pagination import PageOut, PageQuery, page_request
from api.http.request_model import RequestModel
from api.http.security import bearer, require_role
from domain.application.audit import AuditEvent
from domain.application.queries.audit import AuditFilter, AuditItem
from domain.identity.model import Role
from domain.shared.errors import InvalidInput

router = Router(tags=["audit"], auth=bearer)


class AuditFilterIn(RequestModel):
    credit: UUID | None = Field(None, description="Only this credit's records.")
    actor: str | None = Field(
        None, max_length=36, description="The actor's public id, or `system` for what no person did."
    )
    event: AuditEvent | None = None
    date_from: datetime | None = Field(None, alias="from", description="From this instant (inclusive).")
    date_to: datetime | None = Field(None, alias="to", description="Up to this instant (exclusive).")


class ChangeOut(Schema):
    before: str | None
    after: str | None


class AuditOut(Schema):
    id: int
    at: datetime = Field(description="Server time (UTC) of the change.")
    event: str
    actor_id: UUID | None = Field(description="The actor's public id; null for the system.")
    actor_username: str
    actor_role: str
    source: str = Field(description="Channel: web, mobile, admin, import or system.")
    ip: str | None
    user_agent: str
    request_id: str
    credit_id: UUID | None
    reference_id: UUID | None = Field(description="The payment, waiver or new credit the event is about.")
    amount: MoneyOut | None
    changes: dict[str, ChangeOut] = Field(description="The credit's figures that changed: state, pending, paid, due.")
    details: dict[str, str]


class AuditPage(PageOut[AuditOut]):
    pass


def _changes(item: AuditItem) -> dict[str, dict[str, str | None]]:
    before, after = item.before or {}, item.after or {}
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in ("state", "pending", "paid", "due")
        if before.get(name) != after.get(name)
    }


def _item(item: AuditItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "at": item.at,
        "event": item.event,
        "actor_id": item.actor_id,
        "actor_username": item.actor_username or "",
        "actor_role": item.actor_role,
        "source": item.source,
        "ip": item.ip,
        "user_agent": item.user_agent,
        "request_id": item.request_id,
        "credit_id": item.credit_id,
        "reference_id": item.reference_id,
        "amount": money_dict(item.amount) if item.amount is not None else None,
        "changes": _changes(item),
        "details": {k: str(v) for k, v in item.details.items()},
    }


def _filter(filters: AuditFilterIn) -> AuditFilter:
    actor: UUID | None = None
    system = filters.actor == "system"
    if filters.actor and not system:
        try:
            actor = UUID(filters.actor)
        except ValueError:
            raise InvalidInput("`actor` is a user's public id or `system`.", details={"actor": filters.actor}) from None
    if filters.date_from and filters.date_to and filters.date_to <= filters.date_from:
        raise InvalidInput("`to` must be after `from`.")
    for value in (filters.date_from, filters.date_to):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("Give `from` and `to` with a time zone, e.g. 2026-01-31T00:00:00Z.")
    return AuditFilter(
        credit_id=filters.credit,
        actor=actor,
        system_only=system,
        event=filters.event.value if filters.event else None,
        since=filters.date_from,
        until=filters.date_to,
    )


@router.get("", response={200: AuditPage, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut})
def list_audit(request: HttpRequest, page: Query[PageQuery], filters: Query[AuditFilterIn]) -> HttpResponse:
    """Admin: the append-only audit trail of money events (who, when, from where, what changed),
    newest first (keyset on at, id)."""
    require_role(request, Role.ADMIN)
    result = services().audit.list(_filter(filters), page_request(page, 2, "ti"))
    return json_response(page_body(result, _item))
