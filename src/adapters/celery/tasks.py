"""Celery tasks: thin entry points that run the jobs (adapters.jobs) with what config.bootstrap built
and installed here at start-up (`install`, from config.apps.ready); a task builds no adapter.

Delivery is at least once (acks late, redelivery when a worker dies or a visibility timeout
passes), so every task is idempotent: the analysis claims its job row (a finished job is not run
again, a running one restarts and completes once), the nightly run computes what is still due for
its date (a second run charges nothing), and partition upkeep only creates what is missing.

Database and connection errors are retried with exponential backoff and jitter (2 s, 4 s, ... up to
10 minutes, 5 times), always below the broker's visibility timeout; anything else fails the job at
once with its error on the job row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from adapters.jobs.nightly import NightlyAlreadyRunning
from adapters.jobs.runners import JobDeps, analysis_job, run_nightly, upkeep_partitions

log = logging.getLogger("jobs")

RETRYABLE = (OperationalError, InterfaceError)
RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": 2,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}
NIGHTLY_BUSY_COUNTDOWN = 300

_deps: Callable[[], JobDeps] | None = None


def install(provider: Callable[[], JobDeps]) -> None:
    """config.bootstrap hands the tasks their dependencies (in every process: web, worker, beat)."""
    global _deps
    _deps = provider


def deps() -> JobDeps:
    if _deps is None:
        raise RuntimeError("The Celery tasks are not wired: config.apps must be ready first")
    return _deps()


def _job_id(args: tuple, kwargs: dict) -> UUID | None:
    raw = kwargs.get("job_id") if kwargs else None
    if raw is None and args:
        raw = args[0]
    try:
        return UUID(str(raw)) if raw is not None else None
    except ValueError:
        return None


class JobTask(Task):
    """A task that runs a job row: retries show on the row, a final failure fails it."""

    def on_retry(self, exc: Exception, task_id: str, args: tuple, kwargs: dict, einfo: object) -> None:
        job_id = _job_id(args, kwargs)
        if job_id is not None:
            try:
                deps().store.note_error(job_id, f"retrying after {type(exc).__name__}: {exc}")
            except RETRYABLE:
                log.warning("could not record the retry of job %s", job_id)

    def on_failure(self, exc: Exception, task_id: str, args: tuple, kwargs: dict, einfo: object) -> None:
        job_id = _job_id(args, kwargs)
        if job_id is not None:
            try:
                deps().store.fail(job_id, f"{type(exc).__name__}: {exc}")
            except RETRYABLE:
                log.exception("could not mark job %s failed", job_id)


@shared_task(base=JobTask, name="jobs.portfolio_analysis", **RETRY_POLICY)
def portfolio_analysis(job_id: str) -> str:
    """Run a portfolio-analysis job row (created by the API) to completion."""
    wired = deps()
    outcome = analysis_job(wired.ports, wired.store).run(UUID(job_id))
    log.info("portfolio analysis %s: %s", job_id, outcome)
    return outcome


@shared_task(bind=True, name="jobs.nightly_delinquency", **RETRY_POLICY)
def nightly_delinquency(self: Task, as_of: str | None = None) -> dict[str, Any]:
    """Late fees, delinquency flags and default/cure for the whole book as of `as_of` (ISO date;
    default the business date). Cached reads are invalidated after every chunk commits."""
    day = date.fromisoformat(as_of) if as_of else None
    try:
        wired = deps()
        return run_nightly(wired.ports, day, after_chunk=wired.invalidate_reads, store=wired.store)
    except NightlyAlreadyRunning as exc:
        raise self.retry(exc=exc, countdown=NIGHTLY_BUSY_COUNTDOWN) from exc


@shared_task(name="jobs.partition_upkeep", **RETRY_POLICY)
def partition_upkeep() -> dict[str, Any]:
    """Create the monthly partitions up to 12 months ahead (never deletes one)."""
    return upkeep_partitions(deps().store)
