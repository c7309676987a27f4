"""Money on the wire: {"amount": "125.50", "currency": "COP"}, the amount always a string."""

from __future__ import annotations

from ninja import Schema
from pydantic import Field

from domain.shared.money import Money

AMOUNT_PATTERN = r"^-?\d{1,16}(\.\d{1,8})?$"


class MoneyIn(Schema):
    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        max_length=26,
        description='A decimal string with at most the currency\'s minor units, e.g. "125.50".',
        examples=["125.50"],
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["COP"])

    def to_money(self) -> Money:
        # Money refuses more decimals than the currency has and non-finite values; the currency
        # must be in the catalog (resolved by the adapter, which knows currencies added at run time).
        from api.deps import services

        return Money.of(self.amount, services().currency(self.currency))


class MoneyOut(Schema):
    amount: str
    currency: str


def money_out(value: Money) -> MoneyOut:
    return MoneyOut(amount=str(value.amount), currency=value.currency.code)


def money_dict(value: Money) -> dict[str, str]:
    return {"amount": str(value.amount), "currency": value.currency.code}
