"""The portfolio analysis job: the whole book folded into KPIs, aging and top debtors, with progress.

It walks credits by key (chunks of ids in (after, last], the next `last` found from `after`) and
writes `done`/`total` after every chunk (`total` from one COUNT at the start; `done` counts the
credits walked). The seed's task paged with `Credit.objects.all()[offset:offset + n]`: OFFSET from
the start makes PostgreSQL read and throw away `offset` rows for every page, O(n²) over the book.

Each chunk is aggregated set-based in PostgreSQL (`CreditFiguresOfCurrency.grouped`): one statement
sums every credit's installments, groups the credits by (currency, open, days past due) and picks
the chunk's top debtors per currency; Python only folds those few rows with the domain's
`PortfolioAnalysis.add_groups`. Folding one `CreditFigures` per credit in Python (`add`, kept as the
reference: tests/integration/test_analysis_grouped.py asserts both give the same report) took 482 s
over 5M credits. Chunks are large (JOBS_CHUNK_SIZE, default 50,000), and ANALYSIS_WORKERS sessions
group them in parallel (`PortfolioAnalysisJob`).

A redelivered job restarts from the beginning (its accumulator lives in memory); the claim in
`JobStore` makes it complete once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any
from uuid import UUID

from django.db import connection, connections

from adapters.db.routing import read_cursor
from adapters.jobs.store import Claim, JobStore
from adapters.queries.common import money
from adapters.queries.figures import SqlCreditFigures
from adapters.sql.currencies import currency_of
from adapters.sql.rules import days_past_due_sql, oldest_past_due_sql, open_sql, outstanding_sql, paid_sql
from domain.analytics.model import (
    BookChunk,
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

# A chunk's last credit when the chunk is full; else (the book's tail) how many are left and the last.
_CHUNK_END_SQL = "SELECT id FROM credits_credit WHERE {where} ORDER BY id OFFSET %(skip)s LIMIT 1"
_TAIL_SQL = "SELECT count(*), (array_agg(id ORDER BY id DESC))[1] FROM credits_credit WHERE {where}"
# The chunk's credits (ids in (after, last]) with their installments' sums, the same figures as
# `SqlCreditFigures` (pending only summed over unsettled installments: a settled one owes exactly 0,
# the `installment_settled_flag` constraint), grouped by (currency, open, days past due): rows `g`;
# then each currency's `top` open credits with the largest pending (ties: larger id): rows `t`.
# The range is stated on both tables so each reads only its slice of the index on credit_id.
_GROUPED_SQL = f"""
WITH per AS MATERIALIZED (
    SELECT c.id, c.user_id, c.currency, {open_sql("c")} AS is_open, f.paid, f.pending,
           CASE WHEN {open_sql("c")} THEN {days_past_due_sql("f.oldest", "%(as_of)s")} ELSE 0 END AS dpd
    FROM credits_credit c
    JOIN (
        SELECT i.credit_id,
               sum({paid_sql("i")}) AS paid,
               COALESCE(sum({outstanding_sql("i")}) FILTER (WHERE NOT i.is_settled), 0) AS pending,
               {oldest_past_due_sql("%(as_of)s")} AS oldest
        FROM credits_installment i
        WHERE {{installments}}
        GROUP BY i.credit_id
    ) f ON f.credit_id = c.id
    WHERE {{credits}}
)
SELECT 'g', currency, is_open, dpd, count(*), sum(paid), sum(pending), NULL::uuid, NULL::bigint
FROM per
GROUP BY currency, is_open, dpd
UNION ALL
SELECT 't', currency, TRUE, dpd, rn, NULL, pending, id, user_id
FROM (
    SELECT currency, dpd, pending, id, user_id,
           row_number() OVER (PARTITION BY currency ORDER BY pending DESC, id DESC) AS rn
    FROM per
    WHERE is_open AND pending > 0
) ranked
WHERE rn <= %(top)s
"""
# The plan wanted for a chunk, set for its statement and reset after: the installments read in
# index order (credit_id, number) and summed credit by credit as they stream (GroupAggregate, then a
# merge join with the credits' primary key), neither hashed nor sorted. The planner overestimates
# the rows of a range of credit ids and otherwise picks a bitmap scan with hash aggregation (about
# twice the CPU); JIT compiles for ~70 ms a chunk and gains nothing on numeric sums.
_CHUNK_SETTINGS = {"enable_hashagg": "off", "enable_bitmapscan": "off", "jit": "off", "work_mem": "64MB"}


class CreditFiguresOfCurrency(SqlCreditFigures):
    """The figures query (adapters.queries.figures), optionally limited to one currency.

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

    def next_chunk(self, *, after: UUID | None, limit: int) -> BookChunk | None:
        """The next `limit` credits after `after` in id order (keyset on the primary key)."""
        params: dict[str, object] = {"after": after, "skip": max(limit, 1) - 1, "currency": self._currency}
        where = [] if after is None else ["id > %(after)s"]
        if self._currency is not None:
            where.append("currency = %(currency)s")
        condition = " AND ".join(where) or "TRUE"
        with read_cursor() as cursor:
            cursor.execute(_CHUNK_END_SQL.format(where=condition), params)
            row = cursor.fetchone()
            if row is not None:
                return BookChunk(after, row[0], max(limit, 1))
            cursor.execute(_TAIL_SQL.format(where=condition), params)
            credits, last = cursor.fetchone()
        return BookChunk(after, last, int(credits)) if credits else None

    def grouped(self, chunk: BookChunk, *, as_of: date, top: int) -> GroupedChunk:
        """The chunk's credits aggregated and grouped in PostgreSQL (`_GROUPED_SQL`)."""
        params: dict[str, object] = {
            "after": chunk.after,
            "last": chunk.last,
            "as_of": as_of,
            "top": top,
            "currency": self._currency,
        }
        installments = ["i.credit_id <= %(last)s"] + ([] if chunk.after is None else ["i.credit_id > %(after)s"])
        credits = ["c.id <= %(last)s"] + ([] if chunk.after is None else ["c.id > %(after)s"])
        if self._currency is not None:
            credits.append("c.currency = %(currency)s")
        sql = _GROUPED_SQL.format(installments=" AND ".join(installments), credits=" AND ".join(credits))
        names = list(_CHUNK_SETTINGS)
        with read_cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in names),
                [v for name in names for v in (name, _CHUNK_SETTINGS[name])],
            )
            try:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
            finally:
                cursor.execute(
                    "SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = ANY(%s)", [names]
                )
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
        return GroupedChunk(chunk.credits, tuple(groups), tuple(debtors))


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
            row = [*row[:2], clients.get(int(row[2]), row[2]), *row[3:]]
        writer.writerow(row)
    return out.getvalue()


