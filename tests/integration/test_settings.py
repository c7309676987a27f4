"""Settings come from the environment; production refuses development secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 50,
    "JWT_SIGNING_KEY": "j" * 64,
    "DEBUG": "0",
    "ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "postgresql://u@127.0.0.1:5432/x",
}


def _load(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in GOOD}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import config.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS, s.DATABASES['default']['NAME'])",
        ],
        env={**clean, "PYTHONPATH": str(ROOT / "src"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_with_real_settings_starts() -> None:
    result = _load(GOOD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "['api.example.com']", "x"]


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"JWT_SIGNING_KEY": "dev-insecure-jwt-signing-key-change-me-0123456789"}, "JWT_SIGNING_KEY"),
        ({"DEBUG": "1"}, "DEBUG is on"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
    ],
)
def test_production_refuses_development_settings(override: dict[str, str], complaint: str) -> None:
    env = {**GOOD, **override}
    env = {k: v for k, v in env.items() if v != ""}
    result = _load(env)
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr and complaint in result.stderr


def test_replica_urls_become_database_aliases() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(sorted(s.DATABASES))"],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "DATABASE_REPLICA_URLS": "postgresql://u@h1/x, postgresql://u@h2/x",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['default', 'replica_1', 'replica_2']"


def test_bad_values_are_refused_clearly() -> None:
    result = _load({"APP_ENV": "development", "DEBUG": "maybe", "DATABASE_URL": GOOD["DATABASE_URL"]})
    assert result.returncode != 0 and "DEBUG must be a boolean" in result.stderr
    mysql = _load({"APP_ENV": "development", "DATABASE_URL": "mysql://u@h/x"})
    assert mysql.returncode != 0 and "Only PostgreSQL" in mysql.stderr
