"""The nightly delinquency run over the whole book in set-based SQL: late fees and their ledger
bookings, the delinquency snapshot, and active <-> defaulted with their credit events.

It does for every open credit what the domain's per-credit reference does
(`domain.application.use_cases.apply_late_fees`, then `recompute_delinquency`), in a handful of
statements instead of a Python loop over aggregates:

1. **Prepare** (one REPEATABLE READ snapshot, read-only on the book, into work tables):
   - `jobs_nightly_inst`: every unsettled installment of an open credit whose due date has passed, read
     through the partial index on `due_date` (only what is still to collect, never the whole table);
   - `jobs_nightly_work`: the open credits that can change tonight: those with such an installment, plus those
     whose stored snapshot is not clear or that are defaulted (they may cure). Every other open
     credit is current and stays exactly as it is, so it is not touched;
   - `jobs_nightly_fee`: per overdue installment, `LateFeePolicy.charge_due`: the fee accrued after the grace
     days, `base * monthly_rate * days_late / days_per_month` on the principal and interest still
     owed, capped at `cap_share * amount`, each rounded half-even to the currency's minor units,
     minus what is already charged, when positive;
   - `jobs_nightly_plan`: per credit, the fee total, the new snapshot (days past due of the oldest overdue
     installment, aging bucket, missed installments, morosidad level, in default) and the new state,
     kept only where something changes. Running twice for a date therefore finds nothing to do.
2. **Apply** in chunks of `chunk_size` credits by credit-id range, one bounded transaction each,
   `workers` sessions in parallel (disjoint ranges): update the chunk's credits (snapshot, state,
   `version`) where the version is still the one the
   plan read, then, for exactly those credits, raise the installments' `late_fee`, insert one
   late-fee transaction per credit charged with its two postings (receivable D, late-fee income C;
   exactly `domain.ledger.entries.late_fee`) into the business date's monthly partition, and append
   the DEFAULTED / CURED events (`Credit.refresh_delinquency`).
3. **Fallback**: a credit whose version moved since the plan was read (a payment landed meanwhile)
   is not written by the SQL; it goes through the domain's per-credit use cases afterwards, under
   its row lock. Exact either way.
4. **Isolation**: one credit whose values the database refuses (a figure beyond numeric(20,4), a
   check or a trigger) must not stop the book. A chunk's statements run in a savepoint; when one
   fails for such a reason, the chunk's range is halved and each half applied in its own savepoint,
   down to the credit(s) refused: those are set aside (their id and the database's reason on the
   job's result and in the log, and health says degraded), everything else is written set-based as
   usual, a few statements per halving. Nothing of a set-aside credit is written, so the next run
   plans it again and retries it. The fallback's credits are isolated the same way. An error that
   is no credit's fault (a lost connection, a lock timeout, a broken statement) still stops the run,
   which is retried whole.

The rules the SQL shares with the domain (open states, what an installment still owes, the aging
bucket, the late fee and its half-even rounding) are the fragments of `adapters.sql.rules`, each
tested against the domain (tests/integration/test_sql_rules.py); the run as a whole is tested
credit by credit against the domain's use cases on a generated book.

`delinquency_as_of` is written on the credits the run changes; a credit it leaves alone is
current and its snapshot is still true as of the run (the run's date is on its `jobs_job` row).
Rewriting every open credit each night only to move that date would cost a full-table UPDATE.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    DataError,
    IntegrityError,
    InternalError,
    connection,
    connections,
    transaction,
)

from adapters.db.partitioning import ensure_month_partitions
from adapters.sql.currencies import currency_of
from adapters.sql.rules import (
    amount_sql,
    bucket_sql,
    days_past_due_sql,
    due_sql,
    fees_sql,
    open_sql,
    outstanding_sql,
    paid_sql,
    scheduled_outstanding_sql,
)
from domain.application import use_cases as services
from domain.application.audit import Figures
from domain.application.ports import SYSTEM, Policies, Ports
from domain.application.use_cases.common import save_credit
from domain.credits.delinquency import Delinquency
from domain.credits.model import CreditEventKind, CreditState
from domain.ledger import accounts
from domain.ledger.model import Side, Source, TransactionStatus, TransactionType
from domain.shared.aging import AgingBucket
from domain.shared.errors import DomainError

# `Credit.refresh_delinquency`'s reason for the DEFAULTED event (compared with the domain's in tests).
DEFAULT_REASON = "days past due over the default threshold"
_LOCK_KEY = 0x6E6967687431  # pg advisory lock: one nightly run at a time per database
_MIN_ID = UUID(int=0)
_MAX_ID = UUID(int=(1 << 128) - 1)
# Work tables: UNLOGGED (no WAL; a crash empties them, which only means the run starts over), in
# shared buffers and visible to every applying session; nj_locked is each session's own.
_TABLES = "jobs_nightly_inst, jobs_nightly_work, jobs_nightly_fee, jobs_nightly_plan, nj_locked"
log = logging.getLogger("jobs")
# What the database says about a credit's own values (out of a column's range, a check constraint,
# a trigger's refusal): set the credit aside. Anything else stops the run.
CREDIT_FAULTS = (DataError, IntegrityError, InternalError)
# The job's result lists at most this many set-aside credits (all are logged; the total is kept).
SET_ASIDE_LISTED = 1000


class NightlyAlreadyRunning(Exception):
    """Another nightly run holds the lock (the task retries later)."""


@contextmanager
def _sole_run(as_of: date) -> Iterator[None]:
    """One nightly run at a time per database: an advisory lock held by a transaction of a connection
    of its own, open for the whole run. Transaction-scoped on purpose: behind pgbouncer's transaction
    pooling a session lock stays with whichever server connection took it (and its unlock may reach
    another), while an open transaction keeps its server connection. A run that dies takes its
    connection, and the lock, with it. The transaction only holds the lock: no snapshot, no writes."""
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY])
            if not cursor.fetchone()[0]:
                raise NightlyAlreadyRunning(f"A nightly run is in progress (as of {as_of}).")
        yield
    finally:
        with contextlib.suppress(DatabaseError):
            holder.rollback()
        holder.close()


# A version-7 UUID (48-bit millisecond timestamp, then random bits), like domain.shared.ids.
UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING "
    "substring(int8send((extract(epoch FROM %(now)s::timestamptz) * 1000)::bigint) FROM 3) FROM 1 FOR 6), "
    "52, 1), 53, 1), 'hex')::uuid"
)


def _prepare_sql(thresholds: tuple[int, ...]) -> list[str]:
    # OFFSET 0 (here and in fees_sql) keeps a subquery from being merged into its parent, which
    # would evaluate its expressions once per reference.
    # LateFeePolicy.charge_due applies past the grace days, on principal and interest still owed.
    overdue = """
        SELECT i.id, i.credit_id, i.late_fee, i.base, i.amount, i.due_date, w.minor_units
        FROM jobs_nightly_inst i JOIN jobs_nightly_work w ON w.id = i.credit_id
        WHERE i.due_date < %(as_of)s::date - %(grace_days)s::int AND i.base > 0
    """
    level = " + ".join(f"(w.missed >= {int(t)})::int" for t in thresholds) or "0"
    return [
        f"DROP TABLE IF EXISTS {_TABLES}",
        # Overdue, unsettled installments of open credits (the partial index on due_date).
        f"""
        CREATE UNLOGGED TABLE jobs_nightly_inst AS
        SELECT i.id, i.credit_id, i.due_date, i.late_fee,
               {scheduled_outstanding_sql("i")} AS base, {amount_sql("i")} AS amount
        FROM credits_installment i
        WHERE NOT i.is_settled AND i.credit_open AND i.due_date < %(as_of)s
        """,
        # The credits that can change: overdue ones, and those whose stored snapshot is not clear.
        f"""
        CREATE UNLOGGED TABLE jobs_nightly_work AS
        SELECT c.id, c.version, c.state, c.user_id, c.currency, cur.minor_units,
               c.days_past_due, c.aging_bucket, c.missed_installments, c.morosidad_level, c.is_in_default,
               o.oldest, COALESCE(o.missed, 0) AS missed
        FROM credits_credit c
        JOIN catalog_currency cur ON cur.code = c.currency
        LEFT JOIN (
            SELECT credit_id, min(due_date) AS oldest, count(*) AS missed FROM jobs_nightly_inst GROUP BY credit_id
        ) o ON o.credit_id = c.id
        WHERE {open_sql("c")}
          AND (o.credit_id IS NOT NULL OR c.state = '{CreditState.DEFAULTED.value}' OR c.days_past_due <> 0
               OR c.missed_installments <> 0 OR c.morosidad_level <> 0 OR c.is_in_default
               OR c.aging_bucket <> '{AgingBucket.CURRENT.value}')
        """,
        "CREATE UNIQUE INDEX ON jobs_nightly_work (id)",
        # LateFeePolicy.charge_due per installment past its grace days with principal or interest owed.
        f"""
        CREATE UNLOGGED TABLE jobs_nightly_fee AS
        SELECT f.id, f.credit_id, f.fee AS new_fee, f.fee - f.late_fee AS charge
        FROM ({fees_sql(overdue)}) f
        WHERE f.fee > f.late_fee
        """,
        "CREATE INDEX ON jobs_nightly_fee (credit_id)",
        # The new snapshot and state per credit, kept where anything changes.
        f"""
        CREATE UNLOGGED TABLE jobs_nightly_plan AS
        SELECT s.*,
               CASE WHEN s.new_state = '{CreditState.DEFAULTED.value}' AND s.state = '{CreditState.ACTIVE.value}'
                    THEN (SELECT sum({outstanding_sql("i2")}) FROM credits_installment i2 WHERE i2.credit_id = s.id)
                         + s.fee_total
               END AS default_amount
        FROM (
            SELECT w.id, w.version, w.state, w.user_id, w.currency, d.dpd, {bucket_sql("d.dpd")} AS bucket,
                   w.missed, {level} AS level, d.dpd > %(default_after_days)s AS in_default,
                   CASE WHEN d.dpd > %(default_after_days)s AND w.state = '{CreditState.ACTIVE.value}'
                             THEN '{CreditState.DEFAULTED.value}'
                        WHEN d.dpd <= %(default_after_days)s AND w.state = '{CreditState.DEFAULTED.value}'
                             THEN '{CreditState.ACTIVE.value}'
                        ELSE w.state END AS new_state,
                   COALESCE(f.total, 0) AS fee_total, COALESCE(f.n, 0) AS fees,
                   w.days_past_due AS old_dpd, w.aging_bucket AS old_bucket, w.missed_installments AS old_missed,
                   w.morosidad_level AS old_level, w.is_in_default AS old_default
            FROM jobs_nightly_work w
            CROSS JOIN LATERAL (SELECT {days_past_due_sql("w.oldest", "%(as_of)s")} AS dpd) d
            LEFT JOIN (SELECT credit_id, sum(charge) AS total, count(*) AS n FROM jobs_nightly_fee GROUP BY credit_id) f
                   ON f.credit_id = w.id
            OFFSET 0
        ) s
        WHERE s.fee_total > 0 OR s.new_state <> s.state
           OR (s.dpd, s.bucket, s.missed, s.level, s.in_default)
              IS DISTINCT FROM (s.old_dpd, s.old_bucket, s.old_missed, s.old_level, s.old_default)
        """,
        "CREATE UNIQUE INDEX ON jobs_nightly_plan (id)",
        "ANALYZE jobs_nightly_plan",
        "ANALYZE jobs_nightly_fee",
    ]


# The credits first: the UPDATE locks each row, and its version guard keeps only the credits nobody
# changed since the plan was read (a writer holding a credit's lock is waited for, then re-checked).
# `nj_locked` lists them: every later statement of the chunk writes only for those.
_CREDITS = """
WITH written AS (
    UPDATE credits_credit c
    SET state = p.new_state, delinquency_as_of = %(as_of)s, days_past_due = p.dpd, aging_bucket = p.bucket,
        missed_installments = p.missed, morosidad_level = p.level, is_in_default = p.in_default,
        version = c.version + 1
    FROM jobs_nightly_plan p
    WHERE p.id > %(lo)s AND p.id <= %(hi)s AND c.id = p.id AND c.version = p.version
    RETURNING c.id
)
INSERT INTO nj_locked (id) SELECT id FROM written
"""
# A chunk touches a few thousand rows of tables of millions, all by key: index lookups, never a scan
# (the book is in memory, so a random page costs about a sequential one). A writer holding a credit
# longer than the lock timeout fails the chunk; the task retries the run, which is idempotent.
_APPLY_SETTINGS = (
    "SET LOCAL random_page_cost = 1.1",
    "SET LOCAL jit = off",
    "SET LOCAL lock_timeout = '30s'",
)
_FEES = """
UPDATE credits_installment i SET late_fee = f.new_fee
FROM nj_locked l JOIN jobs_nightly_fee f ON f.credit_id = l.id
WHERE i.id = f.id
"""
_LEDGER = f"""
WITH tx AS (
    INSERT INTO ledger_transaction (id, occurred_on, type, status, source, user_id, agent_id, credit_id,
                                    reference_id, reverses_id, reversed_by_id, memo, recorded_at, amount, currency)
    SELECT {UUID7_SQL}, %(as_of)s, '{TransactionType.LATE_FEE.value}', '{TransactionStatus.CONFIRMED.value}',
           '{Source.SYSTEM.value}', p.user_id, NULL, p.id, NULL, NULL, NULL, %(memo)s, %(now)s, p.fee_total, p.currency
    FROM nj_locked l JOIN jobs_nightly_plan p ON p.id = l.id
    WHERE p.fee_total > 0
    RETURNING id, credit_id
)
INSERT INTO ledger_posting (occurred_on, transaction_id, account, side, amount, currency)
SELECT %(as_of)s, tx.id,
       CASE leg.n WHEN 1 THEN %(receivable)s || p.id::text ELSE %(fee_income)s END,
       leg.side, p.fee_total, p.currency
