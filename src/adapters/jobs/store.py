"""Job rows: create, claim, progress, finish. Every write is one single-row UPDATE.

The claim protocol makes a job complete once whatever the broker does (acks late, redelivery
after a worker dies, a visibility timeout that hands a message to a second worker):

- `claim` moves a pending or running job to running under a fresh `run_token` (a redelivered
  running job restarts from the beginning); a finished job (succeeded or failed) is not claimed,
  so a redelivered task for it does nothing;
- `progress` and `succeed` only touch the row while it still carries the caller's token, so a stale
  delivery that lost its claim learns it at its next chunk (`progress` returns False) and stops.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db import connection

from adapters.orm.jobs.models import Job
from domain.application.queries.jobs import JobView
from domain.shared.ids import Uuid7Generator

PENDING, RUNNING, SUCCEEDED, FAILED = (s.value for s in Job.State)
_ids = Uuid7Generator()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery's hold on a job: its token and the job's parameters."""

    job_id: UUID
    token: UUID
    kind: str
    params: dict[str, Any]
    attempt: int


_VIEW_COLUMNS = (
    "id, kind, state, done, total, params, result, error, requested_by_id, attempts, created_at, started_at, "
    "finished_at, result_csv <> ''"
)


def _json(value: object) -> Any:
    # Django's psycopg 3 backend hands jsonb to raw cursors as text.
    return json.loads(value) if isinstance(value, str) else value


class JobStore:
    def create(self, kind: str, params: dict[str, Any], requested_by: int | None = None) -> UUID:
        job_id = _ids.new_id()
        Job.objects.create(
            id=job_id, kind=kind, state=PENDING, params=params, requested_by_id=requested_by, created_at=_now()
        )
        return job_id

    def get(self, job_id: UUID) -> JobView | None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {_VIEW_COLUMNS} FROM jobs_job WHERE id = %s", [job_id])
            row = cursor.fetchone()
        if row is None:
            return None
        (jid, kind, state, done, total, params, result, error, by, attempts, created, started, finished, has_csv) = row
        return JobView(
            id=jid,
            kind=kind,
            state=state,
            done=done,
            total=total,
            params=_json(params) or {},
            result=_json(result),
            error=error,
            requested_by=by,
            attempts=attempts,
            created_at=created,
            started_at=started,
            finished_at=finished,
            has_csv=has_csv,
        )

    def csv(self, job_id: UUID) -> tuple[str, str] | None:
        """(state, csv text) of a job, None when there is no such job."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT state, result_csv FROM jobs_job WHERE id = %s", [job_id])
            row = cursor.fetchone()
        return (row[0], row[1]) if row else None

    def claim(self, job_id: UUID) -> Claim | None:
        """Take the job for this delivery (restarting it if another delivery had it); None when it is
        finished or unknown: the delivery then has nothing to do."""
        token = uuid.uuid4()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE jobs_job SET state = %s, run_token = %s, attempts = attempts + 1, done = 0, error = '', "
                "started_at = COALESCE(started_at, %s), heartbeat_at = %s "
                "WHERE id = %s AND state IN (%s, %s) RETURNING kind, params, attempts",
                [RUNNING, token, _now(), _now(), job_id, PENDING, RUNNING],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return Claim(job_id=job_id, token=token, kind=row[0], params=_json(row[1]) or {}, attempt=row[2])

    def progress(self, claim: Claim, *, done: int, total: int) -> bool:
        """Record progress; False when this delivery no longer holds the job (it must stop)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE jobs_job SET done = %s, total = %s, heartbeat_at = %s "
                "WHERE id = %s AND run_token = %s AND state = %s",
                [done, total, _now(), claim.job_id, claim.token, RUNNING],
            )
            return cursor.rowcount == 1

    def succeed(
        self, claim: Claim, *, result: dict[str, Any], csv: str = "", done: int | None = None, total: int | None = None
    ) -> bool:
        """Finish the job with its result (progress kept as last reported unless given)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE jobs_job SET state = %s, done = COALESCE(%s, done), total = COALESCE(%s, total), "
                "result = %s::jsonb, result_csv = %s, "
                "error = '', finished_at = %s, heartbeat_at = %s, run_token = NULL "
                "WHERE id = %s AND run_token = %s AND state = %s",
                [SUCCEEDED, done, total, json.dumps(result), csv, _now(), _now(), claim.job_id, claim.token, RUNNING],
            )
            return cursor.rowcount == 1

    def note_error(self, job_id: UUID, error: str) -> None:
        """A retryable failure: the job stays running (its next delivery restarts it) and shows why."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE jobs_job SET error = %s, heartbeat_at = %s WHERE id = %s AND state IN (%s, %s)",
                [error[:2000], _now(), job_id, PENDING, RUNNING],
            )

    def fail(self, job_id: UUID, error: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE jobs_job SET state = %s, error = %s, finished_at = %s, run_token = NULL "
                "WHERE id = %s AND state IN (%s, %s)",
                [FAILED, error[:2000], _now(), job_id, PENDING, RUNNING],
            )
            return cursor.rowcount == 1

    def last_finished(self, kind: str) -> JobView | None:
        """The latest job of `kind` that succeeded or failed (a running one has no verdict yet)."""
        return self._latest(kind, (SUCCEEDED, FAILED))

    def last_succeeded(self, kind: str) -> JobView | None:
        return self._latest(kind, (SUCCEEDED,))

    def _latest(self, kind: str, states: tuple[str, ...]) -> JobView | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM jobs_job WHERE kind = %s AND state = ANY(%s) ORDER BY created_at DESC LIMIT 1",
                [kind, list(states)],
            )
            row = cursor.fetchone()
        return self.get(row[0]) if row else None
