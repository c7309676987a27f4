"""Schedules: textbook examples with literal figures, due-date rules and property tests.

The literal figures were computed independently of this code (PMT formula by hand, interest on
each balance rounded half-even to the currency), as a loan table in a textbook is.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.credits.schedule import (
    InterestMethod,
    Periodicity,
    ScheduleTerms,
    add_months,
    due_dates,
    generate_schedule,
    level_parts,
)
from domain.shared.calendar import FixedHolidays
from domain.shared.errors import FloatRefused, InvalidInput
from domain.shared.money import CLP, COP, KWD, USD, Currency, Money

from .strategies import currencies, first_dates, methods, periodicities, rates

M = InterestMethod
P = Periodicity


def terms(
    amount: str, currency: Currency, n: int, method: InterestMethod, rate: str = "0", **kw: object
) -> ScheduleTerms:
    return ScheduleTerms(
        principal=Money.of(amount, currency),
        installments=n,
        periodicity=kw.pop("periodicity", P.MONTHLY),  # type: ignore[arg-type]
        first_due_date=kw.pop("first", date(2024, 1, 31)),  # type: ignore[arg-type]
        method=method,
        annual_rate=Decimal(rate),
        **kw,  # type: ignore[arg-type]
    )


def table(t: ScheduleTerms) -> list[tuple[str, str]]:
    return [(f"{r.principal.amount:f}", f"{r.interest.amount:f}") for r in generate_schedule(t)]


class TestFrench:
    def test_textbook_loan_10000_usd_12_percent_12_months(self) -> None:
        # PMT = 10000 * 0.01 / (1 - 1.01**-12) = 888.4878... -> 888.49; the last absorbs rounding.
        rows = table(terms("10000", USD, 12, M.FRENCH, "0.12"))
        assert rows == [
            ("788.49", "100.00"),
            ("796.37", "92.12"),
            ("804.34", "84.15"),
            ("812.38", "76.11"),
            ("820.51", "67.98"),
            ("828.71", "59.78"),
            ("837.00", "51.49"),
            ("845.37", "43.12"),
            ("853.82", "34.67"),
            ("862.36", "26.13"),
            ("870.98", "17.51"),
            ("879.67", "8.80"),
        ]
        amounts = [r.amount for r in generate_schedule(terms("10000", USD, 12, M.FRENCH, "0.12"))]
        assert amounts[:11] == [Money.of("888.49", USD)] * 11
        assert amounts[11] == Money.of("888.47", USD)

    def test_pesos_without_decimals(self) -> None:
        # CLP has no minor unit: PMT = 1,000,000 * 0.02 / (1 - 1.02**-6) = 178,525.81 -> 178,526.
        rows = table(terms("1000000", CLP, 6, M.FRENCH, "0.24"))
        assert rows == [
            ("158526", "20000"),
            ("161697", "16829"),
            ("164930", "13596"),
            ("168229", "10297"),
            ("171594", "6932"),
            ("175024", "3500"),
        ]

    def test_weekly_rate_is_annual_over_52(self) -> None:
        # 52 % a year weekly = 1 % a week; PMT = 5200 * 0.01 / (1 - 1.01**-4) = 1332.66.
        rows = table(terms("5200", USD, 4, M.FRENCH, "0.52", periodicity=P.WEEKLY, first=date(2024, 1, 1)))
        assert rows == [
            ("1280.66", "52.00"),
            ("1293.47", "39.19"),
            ("1306.40", "26.26"),
            ("1319.47", "13.19"),
        ]

    def test_tiny_loan_lowers_the_payment_one_unit_so_the_last_absorbs(self) -> None:
        # PMT 0.0700 -> 0.07 but every interest rounds to 0.00: 52 * 0.07 would repay 3.63 early.
        t = terms("3.63", COP, 53, M.FRENCH, "0.0211", periodicity=P.BIWEEKLY)
        assert table(t) == [("0.06", "0.00")] * 52 + [("0.51", "0.00")]

    def test_degenerate_tiny_loan_at_a_huge_rate_still_sums_exactly(self) -> None:
        # 2 CLP at 1000 % a year: the interest (2) eats the whole payment (2) of the first period.
        assert table(terms("2", CLP, 2, M.FRENCH, "10")) == [("0", "2"), ("2", "2")]

    def test_zero_rate_falls_back_to_an_even_split(self) -> None:
        assert table(terms("100", USD, 3, M.FRENCH, "0")) == [
            ("33.33", "0.00"),
            ("33.33", "0.00"),
            ("33.34", "0.00"),
        ]


class TestEqualPrincipal:
    def test_textbook_12000_usd_12_percent_12_months(self) -> None:
        rows = table(terms("12000", USD, 12, M.EQUAL_PRINCIPAL, "0.12"))
        assert [p for p, _ in rows] == ["1000.00"] * 12
        assert [i for _, i in rows] == [f"{v}.00" for v in range(120, 0, -10)]

    def test_dinars_with_three_decimals(self) -> None:
        # 1 KWD in 3 at 3 % a month: principal 0.333, 0.333, 0.334; interest on 1.000, 0.667, 0.334.
        rows = table(terms("1", KWD, 3, M.EQUAL_PRINCIPAL, "0.36"))
        assert rows == [("0.333", "0.030"), ("0.333", "0.020"), ("0.334", "0.010")]


class TestFlatMarkup:
    def test_textbook_flat_12_percent_on_10000_over_a_year(self) -> None:
        # Interest 10000 * 0.12 * 1 year = 1200, spread evenly: 100 a month; principal 833.33 * 11 + 833.37.
        rows = table(terms("10000", USD, 12, M.FLAT_MARKUP, "0.12"))
        assert rows == [("833.33", "100.00")] * 11 + [("833.37", "100.00")]

    def test_biweekly_term_in_years_uses_26_fortnights(self) -> None:
        # 2600 COP at 26 % flat over 13 fortnights (half a year): interest 2600 * 0.26 * 0.5 = 338.
        rows = table(terms("2600", COP, 13, M.FLAT_MARKUP, "0.26", periodicity=P.BIWEEKLY))
        assert rows == [("200.00", "26.00")] * 13

    def test_rate_zero_is_the_seeds_markup_inside_the_price(self) -> None:
        assert table(terms("1000", COP, 4, M.FLAT_MARKUP)) == [("250.00", "0.00")] * 4


class TestZeroInterest:
    def test_even_split_last_absorbs(self) -> None:
        assert table(terms("100000", COP, 3, M.ZERO_INTEREST, "0.5")) == [
            ("33333.33", "0.00"),
            ("33333.33", "0.00"),
            ("33333.34", "0.00"),
        ]

    def test_single_installment(self) -> None:
        assert table(terms("99.99", USD, 1, M.ZERO_INTEREST)) == [("99.99", "0.00")]


class TestLevelParts:
    def test_rounded_up_level_part_would_leave_the_last_negative(self) -> None:
        # 0.11 / 7 = 0.0157 rounds to 0.02, and 6 * 0.02 > 0.11: the level part is rounded down.
        parts = level_parts(Money.of("0.11", USD), 7, last_positive=True)
        assert parts == [Money.of("0.01", USD)] * 6 + [Money.of("0.05", USD)]

    def test_last_part_zero_allowed_only_when_asked(self) -> None:
        # 0.10 / 6 = 0.0167 -> 0.02 and 5 * 0.02 = 0.10 leaves a zero last part.
        assert level_parts(Money.of("0.10", USD), 6, last_positive=False)[-1] == Money.zero(USD)
        assert level_parts(Money.of("0.10", USD), 6, last_positive=True)[-1] == Money.of("0.05", USD)


class TestDueDates:
    def test_monthly_anchors_to_the_original_day(self) -> None:
        assert due_dates(date(2024, 1, 31), P.MONTHLY, 5) == [
            date(2024, 1, 31),
            date(2024, 2, 29),
            date(2024, 3, 31),
            date(2024, 4, 30),
            date(2024, 5, 31),
        ]
        assert due_dates(date(2023, 1, 31), P.MONTHLY, 2)[1] == date(2023, 2, 28)

    def test_add_months_across_years(self) -> None:
        assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
        assert add_months(date(2024, 1, 31), 13) == date(2025, 2, 28)

    def test_weekly_and_biweekly(self) -> None:
        assert due_dates(date(2024, 1, 1), P.WEEKLY, 3) == [
            date(2024, 1, 1),
            date(2024, 1, 8),
            date(2024, 1, 15),
        ]
        assert due_dates(date(2024, 1, 1), P.BIWEEKLY, 2) == [date(2024, 1, 1), date(2024, 1, 15)]

    def test_skipping_only_applies_to_daily(self) -> None:
        sunday = date(2024, 1, 7)
        assert due_dates(sunday, P.WEEKLY, 2, skip_sundays=True) == [sunday, date(2024, 1, 14)]

    def test_daily_skips_sundays_and_holidays(self) -> None:
        holidays = FixedHolidays([date(2024, 1, 8)])  # a Monday
        days = due_dates(date(2024, 1, 5), P.DAILY, 4, skip_sundays=True, skip_holidays=True, holidays=holidays)
        # Fri 5, Sat 6, (Sun 7 skipped), (Mon 8 holiday), Tue 9, Wed 10.
        assert days == [date(2024, 1, 5), date(2024, 1, 6), date(2024, 1, 9), date(2024, 1, 10)]

    def test_daily_without_skipping(self) -> None:
        assert due_dates(date(2024, 1, 6), P.DAILY, 3) == [
            date(2024, 1, 6),
            date(2024, 1, 7),
            date(2024, 1, 8),
        ]

    def test_holidays_not_skipped_unless_asked(self) -> None:
        holidays = FixedHolidays([date(2024, 1, 8)])
        assert date(2024, 1, 8) in due_dates(date(2024, 1, 7), P.DAILY, 2, skip_sundays=True, holidays=holidays)

    def test_a_first_date_on_sunday_moves_to_monday(self) -> None:
        assert due_dates(date(2024, 1, 7), P.DAILY, 1, skip_sundays=True) == [date(2024, 1, 8)]

    def test_a_calendar_closed_forever_is_refused(self) -> None:
        class Closed:
            def is_holiday(self, day: date) -> bool:
                return True

        with pytest.raises(InvalidInput):
            due_dates(date(2024, 1, 1), P.DAILY, 1, skip_holidays=True, holidays=Closed())

    def test_generated_schedule_uses_the_holiday_calendar(self) -> None:
        t = terms("30", USD, 3, M.ZERO_INTEREST, periodicity=P.DAILY, first=date(2024, 1, 6), skip_sundays=True)
        assert [r.due_date for r in generate_schedule(t)] == [
            date(2024, 1, 6),
            date(2024, 1, 8),
            date(2024, 1, 9),
        ]
        t = terms("30", USD, 2, M.ZERO_INTEREST, periodicity=P.DAILY, first=date(2024, 1, 1), skip_holidays=True)
        dates = [r.due_date for r in generate_schedule(t, FixedHolidays([date(2024, 1, 1)]))]
        assert dates == [date(2024, 1, 2), date(2024, 1, 3)]


class TestTermsValidation:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("installments", 0),
            ("installments", 1201),
            ("installments", True),
            ("installments", 2.0),
            ("annual_rate", Decimal("-0.01")),
            ("annual_rate", Decimal("10.01")),
            ("annual_rate", "0.1"),
            ("annual_rate", True),
        ],
    )
    def test_refused(self, field: str, value: object) -> None:
        kw: dict[str, object] = {
            "principal": Money.of("1000", USD),
            "installments": 12,
            "periodicity": P.MONTHLY,
            "first_due_date": date(2024, 1, 1),
            "method": M.FRENCH,
            "annual_rate": Decimal("0.1"),
        }
        kw[field] = value
        with pytest.raises(InvalidInput):
            ScheduleTerms(**kw)  # type: ignore[arg-type]

    def test_float_rate_refused(self) -> None:
        with pytest.raises(FloatRefused):
            terms("100", USD, 2, M.FRENCH).__class__(
                Money.of("100", USD),
                2,
                P.MONTHLY,
                date(2024, 1, 1),
                M.FRENCH,
                0.1,  # type: ignore[arg-type]
            )

    def test_principal_must_be_positive_and_cover_each_installment(self) -> None:
        with pytest.raises(InvalidInput):
            terms("0", USD, 1, M.FRENCH)
        with pytest.raises(InvalidInput):
            terms("0.02", USD, 3, M.FRENCH)
        assert terms("0.03", USD, 3, M.FRENCH).periodic_rate == 0

    def test_periodic_rate(self) -> None:
        assert terms("100", USD, 2, M.FRENCH, "0.365", periodicity=P.DAILY).periodic_rate == Decimal("0.001")
        assert P.BIWEEKLY.periods_per_year == 26


@st.composite
def any_terms(draw: st.DrawFn) -> ScheduleTerms:
    currency = draw(currencies)
    n = draw(st.integers(1, 120))
    units = draw(st.integers(n, 10**11))
    return ScheduleTerms(
        principal=Money.from_minor(units, currency),
        installments=n,
        periodicity=draw(periodicities),
        first_due_date=draw(first_dates),
        method=draw(methods),
        annual_rate=draw(rates),
        skip_sundays=draw(st.booleans()),
    )


class TestProperties:
    @given(t=any_terms())
    def test_installments_sum_exactly_to_principal_plus_interest(self, t: ScheduleTerms) -> None:
        rows = generate_schedule(t)
        assert len(rows) == t.installments
        assert sum(r.principal.minor for r in rows) == t.principal.minor
        interest = sum(r.interest.minor for r in rows)
        assert sum(r.amount.minor for r in rows) == t.principal.minor + interest
        assert all(r.principal.currency == t.principal.currency for r in rows)
        assert all(not r.principal.is_negative and not r.interest.is_negative for r in rows)
        if t.method is M.ZERO_INTEREST or not t.annual_rate:
            assert interest == 0

    @given(t=any_terms())
    def test_due_dates_strictly_increase_and_skip_sundays_when_asked(self, t: ScheduleTerms) -> None:
        dates = [r.due_date for r in generate_schedule(t)]
        assert all(a < b for a, b in itertools.pairwise(dates))
        if t.periodicity is P.DAILY and t.skip_sundays:
            assert all(d.weekday() != 6 for d in dates)
        if t.periodicity is P.MONTHLY:
            assert all(d.day == min(t.first_due_date.day, 28) or d.day >= 28 for d in dates)

    @given(t=any_terms())
    def test_level_installments_are_equal_but_the_last(self, t: ScheduleTerms) -> None:
        rows = generate_schedule(t)
        if t.method in (M.FLAT_MARKUP, M.ZERO_INTEREST) or (t.method is M.FRENCH and t.annual_rate):
            assert len({r.amount for r in rows[:-1]}) <= 1


@pytest.mark.parametrize("periodicity", list(Periodicity))
def test_a_schedule_past_the_last_calendar_day_is_invalid_input_not_a_crash(periodicity: Periodicity) -> None:
    # date(9999, 12, 31) is datetime's last day: the second installment cannot exist.
    with pytest.raises(InvalidInput, match="9999-12-31"):
        due_dates(date(9999, 12, 31), periodicity, 2)
