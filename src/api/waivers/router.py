"""Late-fee waivers: requested on an installment (/installments/{id}/fee-waivers) and decided by an
admin (/fee-waivers/{id}/decision)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Router

from api.deps import services
from api.http.actor import actor_of
from api.http.commands import ERRORS, IDEMPOTENCY_DOC, TAGS
from api.http.idempotency import idempotent
from api.http.security import bearer
from api.waivers.schemas import DecisionIn, WaiverIn, WaiverOut, waiver_body
from domain.application import use_cases as book

installments_router = Router(tags=TAGS, auth=bearer)
router = Router(tags=TAGS, auth=bearer)


@installments_router.post(
    "/{installment_id}/fee-waivers", response={201: WaiverOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC
)
def waive_fee(request: HttpRequest, installment_id: UUID, body: WaiverIn) -> HttpResponse:
    """An agent requests a waiver (an admin decides later); an admin's waiver applies at once."""
    command = book.RequestWaiver(
        installment_id=installment_id, amount=body.amount.to_money(services().currency), reason=body.reason
    )

    def action() -> tuple[int, dict[str, Any]]:
        return 201, waiver_body(book.waive_or_request(services().ports, command, actor_of(request)))

    return idempotent(request, body.model_dump(), action)


@router.post("/{waiver_id}/decision", response={200: WaiverOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def decide_waiver(request: HttpRequest, waiver_id: UUID, body: DecisionIn) -> HttpResponse:
    """Admin: approve (the fee is waived and booked) or reject (with a note) a requested waiver."""

    def action() -> tuple[int, dict[str, Any]]:
        waiver = book.decide_fee_waiver(
            services().ports, waiver_id, approve=body.approve, note=body.note, actor=actor_of(request)
        )
        return 200, waiver_body(waiver)

    return idempotent(request, body.model_dump(), action)
