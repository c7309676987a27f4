"""Task metrics from Celery's signals: duration per task, failures and retries per task.

Workers serve no HTTP: run them with PROMETHEUS_MULTIPROC_DIR shared with the web processes on the
host; the web's /metrics then aggregates the workers' figures too.
"""

from __future__ import annotations

import time

from celery import signals
from prometheus_client import Counter, Histogram

TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Wall time of each task run.",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900),
)
TASK_FAILURES = Counter("celery_task_failures_total", "Task runs that raised.", ["task", "exception"])
TASK_RETRIES = Counter("celery_task_retries_total", "Task retries requested.", ["task"])
_started: dict[str, float] = {}


@signals.task_prerun.connect
def _prerun(task_id: str | None = None, **kwargs: object) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _postrun(task_id: str | None = None, task: object = None, state: str | None = None, **kwargs: object) -> None:
    started = _started.pop(task_id or "", None)
    if started is not None:
        TASK_DURATION.labels(getattr(task, "name", "?"), state or "?").observe(time.perf_counter() - started)


@signals.task_failure.connect
def _failure(sender: object = None, exception: BaseException | None = None, **kwargs: object) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", "?"), type(exception).__name__).inc()


@signals.task_retry.connect
def _retry(sender: object = None, **kwargs: object) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", "?")).inc()
