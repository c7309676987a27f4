"""A payment's body (split over payment methods) and its answer, for registration and reversal."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from ninja import Schema
from pydantic import Field

from api.http.money import MoneyIn, MoneyOut, money_dict
from api.http.request_model import RequestModel
from domain.payments.model import Payment
from domain.shared.money import Money


class MethodLineIn(RequestModel):
    payment_account_id: int = Field(ge=1)
    amount: MoneyIn


class PaymentIn(RequestModel):
    amount: MoneyIn
    lines: list[MethodLineIn] = Field(min_length=1, max_length=10, description="Split over payment methods.")
    paid_on: date | None = Field(None, description="Defaults to today (business date); never in the future.")
    prepay: bool = Field(False, description="Allow paying beyond what is due now (covers the next installments).")


class AllocationOut(Schema):
    installment_id: UUID
    late_fee: MoneyOut
    interest: MoneyOut
    principal: MoneyOut


class MethodLineOut(Schema):
    payment_account_id: int
    amount: MoneyOut


class PaymentOut(Schema):
    id: UUID
    credit_id: UUID
    amount: MoneyOut
    paid_on: date
    status: str
    lines: list[MethodLineOut]
    allocations: list[AllocationOut]
    transaction_id: UUID
    reversal_transaction_id: UUID | None = None
    credit_pending: MoneyOut | None = None


def payment_body(payment: Payment, credit_pending: Money | None = None) -> dict[str, Any]:
    return {
        "id": str(payment.id),
        "credit_id": str(payment.credit_id),
        "amount": money_dict(payment.amount),
        "paid_on": payment.paid_on.isoformat(),
        "status": payment.status.value,
        "lines": [
            {"payment_account_id": ln.account_id, "amount": money_dict(ln.amount)} for ln in payment.method_lines
        ],
        "allocations": [
            {
                "installment_id": str(a.installment_id),
                "late_fee": money_dict(a.late_fee),
                "interest": money_dict(a.interest),
                "principal": money_dict(a.principal),
            }
            for a in payment.allocations
        ],
        "transaction_id": str(payment.transaction_id),
        "reversal_transaction_id": str(payment.reversal.transaction_id) if payment.reversal else None,
        "credit_pending": money_dict(credit_pending) if credit_pending is not None else None,
    }
