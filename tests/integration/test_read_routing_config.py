"""Database settings for replicas and the pool, read from the environment, and routing with no replica."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.db import routing
from adapters.db.routing import ReplicaRouter

ROOT = Path(__file__).resolve().parents[2]
PRIMARY_URL = "postgresql://app:secret@db-primary:5432/fintech"
REPLICAS = "postgresql://app:secret@db-replica-1:5432/fintech,postgresql://app:secret@db-replica-2:5432/fintech"
_PRINT = """
import json, config.settings as s
dbs = {alias: {k: v for k, v in db.items() if k in ("HOST", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS", "TEST",
       "DISABLE_SERVER_SIDE_CURSORS")} for alias, db in s.DATABASES.items()}
print(json.dumps({"databases": dbs, "replicas": s.DATABASE_REPLICAS, "routers": s.DATABASE_ROUTERS,
                  "ryw": s.READ_YOUR_WRITES_SECONDS, "max_lag": s.REPLICA_MAX_LAG_SECONDS,
                  "interval": s.REPLICA_CHECK_INTERVAL_SECONDS}))
"""
_OURS = (
    "DATABASE_URL",
    "DATABASE_REPLICA_URLS",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_MIN_SIZE",
    "DB_POOL_TIMEOUT_SECONDS",
    "DB_CONN_MAX_AGE",
    "DB_PGBOUNCER",
    "DB_PREPARE_THRESHOLD",
    "REPLICA_CONNECT_TIMEOUT_SECONDS",
    "REPLICA_MAX_LAG_SECONDS",
    "REPLICA_CHECK_INTERVAL_SECONDS",
    "READ_YOUR_WRITES_SECONDS",
)


def _settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _OURS}
    return subprocess.run(
        [sys.executable, "-c", _PRINT],
        env={**clean, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": PRIMARY_URL, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _load(**env: str) -> dict:
    result = _settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_replica_urls_become_aliases_on_the_same_pool_settings_as_the_primary() -> None:
    loaded = _load(
        DATABASE_REPLICA_URLS=REPLICAS,
        DB_POOL_MAX_SIZE="6",
        DB_POOL_MIN_SIZE="2",
        DB_POOL_TIMEOUT_SECONDS="10",
        REPLICA_CONNECT_TIMEOUT_SECONDS="1.5",
    )
    dbs = loaded["databases"]
    assert loaded["replicas"] == ["replica_1", "replica_2"]
    assert loaded["routers"] == ["adapters.db.routing.ReplicaRouter"]
    assert (loaded["ryw"], loaded["max_lag"], loaded["interval"]) == (5.0, 5.0, 1.0)
    assert [dbs[a]["HOST"] for a in ("default", "replica_1", "replica_2")] == [
        "db-primary",
        "db-replica-1",
        "db-replica-2",
    ]
    for alias in ("default", "replica_1", "replica_2"):
        assert dbs[alias]["CONN_MAX_AGE"] == 0 and dbs[alias]["CONN_HEALTH_CHECKS"] is True
    assert dbs["default"]["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 6, "timeout": 10}
    # A replica's pool waits no longer than its connect timeout: the read would rather use the primary.
    assert dbs["replica_1"]["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 6, "timeout": 1.5}
    assert dbs["replica_1"]["OPTIONS"]["connect_timeout"] == 2
    assert dbs["replica_1"]["TEST"] == {"MIRROR": "default"} and "TEST" not in dbs["default"]


def test_without_the_pool_connections_persist_and_are_health_checked() -> None:
    dbs = _load(DATABASE_REPLICA_URLS=REPLICAS, DB_CONN_MAX_AGE="120")["databases"]
    for db in dbs.values():
        assert db["CONN_MAX_AGE"] == 120 and db["CONN_HEALTH_CHECKS"] is True and "pool" not in db["OPTIONS"]


def test_behind_pgbouncer_no_server_side_cursors_and_prepared_statements_only_when_asked() -> None:
    dbs = _load(DB_PGBOUNCER="1")["databases"]
    assert dbs["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "prepare_threshold" not in dbs["default"]["OPTIONS"]  # Django's default: never prepare
    asked = _load(DB_PGBOUNCER="1", DB_PREPARE_THRESHOLD="3")["databases"]["default"]["OPTIONS"]
    assert asked["prepare_threshold"] == 3


def test_direct_connections_prepare_statements_unless_turned_off() -> None:
    assert _load()["databases"]["default"]["OPTIONS"]["prepare_threshold"] == 5
    assert "prepare_threshold" not in _load(DB_PREPARE_THRESHOLD="0")["databases"]["default"]["OPTIONS"]


def test_a_check_interval_not_shorter_than_the_lag_limit_is_refused() -> None:
    result = _settings(DATABASE_REPLICA_URLS=REPLICAS, REPLICA_CHECK_INTERVAL_SECONDS="5", REPLICA_MAX_LAG_SECONDS="5")
    assert result.returncode != 0 and "REPLICA_CHECK_INTERVAL_SECONDS" in result.stderr


@pytest.mark.django_db
def test_with_no_replica_everything_reads_and_writes_the_primary() -> None:
    router = ReplicaRouter()
    assert routing.read_alias() == "default"
    assert router.db_for_read(object) == "default" and router.db_for_write(object) == "default"
    assert router.allow_migrate("default", "credits") is None
    with routing.read_cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (False,)
        assert cursor.alias == "default"
