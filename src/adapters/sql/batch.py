"""Statements sent together: a unit of work's writes (and reads asked ahead) ride one round trip.

A round trip costs more CPU here than the SQL it carries, in the app and in PostgreSQL. So while a
unit of work is open, the repositories *defer* their writes: the statements wait here and go
together with the next statement the unit of work sends through `run` (the credit's load, say) or,
at the latest, just before COMMIT. A read asked ahead (`later`) rides the same way.

They go in libpq's pipeline mode, one Sync for all (one round trip), each with its parameters
bound on the server and as a prepared statement: PostgreSQL parses and plans each shape once per
connection, and psycopg dumps the parameters in C (client-side binding, which Django's own cursors
use, quotes each value in Python). The statements are queued on psycopg's libpq connection directly
(`_pipeline`), with psycopg's own parameter dumping, row loading, prepared-statement cache and error
classes: psycopg's `Cursor.execute` in a pipeline polls and writes the socket after every statement,
which cost ~45 µs of CPU per statement (11 of them in a payment), and its BEGIN took a round trip of
its own. Here the whole batch is written once, BEGIN first when the transaction has not begun, and
the results read once.

Order is kept: every other statement Django sends passes through `_pending_first` (an execute
wrapper installed while the batch is open), which sends what is queued first, so nothing runs
before a write queued earlier and a savepoint or its rollback comes after the writes made before
it. A deferred write's guard (the credit's version matched, the payment was not booked already) runs
in PostgreSQL (`conflict_unless`, SQLSTATE REFUSED): the statement is refused there and raises its
own `refusal` (a domain Conflict), and the unit of work rolls back, as it would have at the write
itself. With no check left to run in Python, COMMIT rides the unit of work's last round trip (after
a refused statement PostgreSQL skips it). A `check` in Python (still allowed) keeps COMMIT apart.
Nothing is left queued when the unit of work ends: flushed with or before COMMIT, dropped on
rollback. Outside a unit of work a deferred statement runs at once.

Each round trip goes through Django's execute wrappers (the slow-query log and the per-request
count see it, as one statement) and into its query log when that is on (tests count it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg
from django.db import connections, transaction
from django.db.backends.utils import CursorWrapper
from psycopg import abc as psycopg_abc
from psycopg import errors, pq
from psycopg._preparing import Prepare
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer
from psycopg.generators import fetch_many, send
from psycopg.pq import ExecStatus, TransactionStatus

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement answered: its row count and, for a query, its rows."""

    rowcount: int
    rows: list[tuple[Any, ...]] | None


Check = Callable[[Result], None]


# The SQLSTATE of `conflict_unless(ok, what)` (migration credits/0004): a guard PostgreSQL checks.
REFUSED = "FC409"


@dataclass(slots=True)
class _Statement:
    sql: str
    params: Sequence[Any] | None  # None: the SQL is sent as written (no placeholders read), as psycopg does
    check: Check | None
    # Raised instead of the server's error when the statement's guard refuses (SQLSTATE REFUSED).
    refusal: Exception | None = None
    # The check only reads a result asked ahead (`later`): nothing to refuse after a COMMIT.
    reads: bool = False


@dataclass(slots=True)
class _Batch:
    using: str
    wrapper: Callable[..., Any]
    pending: list[_Statement] = field(default_factory=list)
    # Rows this unit of work loaded or wrote (e.g. ("payment", id)): a save of one of them is an
    # update, which may need a follow-up statement, so it is sent at once rather than deferred.
    known: set[object] = field(default_factory=set)


class _Open(threading.local):
    def __init__(self) -> None:
        self.batches: dict[str, _Batch] = {}


_open = _Open()


def begin(using: str = "default") -> None:
    """Open the batch of a unit of work (its outermost block) on this thread's connection."""
    if using in _open.batches:
        return
    batch = _Batch(using, wrapper=lambda *args: _pending_first(batch, *args))
    connections[using].execute_wrappers.append(batch.wrapper)
    _open.batches[using] = batch


def end(using: str = "default", *, send: bool) -> None:
    """Close the batch: send what is queued (before COMMIT) or drop it (rollback).

    When nothing queued has a check left to run in Python (their guards, if any, run in PostgreSQL:
    `refusal`) and the unit of work's block is the connection's whole transaction, COMMIT rides the
    same round trip; Django's commit then finds the transaction over and sends nothing. Inside a
    caller's transaction (a savepoint, a test's block) the caller commits, as before."""
    batch = _open.batches.get(using)
    if batch is None:
        return
    try:
        if send:
            _send_queued(batch, commit=_commit_may_ride(using, batch.pending))
    finally:
        del _open.batches[using]
        wrappers = connections[using].execute_wrappers
        if batch.wrapper in wrappers:
            wrappers.remove(batch.wrapper)


def is_open(using: str = "default") -> bool:
    return using in _open.batches


def knows(key: object, using: str = "default") -> bool:
    batch = _open.batches.get(using)
    return batch is not None and key in batch.known


def remember(key: object, using: str = "default") -> None:
    batch = _open.batches.get(using)
    if batch is not None:
        batch.known.add(key)


