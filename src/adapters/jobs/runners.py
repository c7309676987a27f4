"""What the entry points (Celery tasks, `manage.py nightly`) run: each job built from settings and
the domain's ports, and recorded as a `Job` row so operators see every run, its progress and result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from django.conf import settings

from adapters.db.partitioning import manager as partition_manager
from adapters.jobs.analysis import CreditFiguresOfCurrency, PortfolioAnalysisJob
from adapters.jobs.nightly import NightlyDelinquency, refresh_one
from adapters.jobs.store import JobStore
from adapters.orm.jobs.models import Job
from domain.application.ports import Ports

log = logging.getLogger("jobs")


@dataclass(frozen=True)
class JobDeps:
    """What the job entry points (Celery tasks, `manage.py nightly`) run with: built by
    config.bootstrap and handed to them, so no entry point builds an adapter of its own."""

    ports: Ports
    store: JobStore
    invalidate_reads: Callable[[], None]  # after each nightly chunk commits: every cached read is stale


def analysis_job(ports: Ports, store: JobStore | None = None) -> PortfolioAnalysisJob:
    policy = ports.policies.delinquency
    return PortfolioAnalysisJob(
        store or JobStore(),
        lambda currency: CreditFiguresOfCurrency(policy, currency),
        chunk_size=settings.JOBS_CHUNK_SIZE,
        pause_seconds=settings.JOBS_CHUNK_PAUSE_MS / 1000,
        workers=settings.ANALYSIS_WORKERS,
    )


def nightly_job(ports: Ports, after_chunk: Callable[[], None] | None = None) -> NightlyDelinquency:
    return NightlyDelinquency(
        ports.policies,
        chunk_size=settings.NIGHTLY_CHUNK_SIZE,
        workers=settings.NIGHTLY_WORKERS,
        fallback=lambda credit_id, as_of: refresh_one(ports, credit_id, as_of),
        after_chunk=after_chunk,
    )


def run_recorded(
    kind: str,
    params: dict[str, Any],
    work: Callable[[Callable[[int, int], object]], dict[str, Any]],
    store: JobStore | None = None,
) -> tuple[UUID, dict[str, Any]]:
    """Run `work(progress)` as a new job row of `kind`: running, progress, then succeeded with the
    result, or failed with the error (re-raised)."""
    store = store or JobStore()
    job_id = store.create(kind, params)
    claim = store.claim(job_id)
    assert claim is not None  # just created
    try:
        result = work(lambda done, total: store.progress(claim, done=done, total=total))
    except Exception as exc:
        store.fail(job_id, f"{type(exc).__name__}: {exc}")
        raise
    store.succeed(claim, result=result)
    return job_id, result


def run_nightly(
    ports: Ports,
    as_of: date | None = None,
    after_chunk: Callable[[], None] | None = None,
    store: JobStore | None = None,
) -> dict:
    """The nightly delinquency run for `as_of` (default: the business date), recorded as a job."""
    day = as_of or ports.clock.today()
    job = nightly_job(ports, after_chunk)

    def work(progress: Callable[[int, int], object]) -> dict[str, Any]:
        return job.run(day, progress).as_json()

    _, result = run_recorded(Job.Kind.NIGHTLY_DELINQUENCY.value, {"as_of": day.isoformat()}, work, store)
    log.info("nightly delinquency done", extra={"result": result})
    return result


def upkeep_partitions(store: JobStore | None = None) -> dict[str, Any]:
    """Move rows out of the DEFAULT partitions into their months, then create the months from the
    oldest credit's opening to 12 ahead (psqlextra's manager, extended); never delete."""

    def work(progress: Callable[[int, int], object]) -> dict[str, Any]:
        plan = partition_manager.plan(skip_create=False, skip_delete=True)
        created = [
            f"{model_plan.config.model._meta.db_table}_{partition.name()}"
            for model_plan in plan.model_plans
            for partition in model_plan.creations
        ]
        plan.apply()
        progress(len(created), len(created))
        return {"created": created, "moved_from_default": plan.moved_from_default}

    _, result = run_recorded(Job.Kind.PARTITION_UPKEEP.value, {}, work, store)
    return result
