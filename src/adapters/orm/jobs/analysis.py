"""The portfolio analysis job: the whole book folded into KPIs, aging and top debtors, with progress.

It walks credits by key (`id > last ORDER BY id LIMIT n`) and writes `done`/`total` after every
chunk (`total` from one COUNT at the start; `done` counts the credits walked). The seed's task paged
with `Credit.objects.all()[offset:offset + n]`: OFFSET makes PostgreSQL read and throw away `offset`
rows for every page, so the walk costs O(n²) over the book; a key walk costs the same on every page.

Each chunk is aggregated set-based in PostgreSQL (`CreditFiguresOfCurrency.grouped_chunk`): one
statement sums every credit's installments and groups the credits by (currency, open, days past
due), and picks the chunk's top debtors per currency; Python only folds those few rows into the
domain's `PortfolioAnalysis.add_groups`. Folding one `CreditFigures` per credit in Python (what
`add` does, kept as the reference: tests/integration/test_analysis_grouped.py asserts both give the
same report) took 482 s over 5M credits. Chunks are large (JOBS_CHUNK_SIZE, default 50,000).

A redelivered job restarts from the beginning (its accumulator lives in memory); the claim in
`JobStore` makes it complete once.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from django.db import connection

from adapters.db.routing import read_cursor
from adapters.orm.currencies import currency_of
from adapters.orm.jobs.store import Claim, JobStore
from adapters.orm.queries.common import OUTSTANDING_SQL, money
from adapters.orm.queries.figures import SqlCreditFigures
from domain.analytics.model import (
    CreditFigures,
    Debtor,
    FiguresGroup,
    GroupedChunk,
    PortfolioAnalysis,
    PortfolioReport,
)
from domain.analytics.ports import BookFiguresQuery
from domain.credits.delinquency import DelinquencyPolicy
from domain.shared.aging import AgingBucket
from domain.shared.money import Money

_CREDITS = "SELECT id, user_id, agent_id, state, currency FROM credits_credit"

# The chunk's bounds: how many credits, and the last id (the key for the next chunk).
_BOUNDS_SQL = """
SELECT count(*), (array_agg(id ORDER BY id DESC))[1]
FROM (SELECT id FROM credits_credit WHERE {where} ORDER BY id LIMIT %(limit)s) c
"""
# The chunk's credits (ids in (after, last]) with their installments' sums, the same figures as
# `SqlCreditFigures` (pending only summed over unsettled installments: a settled one owes exactly 0,
# the `installment_settled_flag` constraint), grouped by (currency, open, days past due): rows `g`;
# then each currency's `top` open credits with the largest pending (ties: larger id): rows `t`.
# The range is stated on both tables so each reads only its slice of the (credit_id, ...) index.
_GROUPED_SQL = f"""
WITH per AS MATERIALIZED (
    SELECT c.id, c.user_id, c.currency, c.state IN ('active', 'defaulted') AS is_open,
           sum(i.paid_principal) + sum(i.paid_interest) + sum(i.paid_late_fee) AS paid,
           COALESCE(sum({OUTSTANDING_SQL}) FILTER (WHERE NOT i.is_settled), 0) AS pending,
           min(i.due_date) FILTER (WHERE NOT i.is_settled AND i.due_date < %(as_of)s) AS oldest
    FROM credits_credit c
    JOIN credits_installment i ON i.credit_id = c.id
    WHERE {{where}}
    GROUP BY c.id
), aged AS (
    SELECT id, user_id, currency, is_open, paid, pending,
           CASE WHEN is_open AND oldest IS NOT NULL THEN %(as_of)s::date - oldest ELSE 0 END AS dpd
    FROM per
)
SELECT 'g', currency, is_open, dpd, count(*), sum(paid), sum(pending), NULL::uuid, NULL::bigint
FROM aged
GROUP BY currency, is_open, dpd
UNION ALL
SELECT 't', currency, TRUE, dpd, rn, NULL, pending, id, user_id
FROM (
    SELECT currency, dpd, pending, id, user_id,
           row_number() OVER (PARTITION BY currency ORDER BY pending DESC, id DESC) AS rn
    FROM aged
    WHERE is_open AND pending > 0
) ranked
WHERE rn <= %(top)s
"""
# Per chunk the per-credit sums are hashed in memory (~1 kB a credit): enough for 100k credits.
_CHUNK_WORK_MEM = "256MB"


class CreditFiguresOfCurrency(SqlCreditFigures):
    """The figures query (adapters.orm.queries.figures), optionally limited to one currency.

    Without a currency it is exactly `SqlCreditFigures`. With one, the walk still goes by primary
    key (the filter is applied on the way), so each credit is read once: O(n) overall. Like it,
    reads go to a replica when there is one (the whole book read off the primary).
    """

    def __init__(self, policy: DelinquencyPolicy, currency: str | None = None) -> None:
        super().__init__(policy)
        self._currency = currency

    def chunk(self, *, after: UUID | None, limit: int, as_of: date) -> list[CreditFigures]:
        if self._currency is None:
            return super().chunk(after=after, limit=limit, as_of=as_of)
        if after is None:
            return self._run(f"{_CREDITS} WHERE currency = %s ORDER BY id LIMIT %s", [self._currency, limit], as_of)
        return self._run(
            f"{_CREDITS} WHERE currency = %s AND id > %s ORDER BY id LIMIT %s", [self._currency, after, limit], as_of
        )

    def count(self) -> int:
        if self._currency is None:
            return super().count()
        with read_cursor() as cursor:
            cursor.execute("SELECT count(*) FROM credits_credit WHERE currency = %s", [self._currency])
            return int(cursor.fetchone()[0])

    def grouped_chunk(self, *, after: UUID | None, limit: int, as_of: date, top: int) -> GroupedChunk:
        """The next `limit` credits after `after` (id order), aggregated and grouped in PostgreSQL."""
        params: dict[str, object] = {"after": after, "limit": limit, "as_of": as_of, "top": top}
        where = [] if after is None else ["id > %(after)s"]
        if self._currency is not None:
            params["currency"] = self._currency
            where.append("currency = %(currency)s")
        with read_cursor() as cursor:
            cursor.execute(_BOUNDS_SQL.format(where=" AND ".join(where) or "TRUE"), params)
            scanned, last = cursor.fetchone()
            if not scanned:
                return GroupedChunk(0, None, (), ())
            params["last"] = last
            ranges = ["c.id <= %(last)s", "i.credit_id <= %(last)s"]
            if after is not None:
                ranges += ["c.id > %(after)s", "i.credit_id > %(after)s"]
            if self._currency is not None:
                ranges.append("c.currency = %(currency)s")
            cursor.execute("SELECT set_config('work_mem', %s, false)", [_CHUNK_WORK_MEM])
            try:
                cursor.execute(_GROUPED_SQL.format(where=" AND ".join(ranges)), params)
                rows = cursor.fetchall()
            finally:
                cursor.execute("RESET work_mem")
        groups: list[FiguresGroup] = []
        debtors: list[Debtor] = []
        for kind, code, is_open, days, count, paid, pending, credit_id, user_id in rows:
            currency = currency_of(code)
            if kind == "g":
                groups.append(
                    FiguresGroup(
                        currency=currency,
                        is_open=is_open,
                        days_past_due=days,
                        is_in_default=is_open and self._policy.is_in_default(days),
                        credits=count,
                        paid=money(paid, code),
                        pending=money(pending if is_open else None, code),
                    )
                )
            else:
                debtors.append(Debtor(user_id, credit_id, money(pending, code), days))
        return GroupedChunk(int(scanned), last, tuple(groups), tuple(debtors))


def _money(value: Money) -> dict[str, str]:
    return {"amount": f"{value.amount:f}", "currency": value.currency.code}


def _public_ids(user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, public_id FROM identity_user WHERE id = ANY(%s)", [list(user_ids)])
        return {uid: str(public) for uid, public in cursor.fetchall()}


def report_json(
    report: PortfolioReport, *, as_of: date, currency: str | None, at_risk_after_days: int, credits: int
) -> dict[str, Any]:
    """The report as the API returns it (money as strings; clients by their public id)."""
    clients = _public_ids({d.user_id for debtors in report.top_debtors.values() for d in debtors})
    return {
        "as_of": as_of.isoformat(),
        "currency": currency,
        "at_risk_after_days": at_risk_after_days,
        "credits_analysed": credits,
        "kpis": [
            {
                "currency": k.currency.code,
                "credits": k.credits,
                "open_credits": k.open_credits,
                "in_default": k.in_default,
                "outstanding": _money(k.outstanding),
                "collected": _money(k.collected),
                "at_risk": _money(k.at_risk),
                "at_risk_ratio": f"{k.at_risk_ratio:f}",
                "aging": [
                    {"bucket": b.value, "credits": k.aging_counts[b], "outstanding": _money(k.aging[b])}
                    for b in AgingBucket
                ],
            }
            for k in report.kpis
        ],
        "top_debtors": {
            code: [
                {
                    "client_id": clients.get(d.user_id),
                    "credit_id": str(d.credit_id),
                    "pending": _money(d.pending),
                    "days_past_due": d.days_past_due,
                }
                for d in debtors
            ]
            for code, debtors in sorted(report.top_debtors.items())
        },
    }


def report_csv(report: PortfolioReport) -> str:
    """The domain's CSV rows, with a top debtor's internal user id replaced by the client's public id."""
    clients = _public_ids({d.user_id for debtors in report.top_debtors.values() for d in debtors})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in report.csv_rows():
        if row[0] == "top_debtor":
            row = [row[0], row[1], clients.get(int(row[2]), row[2]), row[3]]
        writer.writerow(row)
    return out.getvalue()


