"""Read models: per-user credit summaries, portfolio KPIs and aging, agents' collection lists,
and a chunkable portfolio analysis with real progress.

They are computed from plain rows (`CreditFigures`, `DueInstallment`) that a query port fetches
with lean SQL, so the hot read paths never rebuild aggregates. Credit states arrive as strings:
this context does not import the credits context.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from uuid import UUID

from domain.shared.aging import AgingBucket, bucket_for
from domain.shared.credit_states import OPEN_STATE_VALUES
from domain.shared.errors import InvalidInput
from domain.shared.money import Currency, Money

OPEN_STATES = frozenset(OPEN_STATE_VALUES)
# The portfolio analysis' CSV columns (`PortfolioReport.csv_rows`).
CSV_HEADER = ("section", "currency", "key", "value", "credit_id", "days_past_due")
RATIO_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class CreditFigures:
    """One credit's figures as of a date (one row of a summary query)."""

    credit_id: UUID
    user_id: int
    agent_id: int | None
    state: str
    total: Money
    paid: Money
    pending: Money
    overdue: Money
    next_due_date: date | None
    next_due_amount: Money | None
    days_past_due: int
    is_in_default: bool

    @property
    def currency(self) -> Currency:
        return self.total.currency

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True, slots=True)
class CurrencySummary:
    currency: Currency
    credits: int
    total: Money
    pending: Money
    overdue: Money
    next_due_date: date | None
    next_due_amount: Money | None


@dataclass(frozen=True, slots=True)
class CreditSummary:
    """What a client's summary shows: counts, then money per currency (never summed across)."""

    user_id: int
    credits: int
    open_credits: int
    in_default: int
    by_currency: tuple[CurrencySummary, ...]


def summarize_user(user_id: int, rows: Iterable[CreditFigures]) -> CreditSummary:
    groups: dict[Currency, list[CreditFigures]] = defaultdict(list)
    count = open_count = in_default = 0
    for row in rows:
        count += 1
        open_count += row.is_open
        in_default += row.is_open and row.is_in_default
        groups[row.currency].append(row)
    per_currency = []
    for currency in sorted(groups, key=lambda c: c.code):
        items = groups[currency]
        zero = Money.zero(currency)
        upcoming = [r for r in items if r.is_open and r.next_due_date is not None]
        nearest = min(upcoming, key=lambda r: r.next_due_date or date.max, default=None)
        per_currency.append(
            CurrencySummary(
                currency=currency,
                credits=len(items),
                total=sum((r.total for r in items), zero),
                pending=sum((r.pending for r in items), zero),
                overdue=sum((r.overdue for r in items if r.is_open), zero),
                next_due_date=nearest.next_due_date if nearest else None,
                next_due_amount=nearest.next_due_amount if nearest else None,
            )
        )
    return CreditSummary(user_id, count, open_count, in_default, tuple(per_currency))


