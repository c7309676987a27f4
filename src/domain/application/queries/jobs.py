"""Background jobs as the API sees them: start one, follow it, fetch its CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from domain.analytics.model import JobProgress

# The states after which a job changes no more (adapters/orm/jobs/models.py Job.State).
FINISHED_STATES = ("succeeded", "failed")


@dataclass(frozen=True, slots=True)
class JobView:
    id: UUID
    kind: str
    state: str
    done: int
    total: int
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str
    requested_by: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    has_csv: bool

    @property
    def progress(self) -> JobProgress:
        return JobProgress(done=self.done, total=self.total)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


class QueueUnavailable(Exception):
    """The job row exists but the broker refused the message (the job is marked failed)."""


class Jobs(Protocol):
    def start_portfolio_analysis(self, *, requested_by: int, as_of: date, currency: str | None) -> JobView: ...

    def get(self, job_id: UUID) -> JobView | None: ...

    def csv(self, job_id: UUID) -> tuple[str, str] | None: ...
