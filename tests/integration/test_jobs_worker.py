"""Celery jobs run by a real worker process (`celery -A config.celery_app worker`), not eager mode.

The worker is a subprocess on pytest-django's test database (its connection settings taken from
Django's, tests/connections.py) and the suite's broker, whose keys all carry the tests' instance
prefix (emptied before and after each test), with a 3-second visibility timeout so a message
abandoned by a killed worker comes back quickly. Tests are transactional: the worker only sees
committed rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from adapters.celery.tasks import NIGHTLY_BUSY_COUNTDOWN, RETRY_POLICY, RETRYABLE, portfolio_analysis
from adapters.jobs.store import JobStore
from config.celery_app import app as celery_app
from domain.shared.aging import AgingBucket, bucket_for
from tests.builders import business_today, open_credit, pay
from tests.connections import app_environment, delete_broker_keys
from tests.factories import PASSWORD, CurrencyFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
VISIBILITY_TIMEOUT = 3


class Worker:
    """One `celery worker` subprocess in its own process group (so SIGKILL takes its children too)."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._env = env
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 45) -> Worker:
        out = self.log.open("a")
        self.proc = subprocess.Popen(
            [str(CELERY), "-A", "config.celery_app", "worker", "--pool=prefork", "--concurrency=1",
             "--loglevel=INFO", "-n", f"{self.name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=self._env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while "ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name} did not start:\n{self.text()[-3000:]}")
            time.sleep(0.1)
        return self

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no goodbye, no ack, the message stays unacknowledged."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers on the test database and the suite's broker; every one is stopped at teardown."""
    broker = settings.CELERY_BROKER_URL
    delete_broker_keys()
    # This process publishes to the same broker: drop the app's connection and producer pools so
    # they are rebuilt for the new URL (what Celery itself does after a fork).
    celery_app.conf.broker_url = broker
    celery_app.conf.broker_transport_options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": VISIBILITY_TIMEOUT,
    }
    celery_app._after_fork()
    started: list[Worker] = []

    def start(name: str, **extra: str) -> Worker:
        env = app_environment(CELERY_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT), **extra)
        worker = Worker(name, env, tmp_path / f"{name}.log")
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
    delete_broker_keys()


@pytest.fixture
def book() -> date:
    """Two currencies, open, defaulted-by-age, paid and pending credits; returns the as-of date."""
    CurrencyFactory(code="COP", minor_units=2)
    CurrencyFactory(code="USD", minor_units=2)
    t = business_today()
    agent = UserFactory(role="agent")
    clients = [UserFactory() for _ in range(5)]
    for n in range(26):
        credit = open_credit(
            clients[n % 5],
            agent,
            price=f"{300 + 37 * n}.00",
            currency="USD" if n % 4 == 0 else "COP",
            installments=6,
            on=t - timedelta(days=15 * n),
            disburse=n != 3,
        )
        if n % 3 == 1:
            pay(credit, f"{50 + n}.25", on=t - timedelta(days=2))
        if n == 5:
            pay(credit, f"{credit.outstanding.amount:f}", on=t - timedelta(days=1), prepay=True)
    return t