def _ratio(part: Money, whole: Money) -> Decimal:
    if whole.is_zero:
        return Decimal(0)
    return (part.amount / whole.amount).quantize(RATIO_PLACES, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class PortfolioKpis:
    currency: Currency
    credits: int
    open_credits: int
    in_default: int
    outstanding: Money
    collected: Money
    at_risk: Money
    at_risk_ratio: Decimal
    aging: dict[AgingBucket, Money]
    aging_counts: dict[AgingBucket, int]


@dataclass(slots=True)
class _Totals:
    currency: Currency
    credits: int = 0
    open_credits: int = 0
    in_default: int = 0
    outstanding: Decimal = Decimal(0)
    collected: Decimal = Decimal(0)
    at_risk: Decimal = Decimal(0)
    aging: dict[AgingBucket, Decimal] = field(default_factory=lambda: dict.fromkeys(AgingBucket, Decimal(0)))
    aging_counts: dict[AgingBucket, int] = field(default_factory=lambda: dict.fromkeys(AgingBucket, 0))


@dataclass(frozen=True, slots=True)
class Debtor:
    user_id: int
    credit_id: UUID
    pending: Money
    days_past_due: int


@dataclass(frozen=True, slots=True)
class FiguresGroup:
    """Credits of one currency with the same open-ness and days past due, summed (a row of a
    grouped query): what `PortfolioAnalysis.add` folds per credit, folded per group instead.

    `credits` counts them; `paid` and `pending` are their sums (`pending` is only used when open);
    `days_past_due` and `is_in_default` are each credit's (0 and False when closed).
    """

    currency: Currency
    is_open: bool
    days_past_due: int
    is_in_default: bool
    credits: int
    paid: Money
    pending: Money


@dataclass(frozen=True, slots=True)
class BookChunk:
    """A keyset chunk of the book: the `credits` credits with ids in (`after`, `last`]."""

    after: UUID | None
    last: UUID
    credits: int


@dataclass(frozen=True, slots=True)
class GroupedChunk:
    """A chunk's credits, already grouped, and the chunk's own top debtors per currency (open
    credits with pending > 0, largest pending first, ties to the larger credit id: the book's top
    N are always among its chunks' top N). `credits` counts the chunk's credits (progress)."""

    credits: int
    groups: tuple[FiguresGroup, ...]
    debtors: tuple[Debtor, ...]


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    kpis: tuple[PortfolioKpis, ...]
    top_debtors: dict[str, tuple[Debtor, ...]]

    def csv_rows(self) -> list[list[str]]:
        """The report as rows for a CSV download (the adapter writes the file).

        A top debtor is a credit: its row's key is the client (one client may hold several of the
        top credits), with the credit's id and days past due in the last columns, empty elsewhere.
        """
        rows = [list(CSV_HEADER)]
        for k in self.kpis:
            code = k.currency.code
            figures = [
                ("kpi", "credits", str(k.credits)),
                ("kpi", "open_credits", str(k.open_credits)),
                ("kpi", "in_default", str(k.in_default)),
                ("kpi", "outstanding", f"{k.outstanding.amount:f}"),
                ("kpi", "collected", f"{k.collected.amount:f}"),
                ("kpi", "at_risk", f"{k.at_risk.amount:f}"),
                ("kpi", "at_risk_ratio", f"{k.at_risk_ratio:f}"),
                *(("aging", bucket.value, f"{k.aging[bucket].amount:f}") for bucket in AgingBucket),
            ]
            rows += [[section, code, key, value, "", ""] for section, key, value in figures]
        for code, debtors in sorted(self.top_debtors.items()):
            rows += [
                ["top_debtor", code, str(d.user_id), f"{d.pending.amount:f}", str(d.credit_id), str(d.days_past_due)]
                for d in debtors
            ]
        return rows


class PortfolioAnalysis:
    """Accumulates credit rows chunk by chunk (a job feeds it keyset pages) into KPIs and aging;
    or the same figures already grouped by a query (`add_groups`): both give the same report.

    `at_risk_after_days`: a credit is at risk when more than this many days past due (PAR30 by
    default). `top` debtors per currency are kept with a bounded heap, so memory does not grow
    with the book.
    """

    def __init__(self, *, at_risk_after_days: int = 30, top: int = 10) -> None:
        if at_risk_after_days < 0 or top < 0:
            raise InvalidInput("at_risk_after_days and top cannot be negative.")
        self._at_risk_after = at_risk_after_days
        self._top = top
        self._totals: dict[Currency, _Totals] = {}
        self._heaps: dict[Currency, list[tuple[Decimal, str, Debtor]]] = defaultdict(list)
        self.rows_seen = 0

    def add(self, rows: Iterable[CreditFigures]) -> int:
        """Fold a chunk of rows in; returns how many were added."""
        added = 0
        for row in rows:
            added += 1
            self._fold(row.currency, row.is_open, row.days_past_due, row.is_in_default, 1, row.paid, row.pending)
            if row.is_open:
                self._offer(Debtor(row.user_id, row.credit_id, row.pending, row.days_past_due))
        self.rows_seen += added
        return added

    def add_groups(self, groups: Iterable[FiguresGroup], debtors: Iterable[Debtor] = ()) -> int:
        """Fold grouped rows in (the same figures as `add` over their credits), and candidate top
        debtors (open credits; every credit that could be in the top N must be offered); returns
        how many credits the groups hold."""
        added = 0
        for g in groups:
            added += g.credits
            self._fold(g.currency, g.is_open, g.days_past_due, g.is_in_default, g.credits, g.paid, g.pending)
        for debtor in debtors:
            self._offer(debtor)
        self.rows_seen += added
        return added

    def _fold(
        self, currency: Currency, is_open: bool, days: int, in_default: bool, credits: int, paid: Money, pending: Money
    ) -> None:
        t = self._totals.get(currency)
        if t is None:
            t = self._totals[currency] = _Totals(currency)
        t.credits += credits
        t.collected += paid.amount
        if not is_open:
            return
        t.open_credits += credits
        t.in_default += credits if in_default else 0
        t.outstanding += pending.amount
        bucket = bucket_for(days)
        t.aging[bucket] += pending.amount
        t.aging_counts[bucket] += credits
        if days > self._at_risk_after:
            t.at_risk += pending.amount

    def _offer(self, debtor: Debtor) -> None:
        if not self._top or not debtor.pending.is_positive:
            return
        # str(credit_id) breaks ties deterministically without comparing Debtor objects.
        item = (debtor.pending.amount, str(debtor.credit_id), debtor)
        heap = self._heaps[debtor.pending.currency]
        if len(heap) < self._top:
            heapq.heappush(heap, item)
        else:
            heapq.heappushpop(heap, item)

    def report(self) -> PortfolioReport:
        kpis = []
        for currency in sorted(self._totals, key=lambda c: c.code):
            t = self._totals[currency]
            outstanding = Money(t.outstanding, currency)
            at_risk = Money(t.at_risk, currency)
            kpis.append(
                PortfolioKpis(
                    currency=currency,
                    credits=t.credits,
                    open_credits=t.open_credits,
                    in_default=t.in_default,
                    outstanding=outstanding,
                    collected=Money(t.collected, currency),
                    at_risk=at_risk,
                    at_risk_ratio=_ratio(at_risk, outstanding),
                    aging={b: Money(v, currency) for b, v in t.aging.items()},
                    aging_counts=dict(t.aging_counts),
                )
            )
        top = {
            currency.code: tuple(item[2] for item in sorted(heap, key=lambda i: (-i[0], i[1])))
            for currency, heap in self._heaps.items()
        }
        return PortfolioReport(tuple(kpis), top)


def portfolio_kpis(rows: Iterable[CreditFigures], *, at_risk_after_days: int = 30) -> tuple[PortfolioKpis, ...]:
    analysis = PortfolioAnalysis(at_risk_after_days=at_risk_after_days, top=0)
    analysis.add(rows)
    return analysis.report().kpis


@dataclass(frozen=True, slots=True)
class JobProgress:
    done: int
    total: int

    @property
    def fraction(self) -> Decimal:
        if self.total <= 0:
            return Decimal(1)
        return (Decimal(min(self.done, self.total)) / self.total).quantize(RATIO_PLACES, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class DueInstallment:
    """One unsettled installment in an agent's work list."""

    installment_id: UUID
    credit_id: UUID
    user_id: int
    agent_id: int | None
    number: int
    due_date: date
    outstanding: Money


def due_on(rows: Iterable[DueInstallment], day: date) -> list[DueInstallment]:
    """Installments falling due on `day` (due today, due tomorrow), oldest credit first."""
    return sorted((r for r in rows if r.due_date == day), key=lambda r: (r.due_date, str(r.credit_id), r.number))


def overdue(rows: Iterable[DueInstallment], as_of: date) -> list[DueInstallment]:
    """Installments past their due date, most overdue first."""
    return sorted((r for r in rows if r.due_date < as_of), key=lambda r: (r.due_date, str(r.credit_id), r.number))
