"""Read replicas, tested against a real streaming replica that this module creates.

The session fixture builds a primary and a hot standby (`replica_harness.py`: initdb,
pg_basebackup -R, both started as an unprivileged user) and tears them down even when a test
fails. The scenarios (`replica_scenarios.py`) run in a child pytest whose settings point at the
pair, because the database aliases and the router are fixed when Django starts: the child is the
app as it runs in production, with DATABASE_URL / DATABASE_REPLICA_URLS and Django's pool on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.replica_harness import ReplicaHarness

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = "tests/integration/replica_scenarios.py"
MIN_SCENARIOS = 8

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def replica_harness() -> Iterator[ReplicaHarness]:
    harness = ReplicaHarness.create()
    try:
        harness.start()
        yield harness
    finally:
        harness.stop()


def test_read_routing_against_a_real_streaming_replica(replica_harness: ReplicaHarness, tmp_path: Path) -> None:
    report = tmp_path / "scenarios.xml"
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": replica_harness.primary.url,
        "DATABASE_REPLICA_URLS": replica_harness.replica.url,
        "FC_REPLICA_HARNESS": replica_harness.to_json(),
        "DB_POOL_MAX_SIZE": "4",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_TIMEOUT_SECONDS": "10",
        "REPLICA_CONNECT_TIMEOUT_SECONDS": "1",
        "REPLICA_MAX_LAG_SECONDS": "1",
        "REPLICA_CHECK_INTERVAL_SECONDS": "0.2",
        "READ_YOUR_WRITES_SECONDS": "5",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", SCENARIOS, "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert report.exists(), output
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - our own child's report
    assert suite is not None, output
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert result.returncode == 0, output
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, output
    assert counts["tests"] >= MIN_SCENARIOS, output
