"""The write side of the book: open credits, register and reverse payments, adjust, write off,
refinance, waive late fees. Each call is one domain use case; each moves money under an
Idempotency-Key; what the caller may not see is a 404."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Router

from adapters.orm.audit.origin import origin_of
from api.book_schemas import (
    AdjustmentIn,
    CreditOut,
    DecisionIn,
    OpenCreditIn,
    PaymentIn,
    PaymentOut,
    ReasonIn,
    RefinanceIn,
    RefinanceOut,
    WaiverIn,
    WaiverOut,
    credit_body,
    decimal_rate,
    payment_body,
    refinance_body,
    waiver_body,
)
from api.deps import services
from api.http.errors import ErrorOut
from api.http.security import bearer, principal_of, require_role
from api.idempotency import idempotent
from domain.application import services as book
from domain.application.ports import Actor
from domain.identity.model import Principal, Role
from domain.ledger.model import Source
from domain.payments.model import MethodLine
from domain.shared.errors import Forbidden, InvalidInput, NotFound

router = Router(tags=["book"], auth=bearer)

ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "maxLength": 128},
            "description": "Unique per operation: a retry with the same key and body replays the first response.",
        }
    ]
}


def _actor(principal: Principal, request: HttpRequest) -> Actor:
    source = Source.MOBILE if request.headers.get("X-Client", "").lower() == "mobile" else Source.WEB
    return Actor(user_id=principal.user_id, source=source, origin=origin_of(request), role=principal.role.value)


def _may_see(principal: Principal, scope: Any) -> bool:
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.AGENT:
        return scope.agent_id == principal.user_id
    return scope.user_id == principal.user_id


def _visible(principal: Principal, scope: Any, what: str) -> Any:
    if scope is None or not _may_see(principal, scope):
        raise NotFound(f"No such {what}.")
    return scope


# --- credits -------------------------------------------------------------------------------------


@router.post("/credits", response={201: CreditOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def open_credit(request: HttpRequest, body: OpenCreditIn) -> HttpResponse:
    """Open a credit for a client with its schedule; it is disbursed (active) at once."""
    principal = require_role(request, Role.AGENT, Role.ADMIN)
    svc = services()
    client = svc.access.user(body.client_id)
    if client is None or client.role != Role.CLIENT.value or not client.is_active:
        raise NotFound("No such client.", details={"client_id": str(body.client_id)})
    agent_id: int | None = principal.user_id
    if body.agent_id is not None:
        if principal.role is not Role.ADMIN:
            raise Forbidden("Only an admin assigns a credit to another agent.")
        agent = svc.access.user(body.agent_id)
        if agent is None or agent.role != Role.AGENT.value or not agent.is_active:
            raise NotFound("No such agent.", details={"agent_id": str(body.agent_id)})
        agent_id = agent.id
    elif principal.role is Role.ADMIN:
        agent_id = None
    if body.subcategory_id is not None and not svc.access.subcategory_exists(body.subcategory_id):
        raise NotFound("No such subcategory.", details={"subcategory_id": body.subcategory_id})
    price, cost = body.price.to_money(), body.cost.to_money()
    if cost.currency != price.currency:
        raise InvalidInput("Price and cost must be in the same currency.")
    periodicity = next(p for p in svc.catalog_queries.periodicities() if p.code == body.periodicity.value)
    command = book.OpenCredit(
        user_id=client.id,
        agent_id=agent_id,
        price=price,
        cost=cost,
        subcategory_id=body.subcategory_id,
        periodicity=body.periodicity,
        installments=body.installments,
        first_due_date=body.first_due_date,
        method=body.interest_method,
        annual_rate=decimal_rate(body.annual_rate),
        skip_sundays=periodicity.skip_sundays,
        skip_holidays=periodicity.skip_holidays,
        allow_loss=body.allow_loss,
    )

    def action() -> tuple[int, dict[str, Any]]:
        credit = book.open_credit(svc.ports, command, _actor(principal, request))
        return 201, credit_body(credit)

    return idempotent(request, body.dict(), action)


def _admin_credit_command(request: HttpRequest, credit_id: UUID) -> tuple[Principal, Any]:
    principal = principal_of(request)
    scope = _visible(principal, services().access.credit(credit_id), "credit")
    require_role(request, Role.ADMIN)
    return principal, scope


@router.post("/credits/{credit_id}/adjustments", response={200: CreditOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def adjust_credit(request: HttpRequest, credit_id: UUID, body: AdjustmentIn) -> HttpResponse:
    """Admin: raise or lower what is owed, with a reason (recorded as an event and booked)."""
    principal, _ = _admin_credit_command(request, credit_id)
    amount = body.amount.to_money()

    def action() -> tuple[int, dict[str, Any]]:
        credit = book.adjust_credit(services().ports, credit_id, amount, body.reason, _actor(principal, request))
        return 200, credit_body(credit)

    return idempotent(request, body.dict(), action)


@router.post("/credits/{credit_id}/write-off", response={200: CreditOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def write_off_credit(request: HttpRequest, credit_id: UUID, body: ReasonIn) -> HttpResponse:
    """Admin: give up on the outstanding balance (booked as a write-off expense)."""
    principal, _ = _admin_credit_command(request, credit_id)

    def action() -> tuple[int, dict[str, Any]]:
        credit = book.write_off_credit(services().ports, credit_id, body.reason, _actor(principal, request))
        return 200, credit_body(credit)

    return idempotent(request, body.dict(), action)


@router.post("/credits/{credit_id}/refinance", response={201: RefinanceOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def refinance_credit(request: HttpRequest, credit_id: UUID, body: RefinanceIn) -> HttpResponse:
    """Admin: close the credit today into a new one; returns the new credit and what it carried.

    The new principal is what is owed today: outstanding principal + interest earned to today
    (past periods, the current one by days elapsed) + late fees not waived or paid; interest of
    time not yet elapsed is not carried (see `refinanced_from`)."""
    principal, _ = _admin_credit_command(request, credit_id)
    periodicity = next(p for p in services().catalog_queries.periodicities() if p.code == body.periodicity.value)
    command = book.Refinance(
        credit_id=credit_id,
        installments=body.installments,
        periodicity=body.periodicity,
        first_due_date=body.first_due_date,
        method=body.interest_method,
        annual_rate=decimal_rate(body.annual_rate),
        reason=body.reason,
        skip_sundays=periodicity.skip_sundays,
        skip_holidays=periodicity.skip_holidays,
    )

    def action() -> tuple[int, dict[str, Any]]:
        done = book.refinance_credit(services().ports, command, _actor(principal, request))
        return 201, refinance_body(done.credit, done.balance)

    return idempotent(request, body.dict(), action)


# --- payments ------------------------------------------------------------------------------------


@router.post("/credits/{credit_id}/payments", response={201: PaymentOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def register_payment(request: HttpRequest, credit_id: UUID, body: PaymentIn) -> HttpResponse:
    """Agent or admin: register a payment split over payment methods, allocated oldest installment first
    (late fee, interest, principal). More than is due now needs `prepay`."""
    principal = principal_of(request)
    svc = services()
    scope = _visible(principal, svc.access.credit(credit_id), "credit")
    require_role(request, Role.AGENT, Role.ADMIN)
    amount = body.amount.to_money()
    lines = tuple(MethodLine(line.payment_account_id, line.amount.to_money()) for line in body.lines)
    wanted = {line.account_id for line in lines}
    usable = svc.access.usable_payment_accounts(wanted, scope.currency)
    if usable != wanted:
        raise NotFound(
            "Unknown, inactive or other-currency payment account.",
            details={"payment_account_ids": sorted(wanted - usable)},
        )
    key = request.headers.get("Idempotency-Key", "").strip()
    command = book.RegisterPayment(
        credit_id=credit_id,
        amount=amount,
        method_lines=lines,
        # Domain keys are unique across payments; scoping them by caller keeps callers apart.
        idempotency_key=f"{principal.user_id}:{key}",
        paid_on=body.paid_on,
        prepay=body.prepay,
    )

    def action() -> tuple[int, dict[str, Any]]:
        payment = book.register_payment(svc.ports, command, _actor(principal, request))
        credit = svc.ports.credits.get(credit_id)
        return 201, payment_body(payment, credit)

    return idempotent(request, body.dict(), action)


@router.post("/payments/{payment_id}/reversal", response={200: PaymentOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def reverse_payment(request: HttpRequest, payment_id: UUID, body: ReasonIn) -> HttpResponse:
    """Admin: undo a payment exactly (a compensating ledger transaction; nothing is deleted)."""
    principal = principal_of(request)
    svc = services()
    _visible(principal, svc.access.credit_of_payment(payment_id), "payment")
    require_role(request, Role.ADMIN)

    def action() -> tuple[int, dict[str, Any]]:
        payment = book.reverse_payment(svc.ports, payment_id, body.reason, _actor(principal, request))
        return 200, payment_body(payment, svc.ports.credits.get(payment.credit_id))

    return idempotent(request, body.dict(), action)


# --- late-fee waivers ----------------------------------------------------------------------------


@router.post(
    "/installments/{installment_id}/fee-waivers", response={201: WaiverOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC
)
def waive_fee(request: HttpRequest, installment_id: UUID, body: WaiverIn) -> HttpResponse:
    """An agent requests a waiver (an admin decides later); an admin's waiver applies at once."""
    principal = principal_of(request)
    svc = services()
    _visible(principal, svc.access.credit_of_installment(installment_id), "installment")
    require_role(request, Role.AGENT, Role.ADMIN)
    command = book.RequestWaiver(installment_id=installment_id, amount=body.amount.to_money(), reason=body.reason)

    def action() -> tuple[int, dict[str, Any]]:
        actor = _actor(principal, request)
        if principal.role is Role.ADMIN:
            waiver = book.waive_fee(svc.ports, command, actor)
        else:
            waiver = book.request_fee_waiver(svc.ports, command, actor)
        return 201, waiver_body(waiver)

    return idempotent(request, body.dict(), action)


@router.post("/fee-waivers/{waiver_id}/decision", response={200: WaiverOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def decide_waiver(request: HttpRequest, waiver_id: UUID, body: DecisionIn) -> HttpResponse:
    """Admin: approve (the fee is waived and booked) or reject (with a note) a requested waiver."""
    principal = principal_of(request)
    svc = services()
    _visible(principal, svc.access.credit_of_waiver(waiver_id), "fee waiver")
    require_role(request, Role.ADMIN)

    def action() -> tuple[int, dict[str, Any]]:
        waiver = book.decide_fee_waiver(
            svc.ports, waiver_id, approve=body.approve, note=body.note, actor=_actor(principal, request)
        )
        return 200, waiver_body(waiver)

    return idempotent(request, body.dict(), action)
