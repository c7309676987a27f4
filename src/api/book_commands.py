"""The write side of the book: open credits, register and reverse payments, adjust, write off,
refinance, waive late fees. Each endpoint parses, calls one use case under an Idempotency-Key and
renders; the use case authorizes (what the caller may not see is a 404)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Router

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
from api.http.actor import actor_of
from api.http.errors import ErrorOut
from api.http.security import bearer, principal_of
from api.idempotency import idempotency_key, idempotent
from domain.application import use_cases as book
from domain.payments.model import MethodLine

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


# --- credits -------------------------------------------------------------------------------------


@router.post("/credits", response={201: CreditOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def open_credit(request: HttpRequest, body: OpenCreditIn) -> HttpResponse:
    """Open a credit for a client with its schedule; it is disbursed (active) at once."""
    command = book.OpenCreditRequest(
        client=body.client_id,
        agent=body.agent_id,
        price=body.price.to_money(),
        cost=body.cost.to_money(),
        subcategory_id=body.subcategory_id,
        periodicity=body.periodicity,
        installments=body.installments,
        first_due_date=body.first_due_date,
        method=body.interest_method,
        annual_rate=decimal_rate(body.annual_rate),
        allow_loss=body.allow_loss,
    )

    def action() -> tuple[int, dict[str, Any]]:
        return 201, credit_body(book.open_credit_on_request(services().ports, command, actor_of(request)))

    return idempotent(request, body.dict(), action)


@router.post("/credits/{credit_id}/adjustments", response={200: CreditOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def adjust_credit(request: HttpRequest, credit_id: UUID, body: AdjustmentIn) -> HttpResponse:
    """Admin: raise or lower what is owed, with a reason (recorded as an event and booked)."""
    amount = body.amount.to_money()

    def action() -> tuple[int, dict[str, Any]]:
        return 200, credit_body(book.adjust_credit(services().ports, credit_id, amount, body.reason, actor_of(request)))

    return idempotent(request, body.dict(), action)


@router.post("/credits/{credit_id}/write-off", response={200: CreditOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def write_off_credit(request: HttpRequest, credit_id: UUID, body: ReasonIn) -> HttpResponse:
    """Admin: give up on the outstanding balance (booked as a write-off expense)."""

    def action() -> tuple[int, dict[str, Any]]:
        return 200, credit_body(book.write_off_credit(services().ports, credit_id, body.reason, actor_of(request)))

    return idempotent(request, body.dict(), action)


@router.post("/credits/{credit_id}/refinance", response={201: RefinanceOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def refinance_credit(request: HttpRequest, credit_id: UUID, body: RefinanceIn) -> HttpResponse:
    """Admin: close the credit today into a new one; returns the new credit and what it carried.

    The new principal is what is owed today: outstanding principal + interest earned to today
    (past periods, the current one by days elapsed) + late fees not waived or paid; interest of
    time not yet elapsed is not carried (see `refinanced_from`)."""
    command = book.Refinance(
        credit_id=credit_id,
        installments=body.installments,
        periodicity=body.periodicity,
        first_due_date=body.first_due_date,
        method=body.interest_method,
        annual_rate=decimal_rate(body.annual_rate),
        reason=body.reason,
        skip_sundays=None,  # as the catalog's periodicity says
        skip_holidays=None,
    )

    def action() -> tuple[int, dict[str, Any]]:
        done = book.refinance_credit(services().ports, command, actor_of(request))
        return 201, refinance_body(done.credit, done.balance)

    return idempotent(request, body.dict(), action)


# --- payments ------------------------------------------------------------------------------------


@router.post("/credits/{credit_id}/payments", response={201: PaymentOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def register_payment(request: HttpRequest, credit_id: UUID, body: PaymentIn) -> HttpResponse:
    """Agent or admin: register a payment split over payment methods, allocated oldest installment first
    (late fee, interest, principal). More than is due now needs `prepay`."""
    command = book.RegisterPayment(
        credit_id=credit_id,
        amount=body.amount.to_money(),
        method_lines=tuple(MethodLine(line.payment_account_id, line.amount.to_money()) for line in body.lines),
        # Stored on the payment, scoped by caller; claimed by `idempotent` in the same unit of work.
        idempotency_key=f"{principal_of(request).user_id}:{idempotency_key(request)}",
        paid_on=body.paid_on,
        prepay=body.prepay,
        key_claimed=True,
    )

    def action() -> tuple[int, dict[str, Any]]:
        booked = book.book_payment(services().ports, command, actor_of(request))
        return 201, payment_body(booked.payment, booked.credit_pending)

    return idempotent(request, body.dict(), action)


@router.post("/payments/{payment_id}/reversal", response={200: PaymentOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def reverse_payment(request: HttpRequest, payment_id: UUID, body: ReasonIn) -> HttpResponse:
    """Admin: undo a payment exactly (a compensating ledger transaction; nothing is deleted)."""

    def action() -> tuple[int, dict[str, Any]]:
        undone = book.undo_payment(services().ports, payment_id, body.reason, actor_of(request))
        return 200, payment_body(undone.payment, undone.credit_pending)

    return idempotent(request, body.dict(), action)


# --- late-fee waivers ----------------------------------------------------------------------------


@router.post(
    "/installments/{installment_id}/fee-waivers", response={201: WaiverOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC
)
def waive_fee(request: HttpRequest, installment_id: UUID, body: WaiverIn) -> HttpResponse:
    """An agent requests a waiver (an admin decides later); an admin's waiver applies at once."""
    command = book.RequestWaiver(installment_id=installment_id, amount=body.amount.to_money(), reason=body.reason)

    def action() -> tuple[int, dict[str, Any]]:
        return 201, waiver_body(book.waive_or_request(services().ports, command, actor_of(request)))

    return idempotent(request, body.dict(), action)


@router.post("/fee-waivers/{waiver_id}/decision", response={200: WaiverOut, **ERRORS}, openapi_extra=IDEMPOTENCY_DOC)
def decide_waiver(request: HttpRequest, waiver_id: UUID, body: DecisionIn) -> HttpResponse:
    """Admin: approve (the fee is waived and booked) or reject (with a note) a requested waiver."""

    def action() -> tuple[int, dict[str, Any]]:
        waiver = book.decide_fee_waiver(
            services().ports, waiver_id, approve=body.approve, note=body.note, actor=actor_of(request)
        )
        return 200, waiver_body(waiver)

    return idempotent(request, body.dict(), action)
