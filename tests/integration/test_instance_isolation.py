"""Two deployments, or two checkouts, on one Redis keep apart: each has its own cache key prefix,
Celery queue and broker key prefix, from settings (APP_INSTANCE, CACHE_KEY_PREFIX,
CELERY_QUEUE_PREFIX). Real Redis (the suite's), real workers, instances configured by environment
only, as two deployments would be."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import redis
from django.conf import settings
from django.utils.module_loading import import_string

from adapters.cache.redis_clients import delete_prefixed
from adapters.jobs.store import JobStore
from tests.builders import business_today
from tests.connections import app_environment
from tests.integration.test_jobs_worker import Worker

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
_PRINT_SETTINGS = """
import json, config.settings as s
print(json.dumps({
    "instance": s.APP_INSTANCE,
    "cache_prefix": s.CACHES["default"]["KEY_PREFIX"],
    "queue": getattr(s, "CELERY_TASK_DEFAULT_QUEUE", "celery"),
    "broker_prefix": s.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", ""),
}))
"""
_NAMES = ("APP_INSTANCE", "CACHE_KEY_PREFIX", "CELERY_QUEUE_PREFIX", "APP_ENV", "DATABASE_URL", "REDIS_URL")


def _settings_seen(src: Path = ROOT / "src", **env: str) -> dict[str, str]:
    """The instance settings a fresh process derives from this environment (nothing is connected)."""
    clean = {k: v for k, v in os.environ.items() if k not in _NAMES}
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        env={**clean, "PYTHONPATH": str(src), "DATABASE_URL": "postgresql://u@127.0.0.1:1/x",
             "REDIS_URL": "redis://127.0.0.1:1/1", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_instance_names_the_cache_prefix_the_queue_and_the_broker_keys() -> None:
    assert _settings_seen(APP_INSTANCE="acme") == {
        "instance": "acme",
        "cache_prefix": "acme",
        "queue": "acme.jobs",
        "broker_prefix": "acme:",
    }
    assert _settings_seen(APP_INSTANCE="acme", CACHE_KEY_PREFIX="c1", CELERY_QUEUE_PREFIX="q1") == {
        "instance": "acme",
        "cache_prefix": "c1",
        "queue": "q1.jobs",
        "broker_prefix": "q1:",
    }
    # An empty queue prefix keeps Celery's own names (a deployment draining an old "celery" queue).
    assert _settings_seen(CELERY_QUEUE_PREFIX="")["queue"] == "celery"
    assert _settings_seen(CELERY_QUEUE_PREFIX="")["broker_prefix"] == ""


def test_two_checkouts_get_different_defaults_and_production_a_stable_one(tmp_path: Path) -> None:
    clone = tmp_path / "another-checkout"
    shutil.copytree(ROOT / "src", clone / "src", ignore=shutil.ignore_patterns("__pycache__"))
    here, there = _settings_seen(), _settings_seen(clone / "src")
    assert here["instance"].startswith("fc-") and there["instance"].startswith("fc-")
    assert here["instance"] != there["instance"]
    assert here == _settings_seen(), "the default is stable for one checkout (make run and its worker agree)"
    production = {
        "APP_ENV": "production",
        "SECRET_KEY": "k" * 50,
        "JWT_SIGNING_KEY": "j" * 64,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "api.example.com",
    }
    assert _settings_seen(**production)["instance"] == _settings_seen(clone / "src", **production)["instance"]


@pytest.fixture
def two_caches() -> Iterator[tuple[Any, Any, redis.Redis]]:
    """Two caches built as settings build the app's, on the suite's Redis, with different prefixes."""
    config = settings.CACHES["default"]
    backend = import_string(config["BACKEND"])
    run = uuid.uuid4().hex[:8]
    first, second = (backend(config["LOCATION"], {**config, "KEY_PREFIX": f"fctest-iso-{run}-{n}"}) for n in "ab")
    raw = redis.Redis.from_url(settings.REDIS_URL)
    yield first, second, raw
    delete_prefixed(raw, f"fctest-iso-{run}-")


def test_two_instances_do_not_see_or_clear_each_others_cache_keys(two_caches: tuple[Any, Any, redis.Redis]) -> None:
    first, second, raw = two_caches
    first.set("login:maria", 3)
    assert second.get("login:maria") is None
    second.set("login:maria", 1)
    assert (first.get("login:maria"), second.get("login:maria")) == (3, 1)
    foreign = f"{first.key_prefix}-not-a-cache-key"
    raw.set(foreign, "someone else's")
    try:
        second.clear()  # what the tests do before each test, and `cache.clear()` anywhere
        assert second.get("login:maria") is None
        assert first.get("login:maria") == 3
        assert raw.get(foreign) == b"someone else's"
    finally:
        raw.delete(foreign)


_PUBLISH_AND_PING = """
import json, sys, django
django.setup()
from adapters.celery.tasks import portfolio_analysis
from config.celery_app import app
if sys.argv[1]:
    portfolio_analysis.delay(sys.argv[1])
