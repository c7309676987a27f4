"""Statements sent together: a unit of work's writes (and reads asked ahead) ride one round trip.

A round trip costs more CPU here than the SQL it carries, in the app and in PostgreSQL. So while a
unit of work is open, the repositories *defer* their writes: the statements wait here and go as one
multi-statement string (psycopg's client-side binding allows several) with the next statement the
connection sends (a read, a savepoint) or, at the latest, just before COMMIT. A read asked ahead
(`later`) rides the same way and is answered when its round trip comes back.

Order is kept: every statement Django sends passes through `_pending_first` (an execute wrapper
installed while the batch is open), so nothing runs before what was queued earlier, and a
savepoint or its rollback comes after the writes made before it. Each deferred statement's result
is checked as it arrives (`check`, e.g. the credit's version matched): a failure raises there and
the unit of work rolls back, as it would have at the write itself. Nothing is left queued when
the unit of work ends: flushed before COMMIT, dropped on rollback.

Outside a unit of work a deferred statement runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db import connections

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Result:
    """What one statement answered: its row count and, for a query, its rows."""

    rowcount: int
    rows: list[tuple[Any, ...]] | None


Check = Callable[[Result], None]


@dataclass(slots=True)
class _Statement:
    sql: str
    params: Sequence[Any]
    check: Check | None


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
    """Close the batch: send what is queued (before COMMIT) or drop it (rollback)."""
    batch = _open.batches.get(using)
    if batch is None:
        return
    try:
        if send:
            _send_alone(batch)
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


def defer(sql: str, params: Sequence[Any], check: Check | None = None, using: str = "default") -> None:
    """Queue a statement for the unit of work's next round trip; run it at once outside one."""
    batch = _open.batches.get(using)
    statement = _Statement(sql.strip().rstrip(";"), params, check)
    if batch is None:
        with connections[using].cursor() as cursor:
            cursor.execute(statement.sql, statement.params)
            result = _result(cursor)
        if check is not None:
            check(result)
        return
    batch.pending.append(statement)


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
            batch = _open.batches.get(self._using)
            if batch is not None:
                _send_alone(batch)
        if not self._done:
            raise RuntimeError("The query asked ahead was dropped with its unit of work.")
        return self._value


def later(sql: str, params: Sequence[Any], parse: Callable[[Result], T], using: str = "default") -> Later[T]:
    """Ask a query ahead: it rides with the unit of work's next round trip."""
    answer = Later(parse, using)
    defer(sql, params, answer.arrive, using)
    return answer


# --- sending -------------------------------------------------------------------------------------


def _result(cursor: Any) -> Result:
    return Result(cursor.rowcount, cursor.fetchall() if cursor.description is not None else None)


def _joined(statements: Sequence[_Statement], cursor: Any) -> str:
    """One string, each statement's parameters bound in it by psycopg (client-side binding, as
    Django's statements are): each statement's shape stays in psycopg's parse cache, which a
    string this long, with this many parameters, would miss."""
    return ";\n".join(cursor.mogrify(s.sql, s.params) for s in statements)


def _arrived(statements: Sequence[_Statement], cursor: Any) -> None:
    """Collect each queued statement's result (the cursor then stands on the next one), then check
    them in order."""
    results = []
    for _ in statements:
        results.append(_result(cursor))
        cursor.nextset()
    for statement, result in zip(statements, results, strict=True):
        if statement.check is not None:
            statement.check(result)


def _send_alone(batch: _Batch) -> None:
    pending, batch.pending = batch.pending, []
    if not pending:
        return
    with connections[batch.using].cursor() as cursor:
        cursor.execute(_joined(pending, cursor.cursor))  # through _pending_first: nothing queued now
        _arrived(pending, cursor)


def _pending_first(batch: _Batch, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    """Django's execute wrapper: what is queued goes first, in the same round trip when it can."""
    pending = batch.pending
    if not pending:
        return execute(sql, params, many, context)
    if many:  # executemany: what is queued goes on its own first
        _send_alone(batch)
        return execute(sql, params, many, context)
    batch.pending = []
    cursor = context["cursor"]
    answer = execute(_joined([*pending, _Statement(sql, params, None)], cursor.cursor), None, many, context)
    _arrived(pending, cursor)
    return answer
