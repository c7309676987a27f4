"""/payments: an admin undoes a payment exactly (a compensating ledger transaction; nothing is
deleted). Payments are registered on their credit (`POST /credits/{id}/payments`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Router

from api.deps import services
from api.http.actor import actor_of
from api.http.commands import ERRORS, IDEMPOTENCY_DOC, TAGS, ReasonIn
from api.http.idempotency import idempotent
from api.http.security import bearer
from api.payments.schemas import PaymentOut, payment_body
from domain.application import use_cases as book

router = Router(tags=TAGS, auth=bearer)


@router.post("/{payment_id}/reversal", response={200: PaymentOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def reverse_payment(request: HttpRequest, payment_id: UUID, body: ReasonIn) -> HttpResponse:
    """Admin: undo a payment exactly (a compensating ledger transaction; nothing is deleted)."""

    def action() -> tuple[int, dict[str, Any]]:
        undone = book.undo_payment(services().ports, payment_id, body.reason, actor_of(request))
        return 200, payment_body(undone.payment, undone.credit_pending)

    return idempotent(request, body.model_dump(), action)
