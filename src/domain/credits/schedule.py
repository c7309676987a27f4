"""Repayment schedules: due dates and the principal/interest split of every installment.

Four interest methods, all on a *nominal* annual rate (no compounding inside the year):

- FLAT_MARKUP: the original system's way. Interest is a flat add-on decided up front on the
  original principal: `principal * annual_rate * term_in_years`, spread evenly over the
  installments. With rate 0 (markup already inside the price) it is a plain equal split.
  Day count: by periods, term_in_years = installments / periods per year (30/360-like for
  monthly; 52 weeks, 26 fortnights, 365 days a year for the others).
- FRENCH: declining balance, equal installments (PMT = P·r / (1 - (1 + r)^-n)), with the periodic
  rate r = annual_rate / periods per year. Day count: monthly is 30/360 (every month is 1/12 of a
  year whatever its length); weekly 1/52, biweekly 1/26; daily 1/365 per installment period (a
  daily schedule that skips Sundays still charges one day's rate per installment).
- EQUAL_PRINCIPAL: the same principal every period, interest on the declining balance with the
  same periodic rate and day count as FRENCH, so installments decrease.
- ZERO_INTEREST: the principal split evenly; no interest whatever the rate says.

Rounding (ROUND_HALF_EVEN, see domain.shared.money) happens once per figure: the level payment,
each period's interest on the balance, and the level principal/interest parts. The last
installment absorbs whatever rounding left, so the installments add up *exactly* to
principal + interest. For tiny amounts where rounding the level part up would leave the last
installment negative, the level part is rounded down instead.

Due dates: daily, weekly (+7 days), biweekly (+14 days) or monthly. Monthly dates keep the first
due date's day of the month, clamped to the month's end (Jan 31 → Feb 28/29 → Mar 31 → Apr 30).
Daily schedules may skip Sundays and the holiday calendar's dates (the installment moves to the
next open day; the following ones continue from there).
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from domain.credits.errors import EmptyInstallment, RateContradictsMethod
from domain.shared.calendar import HolidayCalendar, NoHolidays
from domain.shared.errors import FloatRefused, InvalidInput
from domain.shared.money import Money, floor_div

MAX_INSTALLMENTS = 1200
MAX_ANNUAL_RATE = Decimal(10)  # 1000 % a year: above it the input is surely a mistake
# A calendar that closes this many days in a row is broken; stop rather than loop forever.
_MAX_SKIPPED_DAYS = 60


class InterestMethod(enum.StrEnum):
    FLAT_MARKUP = "flat_markup"
    FRENCH = "french"
    EQUAL_PRINCIPAL = "equal_principal"
    ZERO_INTEREST = "zero_interest"


class Periodicity(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"

    @property
    def periods_per_year(self) -> int:
        return _PERIODS_PER_YEAR[self]


_PERIODS_PER_YEAR = {
    Periodicity.DAILY: 365,
    Periodicity.WEEKLY: 52,
    Periodicity.BIWEEKLY: 26,
    Periodicity.MONTHLY: 12,
}


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    principal: Money
    installments: int
    periodicity: Periodicity
    first_due_date: date
    method: InterestMethod
    annual_rate: Decimal = Decimal(0)
    skip_sundays: bool = False
    skip_holidays: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.annual_rate, float):
            raise FloatRefused("The interest rate must be a Decimal, not a float.")
        if not isinstance(self.annual_rate, Decimal | int) or isinstance(self.annual_rate, bool):
            raise InvalidInput("The interest rate must be a Decimal.")
        if not Decimal(0) <= self.annual_rate <= MAX_ANNUAL_RATE:
            raise InvalidInput(
                f"The annual rate must be between 0 and {MAX_ANNUAL_RATE}.",
                details={"annual_rate": str(self.annual_rate)},
            )
        if isinstance(self.installments, bool) or not isinstance(self.installments, int):
            raise InvalidInput("The number of installments must be an integer.")
        if not 1 <= self.installments <= MAX_INSTALLMENTS:
            raise InvalidInput(f"The number of installments must be between 1 and {MAX_INSTALLMENTS}.")
        if not self.principal.is_positive:
            raise InvalidInput("The principal must be positive.")
        if self.principal.minor < self.installments:
            raise InvalidInput(
                "The principal is too small to give every installment at least one minor unit.",
                details={"principal": str(self.principal), "installments": self.installments},
            )

    @property
    def periodic_rate(self) -> Decimal:
        """The nominal annual rate divided by the periods in a year (see the module's day counts)."""
        return Decimal(self.annual_rate) / self.periodicity.periods_per_year


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    number: int
    due_date: date
    principal: Money
    interest: Money

    @property
    def amount(self) -> Money:
        return self.principal + self.interest


def require_rate_fits_method(method: InterestMethod, annual_rate: Decimal) -> None:
    """Refuse a rate the method cannot mean (checked when a credit is opened or refinanced).

    What `annual_rate` means per method (all nominal, 0 to MAX_ANNUAL_RATE):
    - ZERO_INTEREST: nothing; there is no interest. A non-zero rate would be silently ignored,
      so it is refused: the caller asked for interest the method will not charge.
    - FRENCH, EQUAL_PRINCIPAL: the rate on the declining balance. 0 is their limit case (level
      principal, no interest), the schedule the caller asked for; accepted.
    - FLAT_MARKUP: the flat add-on per year of term on the price. 0 is the seed's original case
      (the markup is already inside the price: earnings = price - cost); accepted.
    Schedules themselves stay generated for any rate in range, so credits stored before this rule
    can still be re-verified.
    """
    if method is InterestMethod.ZERO_INTEREST and annual_rate:
        raise RateContradictsMethod(
            "A zero-interest credit cannot have an annual rate: send 0, or choose an interest-bearing method.",
            details={"interest_method": method.value, "annual_rate": str(annual_rate)},
        )


def require_no_empty_installments(rows: list[ScheduledInstallment]) -> None:
    """Refuse a schedule with installments of 0.00 (rounding on a tiny amount at a huge rate can pay
    the loan off early and leave the last dates with nothing due, which no client can be asked for)."""
    empty = [row.number for row in rows if row.amount.is_zero]
    if empty:
        currency = rows[0].principal.currency
        raise EmptyInstallment(
            f"With these terms installments {empty[0]} to {empty[-1]} would be 0 {currency.code}: the amount "
            "is too small for so many installments at this rate. Use fewer installments, a larger amount "
            "or a lower rate.",
            details={"first_empty": empty[0], "last_empty": empty[-1], "empty_count": len(empty)},
        )


def add_months(start: date, months: int) -> date:
    """`start` moved by `months`, on the same day clamped to the target month's last day.

    Always step from the first due date (never from a clamped one), so Jan 31 gives Feb 29 and
    then Mar 31, not Mar 29.
    """
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_dates(
    first: date,
    periodicity: Periodicity,
    count: int,
    *,
    skip_sundays: bool = False,
    skip_holidays: bool = False,
    holidays: HolidayCalendar | None = None,
) -> list[date]:
    """The `count` due dates of a schedule (skipping applies to daily schedules only)."""
    try:
        return _due_dates(first, periodicity, count, skip_sundays, skip_holidays, holidays)
    except (OverflowError, ValueError) as exc:  # datetime's calendar ends on 9999-12-31
        raise InvalidInput(
            "The schedule would fall due after 9999-12-31: choose an earlier first due date.",
            details={"first_due_date": first.isoformat()},
        ) from exc


def _due_dates(
    first: date,
    periodicity: Periodicity,
    count: int,
    skip_sundays: bool,
    skip_holidays: bool,
    holidays: HolidayCalendar | None,
) -> list[date]:
    if periodicity is Periodicity.MONTHLY:
        return [add_months(first, k) for k in range(count)]
    if periodicity is not Periodicity.DAILY:
        step = 7 if periodicity is Periodicity.WEEKLY else 14
        return [first + timedelta(days=step * k) for k in range(count)]
    calendar_ = holidays or NoHolidays()

    def closed(day: date) -> bool:
        return (skip_sundays and day.weekday() == 6) or (skip_holidays and calendar_.is_holiday(day))

    dates: list[date] = []
    day = first
    while len(dates) < count:
        skipped = 0
        while closed(day):
            skipped += 1
            if skipped > _MAX_SKIPPED_DAYS:
                raise InvalidInput("The holiday calendar leaves no open day to fall due on.")
            day += timedelta(days=1)
        dates.append(day)
        day += timedelta(days=1)
    return dates


def level_parts(whole: Money, count: int, *, last_positive: bool) -> list[Money]:
    """`count` equal parts (rounded half-even) and a last part absorbing the rest; sum == whole.

    If the rounded level part would make the last part negative (or zero when `last_positive`),
    the level part is rounded down instead, so the last part is at least as large as the others.
    """
    if count == 1:
        return [whole]
    level = Money.rounded(whole.amount / count, whole.currency)
    last = whole - level * (count - 1)
    if last.is_negative or (last_positive and last.is_zero):
        level = floor_div(whole, count)
        last = whole - level * (count - 1)
    return [level] * (count - 1) + [last]


def generate_schedule(terms: ScheduleTerms, holidays: HolidayCalendar | None = None) -> list[ScheduledInstallment]:
    """The installments of `terms`; their amounts sum exactly to principal + interest."""
    dates = due_dates(
        terms.first_due_date,
        terms.periodicity,
        terms.installments,
        skip_sundays=terms.skip_sundays,
        skip_holidays=terms.skip_holidays,
        holidays=holidays,
    )
    method = terms.method
    if method is InterestMethod.ZERO_INTEREST or not terms.annual_rate:
        splits = _zero_interest(terms)
    elif method is InterestMethod.FLAT_MARKUP:
        splits = _flat_markup(terms)
    elif method is InterestMethod.FRENCH:
        splits = _french(terms)
    else:
        splits = _equal_principal(terms)
    return [
        ScheduledInstallment(number=k + 1, due_date=dates[k], principal=principal, interest=interest)
        for k, (principal, interest) in enumerate(splits)
    ]


def _zero_interest(terms: ScheduleTerms) -> list[tuple[Money, Money]]:
    zero = Money.zero(terms.principal.currency)
    return [(p, zero) for p in level_parts(terms.principal, terms.installments, last_positive=True)]


def _flat_markup(terms: ScheduleTerms) -> list[tuple[Money, Money]]:
    n = terms.installments
    years = Decimal(n) / terms.periodicity.periods_per_year
    interest = Money.rounded(terms.principal.amount * terms.annual_rate * years, terms.principal.currency)
    principals = level_parts(terms.principal, n, last_positive=True)
    interests = level_parts(interest, n, last_positive=False)
    return list(zip(principals, interests, strict=True))


def _french(terms: ScheduleTerms) -> list[tuple[Money, Money]]:
    n = terms.installments
    currency = terms.principal.currency
    rate = terms.periodic_rate
    with localcontext() as ctx:
        ctx.prec = 40  # (1 + r)^-n for n up to 1200 keeps ample significant digits
        payment_exact = terms.principal.amount * rate / (1 - (1 + rate) ** -n)
    payment = Money.rounded(payment_exact, currency)
    # On tiny amounts, interest rounding to zero can let the rounded payment pay the loan off
    # before the last period; one minor unit less restores a positive last installment.
    for level in (payment, payment - Money.from_minor(1, currency)):
        rows = _amortize(terms.principal, rate, n, level)
        if rows is not None:
            return rows
    return _amortize_clamped(terms.principal, rate, n, payment)


def _amortize(principal: Money, rate: Decimal, n: int, payment: Money) -> list[tuple[Money, Money]] | None:
    """The rows for a level `payment`, or None unless every principal part and the last are positive."""
    balance = principal
    rows: list[tuple[Money, Money]] = []
    for _ in range(n - 1):
        interest = balance.times(rate)
        part = payment - interest
        if not part.is_positive or part >= balance:
            return None
        rows.append((part, interest))
        balance -= part
    rows.append((balance, balance.times(rate)))
    return rows


def _amortize_clamped(principal: Money, rate: Decimal, n: int, payment: Money) -> list[tuple[Money, Money]]:
    """Last resort for degenerate tiny loans at huge rates: clamp each part into [0, balance]."""
    zero = Money.zero(principal.currency)
    balance = principal
    rows: list[tuple[Money, Money]] = []
    for _ in range(n - 1):
        interest = balance.times(rate)
        part = (payment - interest).max(zero).min(balance)
        rows.append((part, interest))
        balance -= part
    rows.append((balance, balance.times(rate)))
    return rows


def _equal_principal(terms: ScheduleTerms) -> list[tuple[Money, Money]]:
    rate = terms.periodic_rate
    balance = terms.principal
    rows: list[tuple[Money, Money]] = []
    for principal in level_parts(terms.principal, terms.installments, last_positive=True):
        rows.append((principal, balance.times(rate)))
        balance = balance - principal
    return rows
