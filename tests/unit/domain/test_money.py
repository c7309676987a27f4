from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.shared.errors import CurrencyMismatch, FloatRefused, InvalidInput, TooPrecise, UnknownCurrency
from domain.shared.money import (
    CLP,
    COP,
    JPY,
    KWD,
    USD,
    Currency,
    Money,
    floor_div,
    register_currency,
    registered_currencies,
    total,
)

from .strategies import currencies


def cop(amount: str) -> Money:
    return Money.of(amount, COP)


class TestCurrency:
    def test_minor_units_of_the_known_currencies(self) -> None:
        assert [(c.code, c.minor_units) for c in (COP, USD, CLP, JPY, KWD)] == [
            ("COP", 2),
            ("USD", 2),
            ("CLP", 0),
            ("JPY", 0),
            ("KWD", 3),
        ]

    def test_lookup_by_code(self) -> None:
        assert Currency.of("KWD") is KWD
        assert KWD in registered_currencies()

    def test_unknown_code(self) -> None:
        with pytest.raises(UnknownCurrency):
            Currency.of("XXX")

    @pytest.mark.parametrize("code", ["usd", "US", "USDD", "U1D", 12])
    def test_bad_codes(self, code: object) -> None:
        with pytest.raises(InvalidInput):
            Currency(code, 2)  # type: ignore[arg-type]

    @pytest.mark.parametrize("units", [-1, 5, True, "2"])
    def test_bad_minor_units(self, units: object) -> None:
        with pytest.raises(InvalidInput):
            Currency("ABC", units)  # type: ignore[arg-type]

    def test_register_is_idempotent_but_refuses_changing_minor_units(self) -> None:
        first = register_currency("BHD", 3)
        assert register_currency("BHD", 3) is first
        with pytest.raises(InvalidInput):
            register_currency("BHD", 2)

    def test_round_is_half_even(self) -> None:
        assert USD.round(Decimal("0.125")) == Decimal("0.12")
        assert USD.round(Decimal("0.135")) == Decimal("0.14")
        assert CLP.round(Decimal("2.5")) == Decimal("2")
        assert str(USD) == "USD"

    def test_copies_are_the_same_object(self) -> None:
        assert copy.deepcopy(USD) is USD
        assert copy.copy(USD) is USD


class TestConstruction:
    def test_of_parses_strings_ints_and_decimals(self) -> None:
        assert Money.of("125.5", "COP") == Money(Decimal("125.50"), COP)
        assert Money.of(5, USD).amount == Decimal("5.00")
        assert str(Money.of(Decimal("5"), USD)) == "5.00 USD"
        assert Money(7, CLP).amount == Decimal(7)

    def test_float_is_refused_as_type_error_and_invalid_input(self) -> None:
        with pytest.raises(FloatRefused):
            Money(1.5, USD)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Money.of(1.5, USD)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            Money.rounded(0.1, USD)  # type: ignore[arg-type]

    @pytest.mark.parametrize("amount", [True, None, [1], "abc", "1e999999999", "NaN", "Infinity"])
    def test_non_amounts(self, amount: object) -> None:
        with pytest.raises(InvalidInput):
            Money.of(amount, USD)  # type: ignore[arg-type]

    @pytest.mark.parametrize("amount", [True, "5", None])
    def test_constructor_wants_decimal_or_int(self, amount: object) -> None:
        with pytest.raises(InvalidInput):
            Money(amount, USD)  # type: ignore[arg-type]

    def test_needs_a_currency(self) -> None:
        with pytest.raises(InvalidInput):
            Money(Decimal(1), "USD")  # type: ignore[arg-type]

    @pytest.mark.parametrize(("amount", "currency"), [("0.001", USD), ("1.5", CLP), ("0.0001", KWD), ("3.1", JPY)])
    def test_more_decimals_than_the_currency_allows(self, amount: str, currency: Currency) -> None:
        with pytest.raises(TooPrecise):
            Money.of(amount, currency)

    def test_too_large(self) -> None:
        with pytest.raises(InvalidInput):
            Money(Decimal("1e30"), USD)

    def test_minor_round_trip(self) -> None:
        assert Money.from_minor(12550, COP) == cop("125.50")
        assert cop("125.50").minor == 12550
        assert Money.from_minor(-1, KWD).amount == Decimal("-0.001")
        with pytest.raises(InvalidInput):
            Money.from_minor(1.0, USD)  # type: ignore[arg-type]

    def test_rounded_is_half_even(self) -> None:
        assert Money.rounded(Decimal("2.345"), USD) == Money.of("2.34", USD)
        assert Money.rounded(Decimal("2.355"), USD) == Money.of("2.36", USD)

    def test_zero(self) -> None:
        assert Money.zero(KWD).is_zero
        assert str(Money.zero(KWD)) == "0.000 KWD"

    def test_copies_are_the_same_object(self) -> None:
        m = cop("1")
        assert copy.deepcopy(m) is m
        assert copy.copy(m) is m


