"""The credit writes: open, adjust, write off, refinance, and register a payment on a credit. Each
endpoint parses, calls one use case under an Idempotency-Key and renders; the use case authorizes
(what the caller may not see is a 404). `register` puts them on the credits router, which also
serves the reads of the same paths (Ninja serves one path from one router)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Router

from api.credits.schemas import (
    AdjustmentIn,
    CreditOut,
    OpenCreditIn,
    RefinanceIn,
    RefinanceOut,
    credit_body,
    decimal_rate,
    refinance_body,
)
from api.deps import services
from api.http.actor import actor_of
from api.http.commands import ERRORS, IDEMPOTENCY_DOC, TAGS, ReasonIn
from api.http.idempotency import idempotency_key, idempotent
from api.http.security import principal_of
from api.payments.schemas import PaymentIn, PaymentOut, payment_body
from domain.application import use_cases as book
from domain.payments.model import MethodLine


def open_credit(request: HttpRequest, body: OpenCreditIn) -> HttpResponse:
    """Open a credit for a client with its schedule; it is disbursed (active) at once."""
    command = book.OpenCreditRequest(
        client=body.client_id,
        agent=body.agent_id,
        price=body.price.to_money(services().currency),
        cost=body.cost.to_money(services().currency),
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

    return idempotent(request, body.model_dump(), action)


def adjust_credit(request: HttpRequest, credit_id: UUID, body: AdjustmentIn) -> HttpResponse:
    """Admin: raise or lower what is owed, with a reason (recorded as an event and booked)."""
    amount = body.amount.to_money(services().currency)

    def action() -> tuple[int, dict[str, Any]]:
        return 200, credit_body(book.adjust_credit(services().ports, credit_id, amount, body.reason, actor_of(request)))

    return idempotent(request, body.model_dump(), action)


def write_off_credit(request: HttpRequest, credit_id: UUID, body: ReasonIn) -> HttpResponse:
    """Admin: give up on the outstanding balance (booked as a write-off expense)."""

    def action() -> tuple[int, dict[str, Any]]:
        return 200, credit_body(book.write_off_credit(services().ports, credit_id, body.reason, actor_of(request)))

    return idempotent(request, body.model_dump(), action)


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

    return idempotent(request, body.model_dump(), action)


def register_payment(request: HttpRequest, credit_id: UUID, body: PaymentIn) -> HttpResponse:
    """Agent or admin: register a payment split over payment methods, allocated oldest installment first
    (late fee, interest, principal). More than is due now needs `prepay`."""
    command = book.RegisterPayment(
        credit_id=credit_id,
        amount=body.amount.to_money(services().currency),
        method_lines=tuple(
            MethodLine(line.payment_account_id, line.amount.to_money(services().currency)) for line in body.lines
        ),
        # Stored on the payment, scoped by caller; claimed by `idempotent` in the same unit of work.
        idempotency_key=f"{principal_of(request).user_id}:{idempotency_key(request)}",
        paid_on=body.paid_on,
        prepay=body.prepay,
        key_claimed=True,
    )

    def action() -> tuple[int, dict[str, Any]]:
        booked = book.book_payment(services().ports, command, actor_of(request))
        return 201, payment_body(booked.payment, booked.credit_pending)

    return idempotent(request, body.model_dump(), action)


def register(router: Router) -> None:
    """Serve the credit writes from the credits router (paths relative to /credits)."""
    router.post("", response={201: CreditOut, **ERRORS}, tags=TAGS, openapi_extra=IDEMPOTENCY_DOC)(open_credit)
    router.post(
        "/{credit_id}/adjustments", response={200: CreditOut, **ERRORS}, tags=TAGS, openapi_extra=IDEMPOTENCY_DOC
    )(adjust_credit)
    router.post(
        "/{credit_id}/write-off", response={200: CreditOut, **ERRORS}, tags=TAGS, openapi_extra=IDEMPOTENCY_DOC
    )(write_off_credit)
    router.post(
        "/{credit_id}/refinance", response={201: RefinanceOut, **ERRORS}, tags=TAGS, openapi_extra=IDEMPOTENCY_DOC
    )(refinance_credit)
    router.post(
        "/{credit_id}/payments", response={201: PaymentOut, **ERRORS}, tags=TAGS, openapi_extra=IDEMPOTENCY_DOC
    )(register_payment)
