"""Where a read goes: the primary or a replica. The Django router and the lean read path share it.

Rules, in order (`read_alias()`):
1. no replica configured (DATABASE_REPLICA_URLS empty) -> the primary;
2. inside a transaction on the primary (any atomic block, so every unit of work) -> the primary;
3. inside `use_primary()` -> the primary;
4. in a request that writes (any method but GET/HEAD/OPTIONS/TRACE) -> the primary, for all of it;
5. the caller wrote in the last READ_YOUR_WRITES_SECONDS (read-your-writes, below) -> the primary;
6. otherwise a healthy replica (up, lag <= REPLICA_MAX_LAG_SECONDS; see `replicas.py`), round robin
   across requests and kept for the rest of the request (two statements of one request never see
   two different replicas); none healthy -> the primary.
Writes always go to the primary.

Read-your-writes is keyed by the authenticated user id, so it works for JWT clients (no cookie):
after a writing request by user X, the middleware (`config.read_routing`) calls `note_write(X)`,
which puts `ryw:<X>` in the shared cache (Redis) with a TTL of READ_YOUR_WRITES_SECONDS, before the
response leaves, so X's next request on any app node finds it; a request checks it lazily, with
one cache get, only when it is about to read from a replica. The same note is kept in this
process's memory. If Redis is down the cache fails open (the get answers "no"): X's reads may go
to a replica on another node, at most REPLICA_MAX_LAG_SECONDS behind (usually well under a second)
and never for money writes, which always read the primary inside their unit of work; on the node
that served the write the local note still pins X. Sending every read to the primary while Redis
is down was the alternative, and was rejected: it doubles the primary's load at the moment the
cache in front of it has gone, turning one failure into two.

The lean read path (`adapters/queries/`) asks for its cursor here: `read_cursor()` gives a
cursor on `read_alias()`, and when the replica fails under it (it was stopped, the connection
broke, or PostgreSQL cancelled the query on a recovery conflict) marks it down and runs the same
statement on the primary, so a replica dying between two health checks costs no failed request.
ORM reads go through `ReplicaRouter.db_for_read`, which applies the same rules.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, ProgrammingError, connections

from adapters.db.replicas import PRIMARY, monitor, replica_aliases
from adapters.sql import batch

log = logging.getLogger("adapters.db.routing")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# SQLSTATEs a replica raises for a read the primary would answer: serialization failure and
# deadlock, which on a hot standby mean "cancelled by a conflict with recovery".
_RECOVERY_CONFLICTS = frozenset({"40001", "40P01"})


# --- request scope ----------------------------------------------------------------------------------
@dataclass(slots=True)
class RequestScope:
    """What routing knows about the current request. `user_id` answers the caller's user id, or
    None while it is not known yet (the API authenticates inside the view, after middleware)."""

    user_id: Callable[[], object | None]
    writes: bool = False
    recently_wrote: bool | None = None  # resolved on the first replica-bound read
    replica: str | None = None  # the replica this request reads from, once chosen

    def pinned_to_primary(self) -> bool:
        if self.writes:
            return True
        if self.recently_wrote is None:
            user = self.user_id()
            if user is None:
                return False  # anonymous so far; ask again on the next read
            self.recently_wrote = wrote_recently(user)
        return self.recently_wrote


_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar("read_routing_scope", default=None)
_forced_primary: contextvars.ContextVar[bool] = contextvars.ContextVar("read_routing_primary", default=False)
_round_robin = itertools.count()


@contextlib.contextmanager
def request_scope(scope: RequestScope) -> Iterator[RequestScope]:
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def use_primary() -> Iterator[None]:
    """Every read inside goes to the primary (a read that decides a later write, outside a unit of
    work; a task that must see the latest state)."""
    token = _forced_primary.set(True)
    try:
        yield
    finally:
        _forced_primary.reset(token)


# --- read-your-writes ---------------------------------------------------------------------------------
class _LocalWrites:
    """This process's note of recent writers: user id -> monotonic expiry."""

    def __init__(self) -> None:
        self._until: dict[object, float] = {}
        self._lock = threading.Lock()

    def note(self, user: object, seconds: float) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._until) > 10_000:
                self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[user] = now + seconds

    def recent(self, user: object) -> bool:
        return self._until.get(user, 0.0) > time.monotonic()


_local_writes = _LocalWrites()


def _ryw_key(user: object) -> str:
    return f"ryw:{user}"


def note_write(user: object) -> None:
    """`user` has just written: its reads go to the primary for READ_YOUR_WRITES_SECONDS."""
    seconds = float(settings.READ_YOUR_WRITES_SECONDS)
    if seconds <= 0 or not replica_aliases():
        return
    _local_writes.note(user, seconds)
    cache.set(_ryw_key(user), 1, timeout=seconds)  # fails open when Redis is down (IGNORE_EXCEPTIONS)


def wrote_recently(user: object) -> bool:
    if float(settings.READ_YOUR_WRITES_SECONDS) <= 0:
        return False
    return _local_writes.recent(user) or cache.get(_ryw_key(user)) is not None


