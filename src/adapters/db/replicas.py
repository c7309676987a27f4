"""Replica health for read routing: is each replica up, and how far behind the primary is it?

One `ReplicaMonitor` per process. It checks at most every REPLICA_CHECK_INTERVAL_SECONDS, in a
short-lived background thread (a busy process never waits for a check, not even for a replica whose
host black-holes packets), over its own autocommit connections: one to the primary and one per
replica, outside Django's per-thread connections and pools, so a check never touches a request's
transaction and never waits on a pool. A state older than a few intervals is not trusted (see
`healthy`): without a fresh check, reads go to the primary.

Lag. Each check reads the primary's flushed WAL position first (`pg_current_wal_flush_lsn()`),
keeping a short history of (when, position) samples, then each replica's replayed position
(`pg_last_wal_replay_lsn()`). A replica that has replayed what the primary had at the latest
sample is caught up (lag 0). Otherwise its lag is `now - t`, where t is the latest sample whose
position the replica has reached: it holds everything the primary had at t, so it is at most that
stale. This measures only this process's monotonic clock, so it has neither of the two classic
errors of `now() - pg_last_xact_replay_timestamp()`: clock skew between hosts, and an idle primary
looking like a lagging replica (no commits to replay means an old timestamp, not lag). The replay
timestamp is still used when the history cannot answer: on a process's first check, when the
replica is behind every sample kept, or when the primary cannot be reached (then: lag 0 if the
replica has replayed all it received, else the age of its last replayed commit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

log = logging.getLogger("adapters.db.replicas")

PRIMARY = "default"
_SAMPLES_KEPT = 64
STALE_WAIT_SECONDS = 0.25
_REPLICA_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_wal_receive_lsn()::text,"
    " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8,"
    " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END"
)
# Connection settings that are Django's or the pool's, not libpq's.
_NOT_LIBPQ = {"cursor_factory", "context", "pool", "server_side_binding", "assume_role", "isolation_level"}


@dataclass(frozen=True, slots=True)
class ReplicaState:
    alias: str
    status: str  # ok | lagging | down | unknown
    lag_seconds: float | None
    lag_bytes: int | None
    detail: str
    latency_ms: float
    checked_at: float  # time.monotonic() of the check


def parse_lsn(text: str | None) -> int | None:
    """'16/B374D848' -> an integer position (None stays None)."""
    if not text:
        return None
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def estimate_lag(samples: list[tuple[float, int]], replayed: int, replay_age: float | None, now: float) -> float:
    """Seconds the replica is behind, from the primary's (time, position) samples, oldest first,
    the last one taken just before `replayed` was read (see the module docstring)."""
    if replayed >= samples[-1][1]:
        return 0.0
    reached = [at for at, position in samples if position <= replayed]
    if reached:
        return max(0.0, now - max(reached))
    # Behind everything we have seen: at least since the oldest sample; its own clock says more.
    at_least = now - samples[0][0]
    return max(at_least, replay_age or 0.0)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", ()))


class ReplicaMonitor:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._check_lock = threading.Lock()  # one check at a time
        self._states: dict[str, ReplicaState] = {}
        self._samples: deque[tuple[float, int]] = deque(maxlen=_SAMPLES_KEPT)
        self._probes: dict[str, psycopg.Connection[Any]] = {}
        self._last_started = float("-inf")
        self._last_finished = float("-inf")
        self._idle = threading.Event()  # set while no background check runs
        self._idle.set()

    # --- what routing asks ---------------------------------------------------------------------------
    def healthy(self) -> list[str]:
        """The replicas reads may use now, in configuration order; starts a background check when due.

        States older than a few intervals (the first read of a process, the first after an idle
        spell, or checks that hang) are not trusted: the read waits up to STALE_WAIT_SECONDS for
        the check just started (normally a millisecond or two), and without one uses no replica.
        """
        self._fork_guard()
        now = time.monotonic()
        interval = float(settings.REPLICA_CHECK_INTERVAL_SECONDS)
        if now - self._last_started >= interval:
            self._refresh_in_background()
        valid_for = 3 * interval + STALE_WAIT_SECONDS
        if now - self._last_finished > valid_for and now - self._last_started < STALE_WAIT_SECONDS:
            # The check just started (never one a hung check started long ago: that would slow every read).
            self._idle.wait(STALE_WAIT_SECONDS)
            now = time.monotonic()
        return [
            alias
            for alias in replica_aliases()
            if (state := self._states.get(alias)) is not None
            and state.status == "ok"
            and now - state.checked_at <= valid_for
        ]

    def is_healthy(self, alias: str) -> bool:
        state = self._states.get(alias)
        return state is not None and state.status == "ok"

    def mark_down(self, alias: str, reason: str) -> None:
        """A read just failed on `alias`: skip it until a check finds it answering again."""
        previous = self._states.get(alias)
        if previous is None or previous.status != "down":
            log.warning("replica %s marked down after a failed read: %s", alias, reason)
        self._states[alias] = ReplicaState(alias, "down", None, None, reason, 0.0, time.monotonic())

    def states(self) -> list[ReplicaState]:
        """The last known state of every replica (unknown before the first check)."""
        return [
            self._states.get(alias) or ReplicaState(alias, "unknown", None, None, "not checked yet", 0.0, 0.0)
            for alias in replica_aliases()
        ]

    # --- checks --------------------------------------------------------------------------------------
    def refresh(self) -> list[ReplicaState]:
        """Check every replica now (waits for a check already running) and return the states."""
        self._fork_guard()
        with self._check_lock:
            self._last_started = time.monotonic()
            self._check()
        return self.states()

    def _refresh_in_background(self) -> None:
        if not self._idle.is_set():
            return
        self._idle.clear()
        self._last_started = time.monotonic()

        def run() -> None:
            try:
                with self._check_lock:
                    self._check()
            except Exception:  # a check must never take the process down
                log.exception("replica check failed")
            finally:
                self._idle.set()

        threading.Thread(target=run, name="replica-monitor", daemon=True).start()

    def _check(self) -> None:
        aliases = replica_aliases()
        if not aliases:
            return
        sampled_at = time.monotonic()
        primary_lsn: int | None = None
        try:
            row = self._probe(PRIMARY).execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
            primary_lsn = parse_lsn(row[0] if row else None)
        except Exception as exc:
            self._drop_probe(PRIMARY)
            log.warning("replica check: the primary did not answer: %s", exc)
        if primary_lsn is not None:
            self._samples.append((sampled_at, primary_lsn))
        max_lag = float(settings.REPLICA_MAX_LAG_SECONDS)
        for alias in aliases:
            state = self._check_one(alias, primary_lsn, max_lag)
            previous = self._states.get(alias)
            if previous is not None and previous.status != state.status:
                log.warning("replica %s is now %s (%s)", alias, state.status, state.detail)
            self._states[alias] = state
        self._last_finished = time.monotonic()

    def _check_one(self, alias: str, primary_lsn: int | None, max_lag: float) -> ReplicaState:
        started = time.monotonic()
        try:
            row = self._probe(alias).execute(_REPLICA_SQL).fetchone()
            if row is None:  # one row of functions: never empty from a server that answers
                raise RuntimeError("the replica probe returned no row")
        except Exception as exc:
            self._drop_probe(alias)
            now = time.monotonic()
            return ReplicaState(alias, "down", None, None, _describe(exc), _ms(now - started), now)
        now = time.monotonic()
        latency = _ms(now - started)
        in_recovery, replay_text, receive_text, replay_age, paused = row
        if not in_recovery:
            return ReplicaState(alias, "down", None, None, "not a standby: pg_is_in_recovery() is false", latency, now)
        replayed = parse_lsn(replay_text) or 0
        notes = ["replay paused"] if paused else []
        if primary_lsn is not None:
            lag = estimate_lag(list(self._samples), replayed, replay_age, now)
            lag_bytes: int | None = max(0, primary_lsn - replayed)
        else:
            received = parse_lsn(receive_text) or 0
            lag = 0.0 if replayed >= received else max(0.0, replay_age or 0.0)
            lag_bytes = None
            notes.append("primary unreachable: lag from the replica's own view")
        status = "lagging" if lag > max_lag else "ok"
        detail = f"lag {lag:.2f} s" + (f", {lag_bytes} bytes behind" if lag_bytes is not None else "")
        if notes:
            detail += "; " + ", ".join(notes)
        return ReplicaState(alias, status, round(lag, 3), lag_bytes, detail, latency, now)

    def _probe(self, alias: str) -> psycopg.Connection[Any]:
        conn = self._probes.get(alias)
        if conn is None or conn.closed or conn.broken:
            params = {k: v for k, v in connections[alias].get_connection_params().items() if k not in _NOT_LIBPQ}
            timeout = max(1, int(settings.REPLICA_CONNECT_TIMEOUT_SECONDS))
            params["connect_timeout"] = timeout
            # A host gone silent fails the probe in seconds rather than after TCP's retransmissions.
            params["tcp_user_timeout"] = max(2000, 2000 * timeout)
            params["application_name"] = "fintech-credits replica monitor"
            conn = psycopg.connect(**params, autocommit=True)
            self._probes[alias] = conn
        return conn

    def _drop_probe(self, alias: str) -> None:
        conn = self._probes.pop(alias, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; it is gone either way
                conn.close()

    def _fork_guard(self) -> None:
        """After a fork, start afresh; the parent's probe sockets stay open (closing them from here
        would end the parent's sessions) and are just never used."""
        if os.getpid() != self._pid:
            _orphans.extend(self._probes.values())
            self._reset()


_orphans: list[object] = []


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _describe(exc: BaseException) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line}"[:200]


monitor = ReplicaMonitor()