FROM tx
JOIN jobs_nightly_plan p ON p.id = tx.credit_id
CROSS JOIN (VALUES (1, '{Side.DEBIT.value}'), (2, '{Side.CREDIT.value}')) AS leg (n, side)
ORDER BY tx.credit_id, leg.n
"""
_EVENTS = f"""
INSERT INTO credits_event (id, credit_id, kind, occurred_at, reason, amount, actor_id, related_credit_id)
SELECT {UUID7_SQL}, p.id,
       CASE WHEN p.new_state = '{CreditState.DEFAULTED.value}' THEN '{CreditEventKind.DEFAULTED.value}'
            ELSE '{CreditEventKind.CURED.value}' END,
       %(now)s,
       CASE WHEN p.new_state = '{CreditState.DEFAULTED.value}' THEN %(default_reason)s ELSE '' END,
       p.default_amount, NULL, NULL
FROM nj_locked l JOIN jobs_nightly_plan p ON p.id = l.id
WHERE p.new_state <> p.state
ORDER BY p.id
"""
# The audit trail, as `services.apply_late_fees` then `recompute_delinquency` record it: per credit
# charged, a late_fee_charged record; per state change, a credit_defaulted / credit_cured one. The
# figures are read after _FEES raised the installments (`f`); before the fee, due was `fee_total` less.
# Due is everything asked (`Credit.total_due`: waivers not deducted); pending deducts waived and paid.
_FIGURES = (
    "jsonb_build_object('state', {state}, 'pending', ({due} - f.waived - f.paid)::text, 'paid', f.paid::text, "
    "'due', {due}::text)"
)
_AUDIT = f"""
INSERT INTO audit_entry (at, event, actor_id, actor_role, source, credit_id, amount, currency, before, after, details)
SELECT %(now)s, ev.event, NULL, '{Source.SYSTEM.value}', '{Source.SYSTEM.value}', p.id, ev.amount, p.currency,
       ev.before, ev.after, jsonb_build_object('as_of', %(as_of)s::date::text)