def _admin_client() -> Client:
    admin = UserFactory(role="admin")
    client = Client()
    token = client.post(
        "/api/v1/auth/token", {"username": admin.username, "password": PASSWORD}, content_type="application/json"
    ).json()["access_token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def _start(client: Client, as_of: date) -> str:
    response = client.post(
        "/api/v1/jobs/portfolio-analysis", {"as_of": as_of.isoformat()}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    assert response["Location"] == f"/api/v1/jobs/{response.json()['id']}"
    return response.json()["id"]


def _follow(client: Client, job_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Poll GET /jobs/{id} until the job finishes; every answer seen."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        seen.append(body)
        if body["state"] in ("succeeded", "failed"):
            return seen
        time.sleep(0.03)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")


def _money(amount: Decimal, code: str) -> dict[str, str]:
    places = {"COP": 2, "USD": 2}[code]
    return {"amount": f"{amount.quantize(Decimal(1).scaleb(-places)):f}", "currency": code}


def _figures_in_sql(as_of: date) -> dict[str, Any]:
    """The KPIs, aging and top debtors computed straight from the tables (not by the job's code)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, u.public_id, c.currency, c.state IN ('active', 'defaulted') AS is_open,
                   sum(i.paid_principal + i.paid_interest + i.paid_late_fee),
                   sum(i.principal + i.adjustment + i.interest + i.late_fee - i.late_fee_waived
                       - i.paid_principal - i.paid_interest - i.paid_late_fee),
                   COALESCE(%s - min(i.due_date) FILTER (WHERE NOT i.is_settled AND i.due_date < %s), 0)
            FROM credits_credit c JOIN credits_installment i ON i.credit_id = c.id
            JOIN identity_user u ON u.id = c.user_id
            GROUP BY c.id, u.public_id
            """,
            [as_of, as_of],
        )
        rows = cursor.fetchall()
    kpis: dict[str, dict[str, Any]] = {}
    debtors: dict[str, list[tuple]] = {}
    for cid, client_id, code, is_open, paid, outstanding, dpd in rows:
        k = kpis.setdefault(code, {"credits": 0, "open": 0, "in_default": 0, "outstanding": Decimal(0),
                                   "collected": Decimal(0), "at_risk": Decimal(0),
                                   "aging": {b: [0, Decimal(0)] for b in AgingBucket}})  # fmt: skip
        k["credits"] += 1
        k["collected"] += paid
        if not is_open:
            continue
        k["open"] += 1
        k["outstanding"] += outstanding
        k["in_default"] += dpd > 90
        k["at_risk"] += outstanding if dpd > 30 else 0
        k["aging"][bucket_for(dpd)][0] += 1
        k["aging"][bucket_for(dpd)][1] += outstanding
        if outstanding > 0:
            debtors.setdefault(code, []).append((outstanding, str(cid), str(client_id), dpd))
    return {
        "kpis": [
            {
                "currency": code,
                "credits": k["credits"],
                "open_credits": k["open"],
                "in_default": k["in_default"],
                "outstanding": _money(k["outstanding"], code),
                "collected": _money(k["collected"], code),
                "at_risk": _money(k["at_risk"], code),
                "at_risk_ratio": f"{(k['at_risk'] / k['outstanding']).quantize(Decimal('0.0001')):f}",
                "aging": [
                    {"bucket": b.value, "credits": n, "outstanding": _money(v, code)}
                    for b, (n, v) in k["aging"].items()
                ],
            }
            for code, k in sorted(kpis.items())
        ],
        # The ten largest pending balances, ties broken by credit id.
        "top_debtors": {
            code: [
                {"client_id": client, "credit_id": cid, "pending": _money(amount, code), "days_past_due": dpd}
                for amount, cid, client, dpd in sorted(sorted(rows, reverse=True)[:10], key=lambda r: (-r[0], r[1]))
            ]
            for code, rows in sorted(debtors.items())
        },
        "credits": len(rows),
    }


def test_analysis_job_reports_progress_and_the_figures_sql_gives(workers: Callable[..., Worker], book: date) -> None:
    worker = workers("analysis", JOBS_CHUNK_SIZE="3", JOBS_CHUNK_PAUSE_MS="120")
    client = _admin_client()
    job_id = _start(client, book)

    seen = _follow(client, job_id)

    final = seen[-1]
    assert final["state"] == "succeeded", final
    total = final["progress"]["total"]
    assert total == 26 and final["progress"] == {"done": 26, "total": 26, "fraction": "1.0000"}
    running = [s["progress"]["done"] for s in seen if s["state"] == "running"]
    assert running == sorted(running), "progress never goes back"
    assert len({d for d in running if 0 < d < total}) >= 3, running
    # The result equals the same figures computed directly in SQL.
    expected = _figures_in_sql(book)
    result = final["result"]
    assert result["credits_analysed"] == expected["credits"] == 26
    assert result["kpis"] == expected["kpis"]
    assert result["top_debtors"] == expected["top_debtors"]
    # ... and downloads as CSV.
    csv = client.get(final["result_csv"])
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"] == f'attachment; filename="portfolio_analysis-{job_id}.csv"'
    lines = csv.content.decode().splitlines()
    assert lines[0] == "section,currency,key,value,credit_id,days_past_due"
    assert f"kpi,COP,outstanding,{expected['kpis'][0]['outstanding']['amount']},," in lines

    # A redelivered message for a finished job does nothing.
    finished_at = final["finished_at"]
    portfolio_analysis.delay(job_id)
    deadline = time.monotonic() + 15
    while worker.text().count(f"portfolio analysis {job_id}: skipped") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.text().count(f"portfolio analysis {job_id}: skipped") >= 1
    again = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (again["finished_at"], again["attempts"], again["result"]) == (finished_at, 1, result)

    # A job that cannot run (a bug, not a database error) fails at once with its error, no retries.
    broken = JobStore().create("portfolio_analysis", {"as_of": "not a date"})
    portfolio_analysis.delay(str(broken))
    failed = _follow(client, str(broken))[-1]
    assert failed["state"] == "failed" and failed["error"].startswith("ValueError"), failed
    assert failed["attempts"] == 1


def test_a_worker_killed_mid_run_is_redelivered_and_the_job_completes_once(
    workers: Callable[..., Worker], book: date
) -> None:
    first = workers("doomed", JOBS_CHUNK_SIZE="2", JOBS_CHUNK_PAUSE_MS="400")
    client = _admin_client()
    job_id = _start(client, book)
    store = JobStore()
    deadline = time.monotonic() + 20
    while (job := store.get(job_id)) is not None and job.done < 4:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, "the first worker never made progress"
        time.sleep(0.05)
    first.kill()
    killed = store.get(job_id)  # type: ignore[arg-type]
    assert killed is not None and killed.state == "running" and 0 < killed.done < killed.total

    # A new worker finds the unacknowledged message once the visibility timeout passes.
    second = workers("rescuer", JOBS_CHUNK_SIZE="5")
    final = _follow(client, job_id, timeout=40)[-1]
    assert final["state"] == "succeeded", final
    assert final["attempts"] == 2 and final["progress"]["done"] == final["progress"]["total"] == 26
    assert final["result"]["kpis"] == _figures_in_sql(book)["kpis"]
    # Exactly once: wait past another visibility timeout; nothing runs it again.
    time.sleep(VISIBILITY_TIMEOUT + 1.5)
    logs = first.text() + second.text()
    assert logs.count(f"portfolio analysis {job_id}: succeeded") == 1
    after = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (after["finished_at"], after["attempts"]) == (final["finished_at"], 2)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    assert broker.llen(prefix + celery_app.conf.task_default_queue) == 0 and broker.hlen(prefix + "unacked") == 0


def test_tasks_retry_database_errors_with_backoff_and_ack_late() -> None:
    assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost
    assert celery_app.conf.worker_prefetch_multiplier == 1
    for name in ("jobs.portfolio_analysis", "jobs.nightly_delinquency", "jobs.partition_upkeep"):
        task = celery_app.tasks[name]
        assert task.autoretry_for == RETRYABLE and task.max_retries == RETRY_POLICY["max_retries"]
        assert task.retry_backoff and task.retry_jitter
    # Every countdown stays below the broker's visibility timeout (or Redis would redeliver early).
    assert max(RETRY_POLICY["retry_backoff_max"], NIGHTLY_BUSY_COUNTDOWN) < settings.CELERY_VISIBILITY_TIMEOUT_SECONDS
    schedule = celery_app.conf.beat_schedule
    assert schedule["nightly-delinquency"]["schedule"].hour == {2}
    assert celery_app.conf.timezone == settings.BUSINESS_TIME_ZONE
