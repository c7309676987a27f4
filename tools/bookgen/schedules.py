"""Schedules for the generator, from the domain itself, cached so millions of credits cost little.

Amounts: `generate_schedule` depends on the principal, the number of installments, the
periodicity, the method and the rate — never on the dates — so one call per template (price point
x terms x method x rate) gives the exact principal/interest split of every credit sharing it.
Dates: the domain's `due_dates` (Sundays and catalog holidays skipped for daily schedules, as the
periodicity catalog says), cached per (periodicity, first due date, count).
Both are handed out as integers (minor units, day ordinals) for the generator's inner loop.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms, due_dates, generate_schedule
from domain.shared.calendar import FixedHolidays
from domain.shared.money import Currency, Money

_ANY_DATE = date(2000, 1, 3)


class ScheduleTemplates:
    def __init__(self) -> None:
        self._cache: dict[tuple, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def amounts(
        self, method: str, periodicity: str, count: int, rate: str, price_minor: int, currency: Currency
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(principals, interests) in minor units, exactly as `generate_schedule` splits them."""
        key = (method, periodicity, count, rate, price_minor, currency.code)
        found = self._cache.get(key)
        if found is None:
            rows = generate_schedule(
                ScheduleTerms(
                    principal=Money.from_minor(price_minor, currency),
                    installments=count,
                    periodicity=Periodicity(periodicity),
                    first_due_date=_ANY_DATE,
                    method=InterestMethod(method),
                    annual_rate=Decimal(rate),
                )
            )
            found = (tuple(r.principal.minor for r in rows), tuple(r.interest.minor for r in rows))
            self._cache[key] = found
        return found


class DueDates:
    def __init__(self, skip: dict[str, tuple[bool, bool]], holidays: frozenset[date]) -> None:
        self._skip = skip
        self._holidays = FixedHolidays(holidays)
        self._cache: dict[tuple[str, int, int], tuple[int, ...]] = {}

    def ordinals(self, periodicity: str, first_due: int, count: int) -> tuple[int, ...]:
        key = (periodicity, first_due, count)
        found = self._cache.get(key)
        if found is None:
            skip_sundays, skip_holidays = self._skip.get(periodicity, (False, False))
            found = tuple(
                d.toordinal()
                for d in due_dates(
                    date.fromordinal(first_due),
                    Periodicity(periodicity),
                    count,
                    skip_sundays=skip_sundays,
                    skip_holidays=skip_holidays,
                    holidays=self._holidays,
                )
            )
            self._cache[key] = found
        return found
