"""The portfolio analysis job: the whole book folded into KPIs, aging and top debtors, with progress.

It walks credits by key (`id > last ORDER BY id LIMIT n`), feeding each chunk of credit figures to
the domain's `PortfolioAnalysis`, and writes `done`/`total` after every chunk (`total` from one
COUNT at the start). The seed's task paged with `Credit.objects.all()[offset:offset + n]`: OFFSET
makes PostgreSQL read and throw away `offset` rows for every page, so the walk costs O(n²) over the
book (the last pages of 5M credits each skip ~5M rows); a key walk costs the same on every page.

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
from adapters.orm.jobs.store import Claim, JobStore
from adapters.orm.queries.figures import SqlCreditFigures
from domain.analytics.model import CreditFigures, PortfolioAnalysis, PortfolioReport
from domain.analytics.ports import CreditFiguresQuery
from domain.credits.delinquency import DelinquencyPolicy
from domain.shared.aging import AgingBucket
from domain.shared.money import Money

_CREDITS = "SELECT id, user_id, agent_id, state, currency FROM credits_credit"


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
        figures: Callable[[str | None], CreditFiguresQuery],
        *,
        chunk_size: int = 2000,
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
            rows = query.chunk(after=after, limit=self._chunk, as_of=as_of)
            if not rows:
                break
            done += analysis.add(rows)
            after = rows[-1].credit_id
            # Credits opened during the run may push `done` past the COUNT taken at the start.
            if not self._store.progress(claim, done=done, total=max(total, done)):
                return "superseded"
            if self._pause:
                self._sleep(self._pause)
        report = analysis.report()
        result = report_json(
            report, as_of=as_of, currency=currency, at_risk_after_days=self._at_risk_after, credits=done
        )
        finished = self._store.succeed(claim, done=done, total=max(total, done), result=result, csv=report_csv(report))
        return "succeeded" if finished else "superseded"
