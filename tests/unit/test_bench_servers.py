"""bench/servers.py: each server's command line, the benchmark's granian left to bench.run.Server."""

from __future__ import annotations

import sys

import pytest
from bench.servers import command, uwsgi_settings


def test_granian_is_the_benchmarks_own_and_the_others_serve_the_same_app_on_its_port() -> None:
    assert command("granian", 8765, 2) is None
    bjoern = command("bjoern", 8765, 2)
    assert bjoern is not None and bjoern[0] == sys.executable and bjoern[2:] == ["--serve-bjoern", "8765", "2"]
    uwsgi = command("uwsgi", 8765, 2)
    assert uwsgi is not None and uwsgi[1:] == ["--http-socket", "127.0.0.1:8765", "--module", "config.wsgi:application"]
    assert uwsgi_settings(2)[:2] == ["--processes", "2"]
    with pytest.raises(SystemExit, match="unknown server"):
        command("gunicorn", 8765, 2)
