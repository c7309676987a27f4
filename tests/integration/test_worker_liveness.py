"""Health knows whether anything consumes the jobs, not only whether the broker answers.

Found running `make run` with Redis up and no worker: a portfolio analysis stayed `pending` forever
while /health said the broker was `ok`. Here with a real `celery worker` subprocess on the test
database and the tests' own Redis db as the broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client

from adapters.celery.heartbeat import heartbeat_key
from config.celery_app import app as celery_app
from tests.integration.test_jobs_worker import Worker
from tests.integration.test_jobs_worker import _admin_client as _admin
from tests.live import clear_queue, environment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

LOST_AFTER = 3.0  # seconds without a heartbeat before a worker counts as gone


@pytest.fixture
def broker(settings: Any) -> Iterator[str]:
    """The app publishes to the tests' Redis db (the checkout's own), and forgets workers after 3 s."""
    url = settings.REDIS_URL
    queue = celery_app.conf.task_default_queue
    # The instance's key prefix stays: the worker (same settings) uses it too.
    prefix = str(celery_app.conf.broker_transport_options.get("global_keyprefix", ""))
    clear_queue(url, queue, prefix)
    saved = celery_app.conf.broker_url, celery_app.conf.broker_transport_options
    celery_app.conf.broker_url = url
    celery_app._after_fork()  # rebuild the publisher's connection pool for the new URL
    settings.CELERY_BROKER_URL = url
    settings.WORKER_LOST_AFTER_SECONDS = LOST_AFTER
    yield url
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
    celery_app._after_fork()
    clear_queue(url, queue, prefix)


@pytest.fixture
def start_worker(broker: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def start() -> Worker:
        env = environment(
            APP_ENV="test",
            DB_CONN_MAX_AGE="0",
            CELERY_BROKER_URL=broker,
            WORKER_HEARTBEAT_SECONDS="0.5",
            WORKER_LOST_AFTER_SECONDS=str(LOST_AFTER),
        )
        worker = Worker(f"liveness{len(started)}", env, tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def _start_job(client: Client) -> str:
    response = client.post(
        "/api/v1/jobs/portfolio-analysis", {"as_of": date.today().isoformat()}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    return str(response.json()["id"])


def _health(client: Client) -> tuple[str, dict[str, Any]]:
    body = client.get("/api/v1/health").json()
    return body["status"], {check["name"]: check for check in body["checks"]}


def _state_after(client: Client, job_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (state := client.get(f"/api/v1/jobs/{job_id}").json()["state"]) not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return str(state)


def test_a_job_waiting_for_no_worker_degrades_health_until_a_worker_runs_it(broker: str, start_worker: Any) -> None:
    client = _admin()
    job_id = _start_job(client)
    assert _state_after(client, job_id, timeout=1.0) == "pending"

    status, checks = _health(client)
    assert checks["broker"]["status"] == "ok"  # what health said before: the broker answers...
    assert checks["workers"]["status"] == "down", checks  # ...and nothing takes the job
    assert "1 waiting" in checks["workers"]["detail"]
    assert status == "degraded"

    worker = start_worker()
    assert _state_after(client, job_id, timeout=30) == "succeeded", worker.text()[-3000:]
    status, checks = _health(client)
    assert checks["workers"]["status"] == "ok" and checks["workers"]["detail"].startswith("liveness0@"), checks
    assert status == "ok", checks

    # A worker that dies without a word is trusted for WORKER_LOST_AFTER_SECONDS, then no longer.
    assert worker.proc is not None
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(timeout=10)
    stranded = _start_job(client)
    assert _health(client)[1]["workers"]["status"] == "ok"
    time.sleep(LOST_AFTER + 0.5)
    status, checks = _health(client)
    assert checks["workers"]["status"] == "down" and status == "degraded", checks
    assert client.get(f"/api/v1/jobs/{stranded}").json()["state"] == "pending"


def test_a_worker_that_stops_takes_its_heartbeat_with_it(broker: str, start_worker: Any) -> None:
    client = _admin()
    worker = start_worker()
    assert _health(client)[1]["workers"]["status"] == "ok"
    worker.stop()  # a warm shutdown (SIGTERM) takes the worker's name out at once
    prefix = str(celery_app.conf.broker_transport_options.get("global_keyprefix", ""))
    assert redis.Redis.from_url(broker).zcard(heartbeat_key(prefix, celery_app.conf.task_default_queue)) == 0
    _start_job(client)
    status, checks = _health(client)
    assert checks["workers"]["status"] == "down" and status == "degraded", checks


def test_without_a_broker_jobs_run_in_process_and_health_says_so(settings: Any) -> None:
    settings.CELERY_BROKER_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    client = _admin()
    workers = _health(client)[1]["workers"]
    assert (workers["status"], workers["detail"]) == ("not_configured", "tasks run in-process")


def test_a_fresh_web_process_sees_the_workers_of_the_projects_queue(broker: str, start_worker: Any) -> None:
    """Found on `make cluster`: an API node that had enqueued nothing asked Celery's default app for
    its workers (no key prefix, another queue) and said "no worker seen" while one was running. A
    new process, as a server's worker is, reads /health with a worker up."""
    worker = start_worker()
    assert _health(_admin())[1]["workers"]["status"] == "ok"  # this process: the app is imported here
    code = (
        "import django, json, sys; django.setup(); from django.test import Client; "
        "assert 'config.celery_app' not in sys.modules; "
        "body = Client().get('/api/v1/health').json(); "
        "print(json.dumps({c['name']: c for c in body['checks']}['workers']))"
    )
    env = environment(
        APP_ENV="test",
        CELERY_BROKER_URL=broker,
        WORKER_HEARTBEAT_SECONDS="0.5",
        WORKER_LOST_AFTER_SECONDS=str(LOST_AFTER),
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    check = json.loads(done.stdout.strip().splitlines()[-1])
    assert check["status"] == "ok" and check["detail"].startswith("liveness0@"), (check, worker.text()[-2000:])