class PortfolioAnalysisJob:
    """Runs one portfolio-analysis job row to completion (see the module docstring).

    With `workers` > 1 (no pause between chunks, and not inside a caller's transaction, whose
    uncommitted rows other sessions could not see) the chunks' grouped statements run in that many
    threads, each with its own database session, while this thread finds the next chunks' bounds and
    folds the results in order: the work is CPU in the server, one backend per core.
    """

    def __init__(
        self,
        store: JobStore,
        figures: Callable[[str | None], BookFiguresQuery],
        *,
        chunk_size: int = 50_000,
        pause_seconds: float = 0.0,
        workers: int = 1,
        at_risk_after_days: int = 30,
        top: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._figures = figures
        self._chunk = chunk_size
        self._pause = pause_seconds
        self._workers = max(1, workers)
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
        done = 0
        with contextlib.closing(self._grouped_chunks(query, as_of)) as chunks:
            for chunk in chunks:
                analysis.add_groups(chunk.groups, chunk.debtors)
                done += chunk.credits
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

    def _chunks(self, query: BookFiguresQuery) -> Iterator[BookChunk]:
        after: UUID | None = None
        while (chunk := query.next_chunk(after=after, limit=self._chunk)) is not None:
            yield chunk
            after = chunk.last

    def _grouped_chunks(self, query: BookFiguresQuery, as_of: date) -> Generator[GroupedChunk, None, None]:
        """The book's chunks grouped, in key order; closing the iterator early stops the walk."""
        if self._workers <= 1 or self._pause or connection.in_atomic_block:
            for chunk in self._chunks(query):
                yield query.grouped(chunk, as_of=as_of, top=self._top)
            return

        def grouped(chunk: BookChunk) -> GroupedChunk:
            try:
                return query.grouped(chunk, as_of=as_of, top=self._top)
            finally:
                connections.close_all()  # this pool thread's sessions; the next chunk opens its own

        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="analysis") as pool:
            running: deque[Future[GroupedChunk]] = deque()
            chunks = self._chunks(query)
            try:
                for chunk in chunks:
                    running.append(pool.submit(grouped, chunk))
                    if len(running) > self._workers:
                        yield running.popleft().result()
                while running:
                    yield running.popleft().result()
            finally:
                for future in running:
                    future.cancel()