class TestArithmetic:
    def test_add_sub_neg_abs(self) -> None:
        assert cop("1.10") + cop("2.20") == cop("3.30")
        assert cop("1.10") - cop("2.20") == cop("-1.10")
        assert -cop("1") == cop("-1")
        assert abs(cop("-1")) == cop("1")

    def test_sign_predicates(self) -> None:
        assert cop("1").is_positive and not cop("1").is_negative and not cop("1").is_zero
        assert cop("-1").is_negative and not cop("-1").is_positive

    def test_cross_currency_is_refused(self) -> None:
        with pytest.raises(CurrencyMismatch):
            cop("1") + Money.of(1, USD)
        with pytest.raises(CurrencyMismatch):
            _ = cop("1") < Money.of(1, USD)
        with pytest.raises(TypeError):
            cop("1") + 1  # type: ignore[operator]

    def test_int_multiplication_is_exact(self) -> None:
        assert cop("0.01") * 3 == cop("0.03")
        assert 3 * cop("0.01") == cop("0.03")

    @pytest.mark.parametrize("factor", [Decimal("1.5"), True, "2"])
    def test_multiplication_only_takes_ints(self, factor: object) -> None:
        with pytest.raises(TypeError):
            cop("1") * factor  # type: ignore[operator]

    def test_float_factor_refused(self) -> None:
        with pytest.raises(FloatRefused):
            cop("1") * 1.5  # type: ignore[operator]

    def test_times_rounds_half_even(self) -> None:
        assert Money.of("10.00", USD).times(Decimal("0.0125")) == Money.of("0.12", USD)
        assert Money.of("10.00", USD).times(Decimal("0.0135")) == Money.of("0.14", USD)

    def test_comparisons_min_max(self) -> None:
        a, b = cop("1"), cop("2")
        assert a < b and a <= b and b > a and b >= a and a <= a and a >= a
        assert a.min(b) is a and b.min(a) is a
        assert a.max(b) is b and b.max(a) is b

    def test_total(self) -> None:
        assert total([cop("1"), cop("2.5")], COP) == cop("3.5")
        assert total([], KWD) == Money.zero(KWD)
        with pytest.raises(CurrencyMismatch):
            total([Money.of(1, USD)], COP)

    def test_floor_div(self) -> None:
        assert floor_div(cop("1.00"), 3) == cop("0.33")
        assert floor_div(cop("0.02"), 3) == cop("0")


class TestAllocate:
    def test_largest_remainder(self) -> None:
        parts = Money.of("0.05", USD).allocate([3, 7])
        # Exact shares 1.5 and 3.5 cents: floors 1 and 3, the leftover cent breaks the tie to the first.
        assert parts == [Money.of("0.02", USD), Money.of("0.03", USD)]

    def test_split_gives_leftovers_to_the_first_parts(self) -> None:
        assert Money.of("100", USD).split(3) == [
            Money.of("33.34", USD),
            Money.of("33.33", USD),
            Money.of("33.33", USD),
        ]
        assert Money.of(10, CLP).split(4) == [
            Money.of(3, CLP),
            Money.of(3, CLP),
            Money.of(2, CLP),
            Money.of(2, CLP),
        ]

    def test_negative_amounts_split_like_their_absolute_value(self) -> None:
        assert Money.of("-1.00", USD).split(3) == [
            Money.of("-0.34", USD),
            Money.of("-0.33", USD),
            Money.of("-0.33", USD),
        ]

    def test_zero_ratio_gets_nothing(self) -> None:
        assert Money.of("1.00", USD).allocate([0, Decimal("0.5")]) == [Money.zero(USD), Money.of("1.00", USD)]

    @pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1]])
    def test_bad_ratios(self, ratios: list[int]) -> None:
        with pytest.raises(InvalidInput):
            Money.of(1, USD).allocate(ratios)

    def test_float_ratio_refused(self) -> None:
        with pytest.raises(FloatRefused):
            Money.of(1, USD).allocate([0.5, 0.5])  # type: ignore[list-item]

    @pytest.mark.parametrize("parts", [0, -1, True])
    def test_bad_split(self, parts: int) -> None:
        with pytest.raises(InvalidInput):
            Money.of(1, USD).split(parts)

    @given(
        currency=currencies,
        units=st.integers(-(10**12), 10**12),
        ratios=st.lists(st.integers(0, 10**6), min_size=1, max_size=12).filter(any),
    )
    def test_allocation_never_creates_or_loses_a_minor_unit(
        self, currency: Currency, units: int, ratios: list[int]
    ) -> None:
        whole = Money.from_minor(units, currency)
        parts = whole.allocate(ratios)
        assert len(parts) == len(ratios)
        assert sum(p.minor for p in parts) == units
        # Each part is within one minor unit of its exact share.
        share_total = sum(ratios)
        for part, ratio in zip(parts, ratios, strict=True):
            assert abs(part.minor - units * ratio / share_total) < 1

    @given(currency=currencies, units=st.integers(0, 10**12), n=st.integers(1, 60))
    def test_split_parts_differ_by_at_most_one_unit(self, currency: Currency, units: int, n: int) -> None:
        parts = Money.from_minor(units, currency).split(n)
        assert sum(p.minor for p in parts) == units
        assert max(p.minor for p in parts) - min(p.minor for p in parts) <= 1
