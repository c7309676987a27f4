"""Book-wide figures for admins: outstanding, collected, at-risk ratio and aging, per currency.

Set-based: one statement aggregates every credit's installments and groups the credits by
(currency, open, live days past due), which returns a few thousand rows at most (days past due
is bounded by the book's age); Python folds them into buckets with the domain's `bucket_for` and
the delinquency policy, so the rules live in one place.

This reads the whole installments table (about 12 rows per credit): seconds at Nivel 3, not
milliseconds. It is an admin screen; if it must be instant, serve it from a table the nightly job
fills (or cache it per business day) rather than per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from adapters.db.routing import read_cursor
from adapters.sql.currencies import currency_of
from adapters.sql.rules import days_past_due_sql, oldest_past_due_sql, open_sql, outstanding_sql, paid_sql
from domain.application.queries.portfolio import AgingRow, BookFigures
from domain.credits.delinquency import DelinquencyPolicy
from domain.shared.aging import AgingBucket, bucket_for
from domain.shared.money import Money

RATIO_PLACES = Decimal("0.0001")

_SQL = f"""
WITH per_credit AS (
    SELECT c.currency,
           {open_sql("c")} AS is_open,
           sum({paid_sql("i")}) AS paid,
           sum({outstanding_sql("i")}) AS outstanding,
           {oldest_past_due_sql("%s")} AS oldest_past_due
    FROM credits_credit c
    JOIN credits_installment i ON i.credit_id = c.id
    GROUP BY c.id
)
SELECT currency, is_open,
       CASE WHEN is_open THEN {days_past_due_sql("oldest_past_due", "%s")} ELSE 0 END AS dpd,
       count(*), sum(paid), sum(outstanding)
FROM per_credit
GROUP BY 1, 2, 3
"""

_COLLECTIONS_SQL = """
SELECT l.currency, l.paid_on, sum(l.amount)
FROM payments_line l
JOIN payments_payment p ON p.id = l.payment_id
WHERE l.paid_on BETWEEN %s AND %s AND p.status = 'posted'
GROUP BY 1, 2
ORDER BY 1, 2
"""


@dataclass(slots=True)
class _Acc:
    credits: int = 0
    open_credits: int = 0
    in_default: int = 0
    outstanding: Decimal = Decimal(0)
    collected: Decimal = Decimal(0)
    at_risk: Decimal = Decimal(0)
    aging: dict[AgingBucket, list] = field(default_factory=lambda: {b: [0, Decimal(0)] for b in AgingBucket})


class PortfolioQueries:
    def __init__(self, policy: DelinquencyPolicy, *, at_risk_after_days: int = 30) -> None:
        self._policy = policy
        self.at_risk_after_days = at_risk_after_days

    def book(self, *, as_of: date) -> list[BookFigures]:
        """Per currency (by code): counts, outstanding of open credits, everything ever collected,
        the outstanding more than `at_risk_after_days` past due (PAR30) and its share, and aging."""
        with read_cursor() as cursor:
            cursor.execute(_SQL, [as_of, as_of])
            rows = cursor.fetchall()
        acc: dict[str, _Acc] = {}
        for code, is_open, dpd, count, paid, outstanding in rows:
            a = acc.setdefault(code, _Acc())
            a.credits += count
            a.collected += paid or 0
            if not is_open:
                continue
            a.open_credits += count
            a.outstanding += outstanding or 0
            if self._policy.is_in_default(dpd):
                a.in_default += count
            if dpd > self.at_risk_after_days:
                a.at_risk += outstanding or 0
            cell = a.aging[bucket_for(dpd)]
            cell[0] += count
            cell[1] += outstanding or 0
        result = []
        for code in sorted(acc):
            a = acc[code]
            cur = currency_of(code)
            ratio = (a.at_risk / a.outstanding).quantize(RATIO_PLACES, ROUND_HALF_EVEN) if a.outstanding else Decimal(0)
            result.append(
                BookFigures(
                    currency=code,
                    credits=a.credits,
                    open_credits=a.open_credits,
                    in_default=a.in_default,
                    outstanding=Money(a.outstanding, cur),
                    collected=Money(a.collected, cur),
                    at_risk=Money(a.at_risk, cur),
                    at_risk_ratio=ratio,
                    aging=tuple(AgingRow(b, n, Money(v, cur)) for b, (n, v) in a.aging.items()),
                )
            )
        return result

    def collections_by_day(self, *, first: date, last: date) -> dict[str, dict[date, Money]]:
        """Money received per currency and business day, `first` to `last` inclusive (days with
        nothing received are absent), net of reversals like `collected`: a reversed payment leaves
        its day. Read from the payment lines, partitioned by that day, so only its months are read."""
        with read_cursor() as cursor:
            cursor.execute(_COLLECTIONS_SQL, [first, last])
            rows = cursor.fetchall()
        result: dict[str, dict[date, Money]] = {}
        for code, day, amount in rows:
            result.setdefault(code, {})[day] = Money(amount, currency_of(code))
        return result
