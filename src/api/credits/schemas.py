"""The credit writes' bodies and answers: a credit opened, adjusted, written off or refinanced."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from ninja import Schema
from pydantic import Field

from api.http.money import MoneyIn, MoneyOut, money_dict
from api.http.request_model import RequestModel
from domain.credits.accrual import RefinanceBalance
from domain.credits.model import Credit
from domain.credits.schedule import MAX_ANNUAL_RATE, InterestMethod, Periodicity

# 0 to MAX_ANNUAL_RATE (10, i.e. 1000 % a year) with at most 6 decimals, as the domain checks it.
assert MAX_ANNUAL_RATE == 10, "RATE_PATTERN spells the maximum out"
RATE_PATTERN = r"^(10(\.0{1,6})?|\d(\.\d{1,6})?)$"
RATE_DOC = (
    'Nominal annual rate as a fraction, from 0 to 10 (1000 % a year), at most 6 decimals: "0.24". '
    "zero_interest: must be 0. french, equal_principal: the rate on the declining balance (0: no interest). "
    "flat_markup: the flat add-on per year of term on the price; 0 when the markup is already in the price."
)


class OpenCreditIn(RequestModel):
    client_id: UUID = Field(description="The client's public id.")
    agent_id: UUID | None = Field(None, description="Admins only: the agent whose portfolio gets the credit.")
    price: MoneyIn = Field(description="What the client owes before interest.")
    cost: MoneyIn = Field(description="What the seller paid; earnings = price - cost.")
    allow_loss: bool = Field(
        False, description="A loss-leader: allow a cost above the price (negative earnings); recorded on the credit."
    )
    subcategory_id: int | None = None
    periodicity: Periodicity
    installments: int = Field(ge=1, le=1000)
    first_due_date: date
    interest_method: InterestMethod
    annual_rate: str = Field("0", pattern=RATE_PATTERN, description=RATE_DOC)


class AdjustmentIn(RequestModel):
    amount: MoneyIn = Field(description="Signed: positive raises what is owed, negative lowers it.")
    reason: str = Field(min_length=3, max_length=500)


class RefinanceIn(RequestModel):
    installments: int = Field(ge=1, le=1000)
    periodicity: Periodicity
    first_due_date: date
    interest_method: InterestMethod
    annual_rate: str = Field("0", pattern=RATE_PATTERN, description=RATE_DOC)
    reason: str = Field(min_length=3, max_length=500)


class InstallmentOut(Schema):
    id: UUID
    number: int
    due_date: date
    principal: MoneyOut
    interest: MoneyOut
    amount: MoneyOut
    late_fee: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut


class CreditOut(Schema):
    id: UUID
    state: str
    price: MoneyOut
    cost: MoneyOut
    total_due: MoneyOut
    pending: MoneyOut
    periodicity: str
    interest_method: str
    annual_rate: str
    opened_on: date
    allow_loss: bool
    installments: list[InstallmentOut]


class CarriedOut(Schema):
    """What the refinanced credit carried into the new one on `as_of`, part by part."""

    credit_id: UUID = Field(description="The refinanced (old) credit.")
    as_of: date
    outstanding_principal: MoneyOut
    prepaid_interest_credited: MoneyOut = Field(
        description="Interest already paid for time after as_of: not earned, credited against the principal."
    )
    principal: MoneyOut = Field(description="outstanding_principal - prepaid_interest_credited.")
    accrued_interest: MoneyOut = Field(description="Interest earned up to as_of and not paid.")
    late_fees: MoneyOut = Field(description="Late fees charged, neither waived nor paid.")
    carried: MoneyOut = Field(description="principal + accrued_interest + late_fees: the new credit's price.")
    interest_forgiven: MoneyOut = Field(description="The old schedule's interest for time after as_of: dropped.")


class RefinanceOut(CreditOut):
    refinanced_from: CarriedOut


def decimal_rate(raw: str) -> Decimal:
    return Decimal(raw)


def credit_body(credit: Credit) -> dict[str, Any]:
    return {
        "id": str(credit.id),
        "state": credit.state.value,
        "price": money_dict(credit.price),
        "cost": money_dict(credit.cost),
        "total_due": money_dict(credit.total_due),
        "pending": money_dict(credit.pending),
        "periodicity": credit.periodicity.value,
        "interest_method": credit.interest_method.value,
        "annual_rate": str(credit.annual_rate),
        "opened_on": credit.opened_on.isoformat(),
        "allow_loss": credit.allow_loss,
        "installments": [
            {
                "id": str(i.id),
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "principal": money_dict(i.principal_due),
                "interest": money_dict(i.interest),
                "amount": money_dict(i.amount),
                "late_fee": money_dict(i.late_fee - i.late_fee_waived),
                "paid": money_dict(i.paid),
                "outstanding": money_dict(i.outstanding),
            }
            for i in credit.installments
        ],
    }


def refinance_body(credit: Credit, balance: RefinanceBalance) -> dict[str, Any]:
    """The new credit, and what the old one carried into it."""
    body = credit_body(credit)
    body["refinanced_from"] = {
        "credit_id": str(credit.refinanced_from_id),
        "as_of": balance.on.isoformat(),
        "outstanding_principal": money_dict(balance.outstanding_principal),
        "prepaid_interest_credited": money_dict(balance.prepaid_interest_credited),
        "principal": money_dict(balance.principal),
        "accrued_interest": money_dict(balance.accrued_interest),
        "late_fees": money_dict(balance.late_fees),
        "carried": money_dict(balance.carried),
        "interest_forgiven": money_dict(balance.interest_forgiven),
    }
    return body
