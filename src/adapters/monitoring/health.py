"""Probes of the services the app depends on, each answering ok / down with a latency; and the last
nightly run's verdict (credits it set aside degrade the service)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from celery import Celery
from django.conf import settings
from django.db import connections

from adapters.db.partitioning import DEFAULT_ROWS_COUNTED, rows_in_default_partitions
from adapters.db.replicas import monitor as replica_monitor
from adapters.jobs.store import FAILED, JobStore
from adapters.orm.jobs.models import Job


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    status: str  # ok | down | not_configured; a replica also lagging | unknown
    latency_ms: float
    detail: str = ""
    lag_seconds: float | None = None  # replicas only


def _timed(name: str, check: Callable[[], str | None]) -> Probe:
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
    """Every node of the cache answers PING. A sharded cache with a node down is `down` here (the
    service only degrades: reads fail open), and the detail names the nodes that did not answer."""
    if not settings.REDIS_AVAILABLE:
        return Probe("redis", "not_configured", 0.0, "local-memory cache in use")
    from django.core.cache import caches

    from adapters.cache.redis_clients import cache_nodes

    started = time.perf_counter()
    try:
        nodes = cache_nodes(caches["default"])
    except Exception as exc:  # a cache that cannot even build its clients
        return Probe("redis", "down", _ms_since(started), type(exc).__name__)
    silent = []
    for where, node in nodes.items():
        try:
            node.ping()
        except Exception as exc:  # this node is down; the others are still asked
            silent.append(f"{where} ({type(exc).__name__})")
    if silent:
        detail = f"{len(silent)} of {len(nodes)} node(s) not answering: {', '.join(silent)}"
        return Probe("redis", "down", _ms_since(started), detail)
    return Probe("redis", "ok", _ms_since(started), f"{len(nodes)} shards" if len(nodes) > 1 else "")


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


NIGHTLY_DETAIL_CREDITS = 5  # set-aside credits named in the probe's detail (the job's result has them all)


def probe_nightly() -> Probe:
    """The last finished nightly run: "degraded" when it set credits aside (they owe no late fee and
    keep an old delinquency snapshot until a run gets them through), "failed" when it failed whole."""

    def check() -> Probe:
        job = JobStore().last_finished(Job.Kind.NIGHTLY_DELINQUENCY.value)
        if job is None:
            return Probe("nightly", "ok", 0.0, "no run yet")
        as_of = job.params.get("as_of", "?")
        if job.state == FAILED:
            return Probe("nightly", "failed", 0.0, f"the run as of {as_of} failed: {job.error[:200]}")
        result = job.result or {}
        total = int(result.get("set_aside_total", 0))
        if not total:
            return Probe("nightly", "ok", 0.0, f"last run as of {as_of}")
        named = ", ".join(
            f"{a['credit_id']} ({a['reason'][:120]})" for a in result.get("set_aside", [])[:NIGHTLY_DETAIL_CREDITS]
        )
        more = f" and {total - NIGHTLY_DETAIL_CREDITS} more" if total > NIGHTLY_DETAIL_CREDITS else ""
        return Probe("nightly", "degraded", 0.0, f"the run as of {as_of} set {total} credit(s) aside: {named}{more}")

    started = time.perf_counter()
    try:
        probe = check()
    except Exception as exc:  # the probe never answers a 500
        probe = Probe("nightly", "unknown", 0.0, type(exc).__name__)
    return Probe(probe.name, probe.status, round((time.perf_counter() - started) * 1000, 2), probe.detail)


def probe_default_partitions() -> Probe:
    """Rows in a DEFAULT partition: PostgreSQL refuses to create their month until they are moved
    (the partition upkeep does), so they degrade the service with their count."""
    started = time.perf_counter()
    try:
        rows = rows_in_default_partitions()
    except Exception as exc:  # a missing table or a failing query is reported, never a 500 of the probe
        status, detail = "down", type(exc).__name__
    else:
        status = "degraded" if rows else "ok"
        detail = "; ".join(
            f"{table}: {f'over {DEFAULT_ROWS_COUNTED}' if count > DEFAULT_ROWS_COUNTED else count} rows in DEFAULT"
            for table, count in rows.items()
        )
        if rows:
            detail += " (the nightly partition upkeep moves them; now: manage.py pgpartition --yes --skip-delete)"
    return Probe("partitions", status, round((time.perf_counter() - started) * 1000, 2), detail)


def probe_workers(celery_app: Callable[[], Celery]) -> Probe:
    """Does anything consume the jobs? `down` when messages wait and no worker has noted itself for
    WORKER_LOST_AFTER_SECONDS (a job would stay `pending` forever); no worker and nothing waiting is
    not a fault. One pipelined Redis round trip (adapters/celery/heartbeat.py). The project's Celery
    app comes from the composition root: its queue and key prefix are where the workers note
    themselves (Celery's current app, in a web process that has enqueued nothing yet, is a default
    app with neither)."""
    from adapters.celery.heartbeat import liveness, uses_redis

    if not settings.CELERY_BROKER_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return Probe("workers", "not_configured", 0.0, "tasks run in-process")
    url = settings.CELERY_BROKER_URL
    if not uses_redis(url):
        return Probe("workers", "unknown", 0.0, "worker liveness is read from a Redis broker only")
    started = time.perf_counter()
    lost_after = settings.WORKER_LOST_AFTER_SECONDS
    try:
        seen = liveness(celery_app(), url, lost_after)
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


def probe_all(celery_app: Callable[[], Celery]) -> list[Probe]:
    return [
        probe_database(),
        *probe_replicas(),
        probe_redis(),
        probe_broker(),
        probe_workers(celery_app),
        probe_nightly(),
        probe_default_partitions(),
    ]