def defer(
    sql: str,
    params: Sequence[Any],
    check: Check | None = None,
    using: str = "default",
    *,
    refusal: Exception | None = None,
    reads: bool = False,
) -> None:
    """Queue a statement for the unit of work's next round trip; run it at once outside one.

    `refusal`: what to raise when the statement's own guard (`conflict_unless`, SQLSTATE REFUSED)
    refuses in PostgreSQL; a guard there, unlike a `check`, lets COMMIT ride with the statement."""
    statement = _Statement(sql, params, check, refusal, reads)
    batch = _open.batches.get(using)
    if batch is None:
        if refusal is not None and connections[using].in_atomic_block:
            # A refusal aborts the transaction it runs in: inside a caller's own transaction it is
            # undone alone (a savepoint), so that transaction stays usable, as after a Conflict.
            with transaction.atomic(using=using):
                _send(using, [statement])
        else:
            _send(using, [statement])
        return
    batch.pending.append(statement)


def run(statements: Sequence[tuple[str, Sequence[Any] | None]], using: str = "default") -> list[Result]:
    """Run these statements now, in one round trip with whatever the unit of work has queued
    (sent first): their results, in order."""
    batch = _open.batches.get(using)
    queued: list[_Statement] = []
    if batch is not None:
        queued, batch.pending = batch.pending, []
    results = _send(using, [*queued, *(_Statement(sql, params, None) for sql, params in statements)])
    return results[len(queued) :]


def flush(using: str = "default") -> None:
    """Send what the unit of work has queued now (its checks raise here)."""
    batch = _open.batches.get(using)
    if batch is not None and batch.pending:
        _send_queued(batch)


class Later(Generic[T]):
    """A query's answer that comes with the unit of work's next round trip (`get` sends it now if
    nothing else has yet)."""

    __slots__ = ("_done", "_parse", "_using", "_value")

    def __init__(self, parse: Callable[[Result], T], using: str) -> None:
        self._parse = parse
        self._using = using
        self._done = False

    def arrive(self, result: Result) -> None:
        self._value = self._parse(result)
        self._done = True

    def get(self) -> T:
        if not self._done:
            flush(self._using)
        if not self._done:
            raise RuntimeError("The query asked ahead was dropped with its unit of work.")
        return self._value


def later(sql: str, params: Sequence[Any], parse: Callable[[Result], T], using: str = "default") -> Later[T]:
    """Ask a query ahead: it rides with the unit of work's next round trip."""
    answer = Later(parse, using)
    defer(sql, params, answer.arrive, using, reads=True)
    return answer


# --- sending -------------------------------------------------------------------------------------


def _commit_may_ride(using: str, pending: Sequence[_Statement]) -> bool:
    connection = connections[using]
    outermost = len(connection.atomic_blocks) == 1 and connection.commit_on_exit and not connection.savepoint_ids
    return (
        bool(pending)
        and outermost
        and not connection.needs_rollback
        and all(statement.check is None or statement.reads for statement in pending)
    )


def _send(using: str, statements: Sequence[_Statement], *, commit: bool = False) -> list[Result]:
    """One pipeline, one Sync: every statement's result, each checked in order (and COMMIT last
    when `commit`: skipped by PostgreSQL if a statement before it failed)."""
    if not statements:
        return []
    connection = connections[using]

    def pipeline(_sql: str, _params: object, _many: bool, _context: object) -> list[Result]:
        connection.validate_no_broken_transaction()
        with connection.wrap_database_errors:
            return _pipeline(connection.connection, statements, commit=commit)

    # The wrappers see the round trip as one statement, "a;\nb;\nc" with all the parameters in order
    # (the bench's capture splits it back into statements to EXPLAIN each).
    label = ";\n".join([*(statement.sql for statement in statements), *(["COMMIT"] if commit else [])])
    flat = [value for statement in statements for value in statement.params or ()]
    started = time.perf_counter()
    # What `connection.cursor()` does before a statement (a health check when due, a connection
    # if none, this thread's own), then Django's execute wrappers around the round trip. Without
    # the psycopg cursor Django would create for it and close unused: nothing here runs on one.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    wrapped = CursorWrapper(None, connection)
    results: list[Result] = wrapped._execute_with_wrappers(label, flat, False, executor=pipeline)
    if connection.queries_logged:
        shown = ";\n".join([*(_as_logged(connection, s) for s in statements), *(["COMMIT"] if commit else [])])
        connection.queries_log.append({"sql": shown, "time": f"{time.perf_counter() - started:.3f}"})
    for statement, result in zip(statements, results, strict=True):
        if statement.check is not None:
            statement.check(result)
    return results


def _as_logged(connection: Any, statement: _Statement) -> str:
    """A statement as Django's debug cursor logs it: with its values in (debugging only)."""
    if statement.params is None:
        return statement.sql
    try:
        return str(connection.ops.compose_sql(statement.sql, statement.params))
    except psycopg.DataError:  # a value PostgreSQL's client side cannot quote: shown as written
        return statement.sql