replies = app.control.ping(timeout=1.5)
print(json.dumps(sorted(name for reply in replies for name in reply)))
"""


@pytest.mark.django_db(transaction=True)
def test_two_instances_do_not_take_each_others_jobs(tmp_path: Path) -> None:
    """Instance A's worker runs A's job and never B's; B's job waits in B's queue until B's worker
    takes it; a ping (what health checks ask) reaches the own instance's workers only."""
    run = uuid.uuid4().hex[:8]
    instances = {name: f"fctest-iso-{run}-{name}" for name in ("a", "b")}
    store = JobStore()
    as_of = {"as_of": business_today().isoformat()}
    jobs = {name: store.create("portfolio_analysis", as_of) for name in instances}

    def environment(name: str) -> dict[str, str]:
        return app_environment(
            APP_INSTANCE=instances[name], CACHE_KEY_PREFIX=instances[name], CELERY_QUEUE_PREFIX=instances[name]
        )

    def publish_and_ping(name: str, job: UUID | None) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-c", _PUBLISH_AND_PING, str(job or "")],
            env=environment(name), cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout.strip().splitlines()[-1]))

    def state(name: str) -> tuple[str, int]:
        job = store.get(jobs[name])
        assert job is not None
        return job.state, job.attempts

    def wait_until(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    queue_of = {name: f"{prefix}:{prefix}.jobs" for name, prefix in instances.items()}
    raw = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    started: list[Worker] = []
    try:
        started.append(Worker(f"iso-a-{run}", environment("a"), tmp_path / "a.log").start())
        assert publish_and_ping("b", jobs["b"]) == [], "B's ping reached A's worker"
        assert raw.llen(queue_of["b"]) == 1
        assert publish_and_ping("a", jobs["a"]) == [f"iso-a-{run}@{socket.gethostname()}"]
        wait_until(lambda: state("a")[0] == "succeeded", f"A's worker did not run A's job: {state('a')}")
        time.sleep(1.5)  # A's worker is idle now; B's job must still be waiting for B's worker
        assert state("b") == ("pending", 0) and raw.llen(queue_of["b"]) == 1
        assert f"portfolio analysis {jobs['b']}" not in started[0].text()

        started.append(Worker(f"iso-b-{run}", environment("b"), tmp_path / "b.log").start())
        wait_until(lambda: state("b")[0] == "succeeded", f"B's worker did not run B's job: {state('b')}")
        assert state("a") == ("succeeded", 1) and state("b") == ("succeeded", 1)
        assert f"portfolio analysis {jobs['b']}: succeeded" in started[1].text()
        assert f"portfolio analysis {jobs['a']}" not in started[1].text()
    finally:
        for worker in started:
            worker.stop()
        for prefix in instances.values():
            delete_prefixed(raw, f"{prefix}:")
