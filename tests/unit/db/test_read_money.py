"""Money read from a numeric column by the read queries (adapters.queries.common.money): no database,
just the conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.queries.common import money
from domain.shared.errors import FloatRefused, InvalidInput, TooPrecise
from domain.shared.money import Money


def test_a_column_is_brought_to_the_currencys_scale() -> None:
    value = money(Decimal("125.5"), "COP")
    assert value == Money(Decimal("125.50"), value.currency)
    assert str(value.amount) == "125.50"
    assert str(money(Decimal("7.0000"), "CLP").amount) == "7"


def test_null_is_zero() -> None:
    assert str(money(None, "COP").amount) == "0.00"


def test_a_column_more_precise_than_the_currency_is_refused() -> None:
    with pytest.raises(TooPrecise):
        money(Decimal("1.005"), "COP")
    with pytest.raises(TooPrecise):
        money(Decimal("1.5"), "CLP")


def test_what_is_not_a_decimal_takes_a_new_amounts_checks() -> None:
    assert str(money(3, "COP").amount) == "3.00"  # type: ignore[arg-type]  # an integer expression
    with pytest.raises(FloatRefused):
        money(1.5, "COP")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        money(Decimal("NaN"), "COP")