FROM nj_locked l
JOIN jobs_nightly_plan p ON p.id = l.id
JOIN catalog_currency cur ON cur.code = p.currency
CROSS JOIN LATERAL (
    SELECT round(sum({due_sql("i")}), cur.minor_units) AS due,
           round(sum(i.late_fee_waived), cur.minor_units) AS waived,
           round(sum({paid_sql("i")}), cur.minor_units) AS paid
    FROM credits_installment i WHERE i.credit_id = p.id
) f
CROSS JOIN LATERAL (VALUES
    (1, 'late_fee_charged', round(p.fee_total, cur.minor_units),
     {_FIGURES.format(state="p.state", due="round(f.due - p.fee_total, cur.minor_units)")},
     {_FIGURES.format(state="p.state", due="f.due")}),
    (2, CASE WHEN p.new_state = '{CreditState.DEFAULTED.value}' THEN 'credit_defaulted' ELSE 'credit_cured' END,
     f.due - f.waived - f.paid,
     {_FIGURES.format(state="p.state", due="f.due")},
     {_FIGURES.format(state="p.new_state", due="f.due")})
) AS ev (n, event, amount, before, after)
WHERE (ev.n = 1 AND p.fee_total > 0) OR (ev.n = 2 AND p.new_state <> p.state)
ORDER BY p.id, ev.n
"""
_SUMMARY = f"""
SELECT p.currency, count(*) FILTER (WHERE p.fee_total > 0), COALESCE(sum(p.fee_total), 0),
       count(*) FILTER (WHERE p.new_state = '{CreditState.DEFAULTED.value}' AND p.state <> p.new_state),
       count(*) FILTER (WHERE p.new_state = '{CreditState.ACTIVE.value}' AND p.state <> p.new_state)