_TEXT = pq.Format.TEXT
# What each result read back belongs to: a statement (its index and, for a shape met for the first
# time, what psycopg's prepared-statement cache must be told), or a command of our own (None).
_Pending = tuple[int, tuple[Any, Any, bytes] | None] | None


def _pipeline(raw: psycopg.Connection[Any], statements: Sequence[_Statement], *, commit: bool = False) -> list[Result]:
    """Write every statement (and COMMIT), one Sync, read every result: one round trip. A failure
    raises the first statement's error, as psycopg would, once all results (up to the Sync) are
    read; a guard's refusal raises the statement's own `refusal`."""
    if raw._pipeline is not None:  # nothing here runs inside psycopg's own pipeline; were it to, fail loudly
        raise RuntimeError("the statement batch cannot run inside a psycopg pipeline")
    pgconn = raw.pgconn
    tx = Transformer(raw)
    with raw.lock:
        pgconn.enter_pipeline_mode()
        try:
            pending = _queue(raw, tx, statements, commit)
            pgconn.pipeline_sync()
            raw.wait(send(pgconn))
            answered, failure = _read(raw, statements, pending)
            raw.wait(fetch_many(pgconn))  # the Sync's own result
        finally:
            if pgconn.status == pq.ConnStatus.OK:
                try:
                    pgconn.exit_pipeline_mode()
                except psycopg.OperationalError:
                    # Results left unread (interrupted midway): the connection is of no further use.
                    pgconn.finish()
                    raise
        if failure is not None:
            raise failure
        # Statements psycopg's cache evicted are deallocated now (rarely: more than its 100 shapes).
        raw.wait(raw._prepared.maintain_gen(raw))
    return [_result(tx, results) for results in answered]


def _queue(
    raw: psycopg.Connection[Any], tx: psycopg_abc.Transformer, statements: Sequence[_Statement], commit: bool
) -> list[_Pending]:
    """Every statement written to libpq's pipeline (BEGIN first if the transaction has not begun,
    COMMIT last if asked): what each result to be read back belongs to."""
    pgconn = raw.pgconn
    prepared = raw._prepared
    pending: list[_Pending] = []
    if not raw.autocommit and pgconn.transaction_status == TransactionStatus.IDLE:
        # What psycopg's first execute would send alone, and wait for: here it rides along.
        pgconn.send_query_params(raw._get_tx_start_command(), None)
        pending.append(None)
    for index, statement in enumerate(statements):
        query = PostgresQuery(tx)
        query.convert(statement.sql, statement.params)
        # Prepared at once, unless the connection prepares nothing (through pgbouncer).
        prep, name = prepared.get(query, True)
        if prep is Prepare.NO:
            pgconn.send_query_params(query.query, query.params, param_formats=query.formats, param_types=query.types)
        else:
            if prep is Prepare.SHOULD:
                pgconn.send_prepare(name, query.query, param_types=query.types)
                pending.append(None)
            pgconn.send_query_prepared(name, query.params, param_formats=query.formats, result_format=_TEXT)
        key = prepared.maybe_add_to_cache(query, prep, name)
        pending.append((index, None if key is None else (key, prep, name)))
    if commit:
        pgconn.send_query_params(b"COMMIT", None)
        pending.append(None)
    return pending


def _read(
    raw: psycopg.Connection[Any], statements: Sequence[_Statement], pending: list[_Pending]
) -> tuple[list[list[pq.abc.PGresult]], Exception | None]:
    """Every result up to the Sync's: each statement's, and the first failure (its `refusal` when
    its guard refused)."""
    answered: list[list[pq.abc.PGresult]] = [[] for _ in statements]
    failure: Exception | None = None
    for item in pending:
        results = raw.wait(fetch_many(raw.pgconn))
        refusal = None
        if item is not None:
            index, cached = item
            answered[index] = results
            refusal = statements[index].refusal
            if cached is not None:
                raw._prepared.validate(*cached, results)
        for result in results:
            if result.status == ExecStatus.FATAL_ERROR and failure is None:
                failure = errors.error_from_result(result, encoding=raw.info.encoding)
                if refusal is not None and failure.sqlstate == REFUSED:
                    failure = refusal
    return answered, failure


def _result(tx: psycopg_abc.Transformer, results: list[pq.abc.PGresult]) -> Result:
    (result,) = results
    rowcount = -1 if result.command_tuples is None else result.command_tuples  # as Cursor.rowcount
    # Rows only where the statement answered some (a SELECT, a RETURNING).
    if result.nfields > 0 or result.status == ExecStatus.TUPLES_OK:
        tx.set_pgresult(result)
        return Result(rowcount, tx.load_rows(0, result.ntuples, tuple))
    return Result(rowcount, None)


def _send_queued(batch: _Batch, *, commit: bool = False) -> None:
    pending, batch.pending = batch.pending, []
    _send(batch.using, pending, commit=commit)


def _pending_first(batch: _Batch, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    """Django's execute wrapper: what is queued goes before any other statement."""
    if batch.pending:
        _send_queued(batch)
    return execute(sql, params, many, context)
