"""Late-fee waivers: a request or an admin's waiver, a decision, the waiver as answered."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ninja import Schema
from pydantic import Field

from api.http.money import MoneyIn, MoneyOut, money_dict
from api.http.request_model import RequestModel
from domain.payments.model import FeeWaiver


class WaiverIn(RequestModel):
    amount: MoneyIn
    reason: str = Field(min_length=3, max_length=500)


class DecisionIn(RequestModel):
    approve: bool
    note: str = Field("", max_length=500)


class WaiverOut(Schema):
    id: UUID
    credit_id: UUID
    installment_id: UUID
    amount: MoneyOut
    reason: str
    status: str
    transaction_id: UUID | None = None


def waiver_body(waiver: FeeWaiver) -> dict[str, Any]:
    return {
        "id": str(waiver.id),
        "credit_id": str(waiver.credit_id),
        "installment_id": str(waiver.installment_id),
        "amount": money_dict(waiver.amount),
        "reason": waiver.reason,
        "status": waiver.status.value,
        "transaction_id": str(waiver.transaction_id) if waiver.transaction_id else None,
    }
