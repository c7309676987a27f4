"""What the API asks of jobs: start a portfolio analysis (enqueued once the row is committed), read a
job's state, progress and result, and its CSV."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from uuid import UUID

from django.db import transaction

from adapters.jobs.store import JobStore
from adapters.orm.jobs.models import Job
from domain.application.queries.jobs import JobView, QueueUnavailable

log = logging.getLogger("jobs")


class JobsService:
    def __init__(self, store: JobStore, enqueue_analysis: Callable[[str], object]) -> None:
        self._store = store
        self._enqueue = enqueue_analysis

    def start_portfolio_analysis(self, *, requested_by: int, as_of: date, currency: str | None) -> JobView:
        """Create the job and enqueue it on commit: a worker never looks for a row not yet committed."""
        with transaction.atomic():
            job_id = self._store.create(
                Job.Kind.PORTFOLIO_ANALYSIS.value,
                {"as_of": as_of.isoformat(), "currency": currency},
                requested_by=requested_by,
            )
            transaction.on_commit(lambda: self._send(job_id))
        view = self._store.get(job_id)
        assert view is not None
        return view

    def _send(self, job_id: UUID) -> None:
        try:
            self._enqueue(str(job_id))
        except Exception as exc:
            log.exception("could not enqueue job %s", job_id)
            self._store.fail(job_id, f"could not enqueue: {type(exc).__name__}: {exc}")
            raise QueueUnavailable("The job queue is unavailable; try again later.") from exc

    def get(self, job_id: UUID) -> JobView | None:
        return self._store.get(job_id)

    def csv(self, job_id: UUID) -> tuple[str, str] | None:
        """(state, csv) of the job, None when unknown."""
        return self._store.csv(job_id)
