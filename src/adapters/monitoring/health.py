"""Probes of the services the app depends on, each answering ok / down with a latency."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from adapters.db.replicas import monitor as replica_monitor


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    status: str  # ok | down | not_configured; a replica also lagging | unknown
    latency_ms: float
    detail: str = ""
    lag_seconds: float | None = None  # replicas only


def _timed(name: str, check: callable) -> Probe:  # type: ignore[valid-type]
    started = time.perf_counter()
    try:
        detail = check() or ""
        status = "ok"
    except Exception as exc:  # any failure of a dependency is a "down", never a 500 of the probe
        detail, status = type(exc).__name__, "down"
    return Probe(name, status, round((time.perf_counter() - started) * 1000, 2), detail)


def probe_database(alias: str = "default") -> Probe:
    def check() -> str:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return ""

    return _timed("database" if alias == "default" else alias, check)


def probe_redis() -> Probe:
    if not settings.REDIS_AVAILABLE:
        return Probe("redis", "not_configured", 0.0, "local-memory cache in use")

    def check() -> str:
        from django_redis import get_redis_connection

        get_redis_connection("default").ping()
        return ""

    return _timed("redis", check)


def probe_replicas() -> list[Probe]:
    """Each read replica as the router sees it, checked now: ok, lagging (past REPLICA_MAX_LAG_SECONDS)
    or down. Reads skip a replica that is not ok, so neither makes the service down, only degraded."""
    return [Probe(s.alias, s.status, s.latency_ms, s.detail, s.lag_seconds) for s in replica_monitor.refresh()]


def probe_broker() -> Probe:
    """The Celery broker answers (without it, background jobs queue nowhere)."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return Probe("broker", "not_configured", 0.0, "tasks run in-process")

    def check() -> str:
        from kombu import Connection

        with Connection(url, connect_timeout=0.5, transport_options={"socket_timeout": 0.5}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
        return ""

    return _timed("broker", check)


def probe_workers() -> Probe:
    """Does anything consume the jobs? `down` when messages wait and no worker has noted itself for
    WORKER_LOST_AFTER_SECONDS (a job would stay `pending` forever); no worker and nothing waiting is
    not a fault. One pipelined Redis round trip (adapters/celery/heartbeat.py)."""
    from celery import current_app

    from adapters.celery.heartbeat import liveness, uses_redis

    if not settings.CELERY_BROKER_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return Probe("workers", "not_configured", 0.0, "tasks run in-process")
    url = settings.CELERY_BROKER_URL
    if not uses_redis(url):
        return Probe("workers", "unknown", 0.0, "worker liveness is read from a Redis broker only")
    started = time.perf_counter()
    lost_after = settings.WORKER_LOST_AFTER_SECONDS
    try:
        seen = liveness(current_app, url, lost_after)
    except Exception as exc:  # the broker's own check says why; this one is then unknown
        return Probe("workers", "unknown", _ms_since(started), type(exc).__name__)
    if seen.worker:
        status, detail = "ok", f"{seen.worker} seen {seen.seen_seconds_ago} s ago; {seen.waiting} waiting"
    elif seen.waiting:
        status, detail = "down", f"no worker seen for {lost_after:g} s; {seen.waiting} waiting"
    else:
        status, detail = "ok", f"no worker seen for {lost_after:g} s; nothing waiting"
    return Probe("workers", status, _ms_since(started), detail)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def probe_all() -> list[Probe]:
    return [probe_database(), *probe_replicas(), probe_redis(), probe_broker(), probe_workers()]