FROM nj_locked l JOIN jobs_nightly_plan p ON p.id = l.id
GROUP BY p.currency
"""
_CONFLICTS = """
SELECT p.id FROM jobs_nightly_plan p
WHERE p.id > %(lo)s AND p.id <= %(hi)s AND NOT EXISTS (SELECT 1 FROM nj_locked l WHERE l.id = p.id)
ORDER BY p.id
"""


@dataclass(slots=True)
class _ChunkOutcome:
    planned: int = 0
    changed: int = 0
    installments: int = 0
    fee_transactions: int = 0
    charged: dict[str, Decimal] = field(default_factory=dict)
    defaulted: int = 0
    cured: int = 0
    conflicts: list[UUID] = field(default_factory=list)
    set_aside: list[tuple[UUID, str]] = field(default_factory=list)

    def add(self, other: _ChunkOutcome) -> _ChunkOutcome:
        """This outcome with `other`'s (a chunk applied in parts) added in: counts add up, lists
        run on, amounts add up per currency."""
        for name in (f.name for f in fields(self)):
            mine = getattr(self, name)
            if isinstance(mine, dict):
                _add_amounts(mine, getattr(other, name))
            else:
                setattr(self, name, mine + getattr(other, name))
        return self


def _add_amounts(into: dict[str, Decimal], more: dict[str, Decimal]) -> None:
    """Amounts per currency code added into `into` (never summed across currencies)."""
    for code, amount in more.items():
        into[code] = into.get(code, Decimal(0)) + amount


@dataclass(slots=True)
class NightlyResult:
    as_of: date
    candidates: int = 0  # open credits that could change (overdue, or not clear before)
    changed: int = 0  # credits written (by the SQL or the fallback)
    fee_transactions: int = 0
    installments_charged: int = 0
    charged: dict[str, Decimal] = field(default_factory=dict)
    defaulted: int = 0
    cured: int = 0
    fallback: int = 0  # credits that went through the per-credit domain path
    chunks: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    # Credits the database refused to write (credit id, reason): nothing of them was written, and
    # the next run tries them again.
    set_aside: list[tuple[UUID, str]] = field(default_factory=list)

    def set_credit_aside(self, credit_id: UUID, reason: str) -> None:
        self.set_aside.append((credit_id, reason))
        log.error(
            "nightly run (as of %s) set credit %s aside: %s",
            self.as_of,
            credit_id,
            reason,
            extra={"credit_id": str(credit_id), "reason": reason, "as_of": self.as_of.isoformat()},
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "candidates": self.candidates,
            "changed": self.changed,
            "fee_transactions": self.fee_transactions,
            "installments_charged": self.installments_charged,
            "charged": {code: f"{currency_of(code).round(amount):f}" for code, amount in sorted(self.charged.items())},
            "defaulted": self.defaulted,
            "cured": self.cured,
            "fallback": self.fallback,
            "chunks": self.chunks,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "set_aside_total": len(self.set_aside),
            "set_aside": [
                {"credit_id": str(credit_id), "reason": reason}
                for credit_id, reason in self.set_aside[:SET_ASIDE_LISTED]
            ],
        }


def fault_reason(exc: BaseException) -> str:
    """Why the database refused a credit, for an operator: the step, the error and its detail."""
    diag = getattr(exc.__cause__, "diag", None)
    primary = getattr(diag, "message_primary", None) or next(iter(str(exc).splitlines()), "")
    detail = getattr(diag, "message_detail", None)
    steps = "".join(f"{note}: " for note in getattr(exc, "__notes__", ()))
    return f"{steps}{type(exc).__name__}: {primary}" + (f" ({detail})" if detail else "")


def _step(cursor: Any, step: str, statement: str, params: dict[str, Any]) -> int:
    """Run one of a chunk's writes; a refusal carries the step's name (for the set-aside reason)."""
    try:
        cursor.execute(statement, params)
    except CREDIT_FAULTS as exc:
        exc.add_note(step)
        raise
    return cursor.rowcount


def _clear_of(d: Delinquency) -> tuple[object, ...]:
    return (d.days_past_due, d.bucket, d.missed_installments, d.morosidad_level, d.is_in_default)


def _ensure_month(day: date) -> None:
    """The business date's month partition, so the bookings do not land in the DEFAULT partition
    (the upkeep creates months well ahead; this covers a fresh database or an old date). It cannot be
    created once the DEFAULT partition holds rows of that month: then the bookings go there too."""
    try:
        with transaction.atomic():
            ensure_month_partitions(day, day)
    except DatabaseError:
        log.warning("no partition for %s: its late-fee bookings go to the DEFAULT partition", day, exc_info=True)


def refresh_one(ports: Ports, credit_id: UUID, as_of: date) -> bool:
    """The per-credit domain path (late fees, then the snapshot); True when the credit changed.

    Used for the credits the SQL could not write safely; like the SQL it leaves a credit whose
    snapshot would only move its date untouched.
    """
    charges = services.charge_late_fees(ports, credit_id, SYSTEM, as_of)
    changed = bool(charges)
    with ports.uow:
        credit = ports.credits.get(credit_id, for_update=True)
        if credit is not None and credit.state.is_open:
            before = (credit.state, _clear_of(credit.delinquency))
            figures = Figures.of(credit)
            credit.refresh_delinquency(
                as_of, ports.policies.delinquency, event_id=ports.ids.new_id(), at=ports.clock.now()
            )
            if (credit.state, _clear_of(credit.delinquency)) != before:
                save_credit(ports, credit)
                changed = True
            if credit.state is not before[0]:
                services.record_delinquency_change(ports, credit, figures, as_of)
        ports.uow.commit()
    return changed


class NightlyDelinquency:
    """The nightly run (see the module docstring). `after_chunk` is told each chunk's commit
    (cache invalidation); `progress(done, total)` after each chunk, in credits of the plan."""

    def __init__(
        self,
        policies: Policies,
        *,
        chunk_size: int = 20000,
        workers: int = 1,
        fallback: Callable[[UUID, date], bool] | None = None,
        after_chunk: Callable[[], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._fees = policies.late_fees
        self._delinquency = policies.delinquency
        self._chunk = chunk_size
        self._workers = max(1, workers)
        self._fallback = fallback
        self._after_chunk = after_chunk
        self._now = now

    def params(self, as_of: date, now: datetime) -> dict[str, Any]:
        return {
            "as_of": as_of,
            "now": now,
            "grace_days": self._fees.grace_days,
            "rate": self._fees.monthly_rate,
            "cap_share": self._fees.cap_share,
            "days_per_month": self._fees.days_per_month,
            "default_after_days": self._delinquency.default_after_days,
            "memo": f"late fees as of {as_of}",
            "receivable": accounts.RECEIVABLE_PREFIX,
            "fee_income": accounts.LATE_FEE_INCOME,
            "default_reason": DEFAULT_REASON,
        }

    def run(self, as_of: date, progress: Callable[[int, int], object] | None = None) -> NightlyResult:
        result = NightlyResult(as_of=as_of)
        started = time.monotonic()
        _ensure_month(as_of)
        with _sole_run(as_of):
            try:
                params = self.params(as_of, self._now())
                self.prepare(params)
                result.seconds["prepare"] = time.monotonic() - started
                conflicts = self.apply(params, result, progress)
                result.seconds["apply"] = time.monotonic() - started - result.seconds["prepare"]
                self.finish(as_of, conflicts, result)
                result.seconds["fallback"] = time.monotonic() - started - sum(result.seconds.values())
            finally:
                self.clean_up()
        result.seconds["total"] = time.monotonic() - started
        return result

    def prepare(self, params: dict[str, Any]) -> None:
        """Build the plan in one consistent snapshot (read-only on the book)."""
        fresh = not connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            if fresh:  # inside a caller's transaction (tests) its snapshot rules
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            for statement in _prepare_sql(self._delinquency.morosidad_thresholds):
                cursor.execute(statement, params)

    def finish(self, as_of: date, conflicts: list[UUID], result: NightlyResult) -> None:
        """The credits the SQL left alone (changed meanwhile, or locked) through the domain's path;
        one that fails there is set aside like one the SQL could not write (its unit of work rolled
        back: nothing of it written)."""
        if not conflicts or self._fallback is None:
            return
        for credit_id in conflicts:
            result.fallback += 1
            try:
                result.changed += self._fallback(credit_id, as_of)
            except (*CREDIT_FAULTS, DomainError) as exc:
                exc.add_note("per-credit path")
                result.set_credit_aside(credit_id, fault_reason(exc))
        if self._after_chunk is not None:
            self._after_chunk()

    def clean_up(self) -> None:
        """Drop the work tables (also what a crashed run left behind: the next run starts here)."""
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_TABLES}")

    def apply(
        self, params: dict[str, Any], result: NightlyResult, progress: Callable[[int, int], object] | None = None
    ) -> list[UUID]:
        """Write the plan chunk by chunk; returns the credits left to the per-credit fallback.

        With `workers` > 1 (and not inside a caller's transaction, whose uncommitted plan other
        sessions could not see) the chunks are spread over that many threads, each with its own
        database session: the work is CPU and I/O bound in the server, one backend per core.
        """
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM jobs_nightly_plan) s "
                "WHERE n %% %s = 0 ORDER BY id",
                [self._chunk],
            )
            bounds = [r[0] for r in cursor.fetchall()]
        total = self._count("jobs_nightly_plan")
        result.candidates = self._count("jobs_nightly_work")
        if not bounds or bounds[-1] != _MAX_ID:
            bounds.append(_MAX_ID)
        chunks = [{**params, "lo": lo, "hi": hi} for lo, hi in zip([_MIN_ID, *bounds[:-1]], bounds, strict=True)]
        totals = _ChunkOutcome()

        def add(outcome: _ChunkOutcome) -> None:
            result.chunks += 1
            totals.add(outcome)
            for credit_id, reason in outcome.set_aside:
                result.set_credit_aside(credit_id, reason)
            if progress is not None:
                progress(totals.planned, total)

        workers = min(self._workers, len(chunks))
        if workers <= 1 or connection.in_atomic_block:
            for chunk in chunks:
                add(self._apply_chunk(chunk))
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nightly") as pool:
                for outcome in pool.map(self._apply_in_thread, chunks):
                    add(outcome)
        result.changed += totals.changed
        result.installments_charged += totals.installments
        result.fee_transactions += totals.fee_transactions
        result.defaulted += totals.defaulted
        result.cured += totals.cured
        _add_amounts(result.charged, totals.charged)
        return sorted(totals.conflicts)

    def _apply_in_thread(self, chunk: dict[str, Any]) -> _ChunkOutcome:
        try:
            return self._apply_chunk(chunk)
        finally:
            # Each pool thread has its own connection; a finished chunk gives it back.
            connection.close()

    def _apply_chunk(self, chunk: dict[str, Any]) -> _ChunkOutcome:
        with transaction.atomic(), connection.cursor() as cursor:
            for setting in _APPLY_SETTINGS:
                cursor.execute(setting)
            # The chunk's own (dropped at its commit): nothing stays on a pooled server connection.
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS nj_locked (id uuid PRIMARY KEY) ON COMMIT DROP")
            outcome = self._apply_isolating(cursor, chunk)
            if self._after_chunk is not None:
                transaction.on_commit(self._after_chunk)
        return outcome

    def _apply_isolating(self, cursor: Any, part: dict[str, Any]) -> _ChunkOutcome:
        """The plan's credits in (`lo`, `hi`] applied in a savepoint; when the database refuses a
        credit's values, each half of the range again, down to the credit(s) refused, set aside."""
        try:
            with transaction.atomic():
                return self._apply_range(cursor, part)
        except CREDIT_FAULTS as exc:
            cursor.execute("SELECT id FROM jobs_nightly_plan WHERE id > %(lo)s AND id <= %(hi)s ORDER BY id", part)
            ids = [r[0] for r in cursor.fetchall()]
            if len(ids) <= 1:
                return _ChunkOutcome(planned=len(ids), set_aside=[(credit_id, fault_reason(exc)) for credit_id in ids])
        middle = ids[len(ids) // 2 - 1]
        return self._apply_isolating(cursor, {**part, "hi": middle}).add(
            self._apply_isolating(cursor, {**part, "lo": middle})
        )

    @staticmethod
    def _apply_range(cursor: Any, part: dict[str, Any]) -> _ChunkOutcome:
        outcome = _ChunkOutcome()
        cursor.execute("TRUNCATE nj_locked")
        outcome.changed = _step(cursor, "credits", _CREDITS, part)
        outcome.installments = _step(cursor, "late fees", _FEES, part)
        _step(cursor, "late-fee bookings", _LEDGER, part)
        _step(cursor, "credit events", _EVENTS, part)
        _step(cursor, "audit", _AUDIT, part)
        cursor.execute(_SUMMARY, part)
        for code, charged_credits, charged, defaulted, cured in cursor.fetchall():
            outcome.fee_transactions += charged_credits
            if charged:
                outcome.charged[code] = charged
            outcome.defaulted += defaulted
            outcome.cured += cured
        cursor.execute(_CONFLICTS, part)
        outcome.conflicts = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM jobs_nightly_plan WHERE id > %(lo)s AND id <= %(hi)s", part)
        outcome.planned = int(cursor.fetchone()[0])
        return outcome

    def _count(self, table: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            return int(cursor.fetchone()[0])
