"""Money on the wire: {"amount": "125.50", "currency": "COP"}, the amount always a string."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ninja import Schema
from pydantic import Field, field_validator

from api.http.request_model import RequestModel
from domain.shared.money import MAX_INTEGER_DIGITS, Currency, Money, require_storable

# At most MAX_INTEGER_DIGITS (12) digits before the point and 4 after it (the most minor units any
# currency has); the currency's own minor units are checked when the amount becomes Money.
AMOUNT_PATTERN = rf"^-?\d{{1,{MAX_INTEGER_DIGITS}}}(\.\d{{1,4}})?$"
_INTEGER_PART = re.compile(r"^\s*-?(\d+)")
AMOUNT_DOC = (
    f"A decimal string. At most {MAX_INTEGER_DIGITS} digits before the point: an amount is below "
    f"10^{MAX_INTEGER_DIGITS} in any currency (e.g. at most 999999999999.99 COP, 999999999999 CLP), "
    "which leaves room for interest at the maximum rate and term plus late fees in the stored columns. "
    "After the point, at most the currency's minor units (COP, USD, EUR, MXN, PEN, BRL 2; CLP, JPY 0; "
    "KWD 3; see /api/v1/currencies)."
)


class MoneyIn(RequestModel):
    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        max_length=MAX_INTEGER_DIGITS + 6,
        description=AMOUNT_DOC,
        examples=["125.50"],
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["COP"])

    @field_validator("amount", mode="before")
    @classmethod
    def _within_the_maximum(cls, value: Any) -> Any:
        # Before the pattern, so an amount too large is refused by saying so, naming the limit.
        match = _INTEGER_PART.match(value) if isinstance(value, str) else None
        if match and len(match.group(1).lstrip("0") or "0") > MAX_INTEGER_DIGITS:
            raise ValueError(
                f"the amount is too large: at most {MAX_INTEGER_DIGITS} digits before the decimal point "
                f"(below 10^{MAX_INTEGER_DIGITS}, e.g. at most 999999999999.99 in a currency with 2 decimals)"
            )
        return value

    def to_money(self, currency_of: Callable[[str], Currency]) -> Money:
        # Money refuses more decimals than the currency has and non-finite values; the currency
        # must be in the catalog (`currency_of`, the adapter's lookup, knows currencies added at run time).
        return require_storable(Money.of(self.amount, currency_of(self.currency)))


class MoneyOut(Schema):
    amount: str
    currency: str


def money_out(value: Money) -> MoneyOut:
    return MoneyOut(amount=str(value.amount), currency=value.currency.code)


def money_dict(value: Money) -> dict[str, str]:
    return {"amount": str(value.amount), "currency": value.currency.code}
