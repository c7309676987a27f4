"""Loaded with `-p tests.services_plugin` before pytest-django reads the settings.

Chooses the services the tests use, in this order:
PostgreSQL: DATABASE_URL, else 127.0.0.1:5432 if it answers, else an embedded server in .data/.
Redis: REDIS_URL, else 127.0.0.1:6379 if it answers, else a redis-server started here, else stop.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"
TEST_REDIS_PORT = 6390


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _choose_database() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if _answers("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/fintech_credits"
    import sys

    sys.path.insert(0, str(ROOT / "src"))
    from config.embedded import embedded_database_url

    return embedded_database_url("pg-test")


def _choose_redis() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/15"
    if not _answers("127.0.0.1", TEST_REDIS_PORT):
        server = shutil.which("redis-server")
        if server is None:
            pytest.exit(
                "The tests need Redis: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server "
                "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).",
                returncode=4,
            )
        DATA.mkdir(exist_ok=True)
        subprocess.run(
            [
                server,
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                str(TEST_REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--pidfile",
                str(DATA / "redis-test.pid"),
                "--logfile",
                str(DATA / "redis-test.log"),
            ],
            check=True,
        )
        for _ in range(50):
            if _answers("127.0.0.1", TEST_REDIS_PORT):
                break
            time.sleep(0.1)
    return f"redis://127.0.0.1:{TEST_REDIS_PORT}/15"


os.environ["APP_ENV"] = "test"
os.environ["DATABASE_URL"] = _choose_database()
os.environ["REDIS_URL"] = _choose_redis()