class PortfolioAnalysisJob:
    """Runs one portfolio-analysis job row to completion (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        figures: Callable[[str | None], BookFiguresQuery],
        *,
        chunk_size: int = 50_000,
        pause_seconds: float = 0.0,
        at_risk_after_days: int = 30,
        top: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._figures = figures
        self._chunk = chunk_size
        self._pause = pause_seconds
        self._at_risk_after = at_risk_after_days
        self._top = top
        self._sleep = sleep

    def run(self, job_id: UUID) -> str:
        """ "succeeded", or "skipped" (finished or unknown job), or "superseded" (another delivery took it)."""
        claim = self._store.claim(job_id)
        if claim is None:
            return "skipped"
        return self._run(claim)

    def _run(self, claim: Claim) -> str:
        as_of = date.fromisoformat(claim.params["as_of"])
        currency = claim.params.get("currency")
        query = self._figures(currency)
        total = query.count()
        if not self._store.progress(claim, done=0, total=total):
            return "superseded"
        analysis = PortfolioAnalysis(at_risk_after_days=self._at_risk_after, top=self._top)
        after: UUID | None = None
        done = 0
        while True:
            chunk = query.grouped_chunk(after=after, limit=self._chunk, as_of=as_of, top=self._top)
            if chunk.last is None:
                break
            analysis.add_groups(chunk.groups, chunk.debtors)
            done += chunk.scanned
            after = chunk.last
            # Credits opened during the run may push `done` past the COUNT taken at the start.
            if not self._store.progress(claim, done=done, total=max(total, done)):
                return "superseded"
            if self._pause:
                self._sleep(self._pause)
        report = analysis.report()
        result = report_json(
            report, as_of=as_of, currency=currency, at_risk_after_days=self._at_risk_after, credits=analysis.rows_seen
        )
        finished = self._store.succeed(claim, done=done, total=max(total, done), result=result, csv=report_csv(report))
        return "succeeded" if finished else "superseded"
