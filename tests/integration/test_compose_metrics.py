"""docker-compose's API runs several granian workers: they share a Prometheus multiprocess folder that
starts empty with every container start, or /metrics answers for one worker at a time (issue 12;
the same mechanism under `make run` is exercised live in test_make_run.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_service_shares_a_fresh_metrics_folder_between_its_workers() -> None:
    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    argv = shlex.split(api["command"]) if isinstance(api["command"], str) else api["command"]
    assert int(argv[argv.index("--workers") + 1]) > 1
    folder = api["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert folder in api["tmpfs"]  # emptied by every start: no counts of an earlier run
    assert api["environment"]["APP_ENV"] == "production"  # the shared settings are still there