# --- the choice -------------------------------------------------------------------------------------
def read_alias() -> str:
    """The database alias the next read should use (see the module docstring for the rules)."""
    if not replica_aliases():
        return PRIMARY
    if connections[PRIMARY].in_atomic_block or _forced_primary.get():
        return PRIMARY
    scope = _scope.get()
    if scope is None:
        return _pick_replica() or PRIMARY
    if scope.pinned_to_primary():
        return PRIMARY
    if scope.replica is None or not monitor.is_healthy(scope.replica):
        scope.replica = _pick_replica()
    return scope.replica or PRIMARY


def _pick_replica() -> str | None:
    """The next healthy replica whose connection opens, round robin; None when there is none."""
    healthy = monitor.healthy()
    if not healthy:
        return None
    start = next(_round_robin)
    for offset in range(len(healthy)):
        alias = healthy[(start + offset) % len(healthy)]
        if _connection_works(alias):
            return alias
    return None


def _connection_works(alias: str) -> bool:
    """Open (or health-check, once per request) `alias`'s connection now rather than fail later in
    the query: a replica that went away since the last check is marked down here."""
    conn = connections[alias]
    try:
        conn.close_if_health_check_failed()
        conn.ensure_connection()
    except DatabaseError as exc:
        monitor.mark_down(alias, f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
        with contextlib.suppress(Exception):
            conn.close()
        return False
    return True


# --- the lean read path ---------------------------------------------------------------------------------
class FailoverCursor:
    """A cursor on the read alias that moves to the primary when a replica fails under it.

    Used like Django's cursor for what the read path needs: `execute`, then `fetchone` / `fetchall`.
    Each statement is independent (autocommit reads), so running one on the primary after the
    replica failed is always consistent: the primary is never behind.

    A statement goes out as the statement batch sends (`adapters.sql.batch.run`: bound and prepared
    on the server at its first run, written, synced and read in one go, through Django's wrappers and
    error translation), not through Django's cursor, which binds on the client (the values quoted into
    the text): PostgreSQL parsed and planned every read again, the larger part of a cold read's cost
    there (BENCHMARKS.md, "Lean reads prepared"). Under a unit of work the batch's queued writes go
    first, as with any read.
    Named parameters (`%(name)s`, the jobs' queries) keep the psycopg cursor: the batch takes
    positional ones only.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._cursor: Any = None
        self._rows: list[tuple[Any, ...]] | None = None
        self._next = 0

    def execute(self, sql: str, params: Sequence[object] | Mapping[str, object] | None = None) -> None:
        try:
            self._run(sql, params)
        except (OperationalError, InterfaceError) as exc:
            if self.alias == PRIMARY or not self._replica_failed(exc):
                raise
            self._give_up_replica(exc)
            self._run(sql, params)

    def _run(self, sql: str, params: Sequence[object] | Mapping[str, object] | None) -> None:
        if isinstance(params, Mapping):
            if self._cursor is None:
                self._cursor = connections[self.alias].cursor()
            self._cursor.execute(sql, params)
            self._rows = None
            return
        (result,) = batch.run([(sql, params)], using=self.alias)
        self._rows, self._next = result.rows, 0

    def fetchone(self) -> Any:  # a row or None, typed as Django's cursor (callers know their query)
        if self._rows is None:
            return self._active_cursor().fetchone()
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            return self._active_cursor().fetchall()
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def _active_cursor(self) -> Any:
        if self._cursor is None:  # as psycopg: fetching before any query answered rows is an error
            raise ProgrammingError("the last statement answered no rows")
        return self._cursor

    def _replica_failed(self, exc: Exception) -> bool:
        if getattr(exc.__cause__, "sqlstate", None) in _RECOVERY_CONFLICTS:
            return True
        raw = connections[self.alias].connection
        return raw is None or raw.closed or bool(getattr(raw, "broken", False))

    def _give_up_replica(self, exc: Exception) -> None:
        failed = self.alias
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        if sqlstate in _RECOVERY_CONFLICTS:
            log.info("read cancelled on %s by a recovery conflict; retried on the primary", failed)
        else:
            monitor.mark_down(failed, reason)
            with contextlib.suppress(Exception):
                connections[failed].close()
        self.close()
        scope = _scope.get()
        if scope is not None and scope.replica == failed:
            scope.replica = None
        self.alias = PRIMARY

    def close(self) -> None:
        self._rows = None
        if self._cursor is not None:
            with contextlib.suppress(Exception):
                self._cursor.close()
            self._cursor = None


@contextlib.contextmanager
def read_cursor() -> Iterator[FailoverCursor]:
    """`with read_cursor() as cursor:` for SELECTs outside a unit of work (inside one it is the
    primary's cursor, in the unit of work's transaction)."""
    cursor = FailoverCursor(read_alias())
    try:
        yield cursor
    finally:
        cursor.close()


# --- the Django router ----------------------------------------------------------------------------------
class ReplicaRouter:
    """settings.DATABASE_ROUTERS: ORM reads by `read_alias()`, writes and migrations on the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        instance = hints.get("instance")
        if instance is not None and getattr(instance._state, "db", None) == PRIMARY:
            return PRIMARY  # relations of a row read from the primary are read there too
        return read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # every alias is the same database

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        return False if db in replica_aliases() else None
