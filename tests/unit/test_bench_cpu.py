"""The benchmark's CPU accounting (bench/run.py): which process each CPU tick is charged to, and CPU
microseconds per request, the figure the capacity plan is built on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench.run import (
    Config,
    cpu_by_group,
    cpu_group,
    cpu_per_request,
    default_pg_host,
    lookups_during,
    pg_transport,
    pg_url,
    read_cache_lookups,
)
from prometheus_client.mmap_dict import MmapedDict, mmap_key

TICK = os.sysconf("SC_CLK_TCK")


def _cfg() -> Config:
    cfg = Config(level=1)
    assert cfg.database == "fintech_bench_l1"
    return cfg


def test_each_process_is_charged_to_its_group() -> None:
    cfg = _cfg()
    server = {100, 101}
    assert cpu_group(cfg, server, 100, "python -m granian --interface wsgi") == "app"
    assert cpu_group(cfg, server, 555, "granian worker") == "app"
    assert cpu_group(cfg, server, 7, "postgres: 15/main: postgres fintech_bench_l1 127.0.0.1(5050) idle") == "postgres"
    assert cpu_group(cfg, server, 8, "postgres: 15/main: walwriter") == "postgres"
    assert cpu_group(cfg, server, 9, "postgres: 15/main: checkpointer") == "postgres"
    # Another checkout's database on the same server is someone else's work.
    assert cpu_group(cfg, server, 10, "postgres: 15/main: postgres test_fc_abc 127.0.0.1(5051) idle") == "other"
    assert cpu_group(cfg, server, 11, "redis-server 127.0.0.1:6379") == "redis"
    assert cpu_group(cfg, server, 12, "wrk -t 2 -c 16 -d 10s") == "wrk"
    assert cpu_group(cfg, server, 13, "python -m pytest") == "other"


def test_cpu_between_snapshots_per_group_and_per_request() -> None:
    cfg = _cfg()
    before = {100: (1_000, "granian"), 7: (50, "postgres: 15/main: postgres fintech_bench_l1 x"), 13: (5, "vim")}
    after = {
        100: (1_000 + 3 * TICK, "granian"),
        7: (50 + 2 * TICK, "postgres: 15/main: postgres fintech_bench_l1 x"),
        13: (5 + TICK, "vim"),
        # Started during the run: all of its ticks count.
        14: (TICK // 2, "wrk -t 2"),
    }
    seconds = cpu_by_group(cfg, {100}, before, after)
    assert seconds == {"app": 3.0, "postgres": 2.0, "redis": 0.0, "wrk": 0.5, "other": 1.0}
    per_request = cpu_per_request(seconds, requests=2_000)
    assert per_request["app"] == 1_500.0  # 3 s over 2,000 requests
    assert per_request["postgres"] == 1_000.0
    assert cpu_per_request(seconds, requests=0)["app"] is None


def test_server_settings_for_an_ab_run_reach_the_app_server_and_make_the_run_partial() -> None:
    from bench.run import parse_args, server_env

    plain = parse_args(["--level", "1"])
    assert not plain.partial and server_env(plain)["LOG_LEVEL"] == "INFO"
    ab = parse_args(["--level", "1", "--server-env", "LOG_LEVEL=WARNING", "--server-env", "X_EMPTY="])
    env = server_env(ab)
    assert ab.partial and env["LOG_LEVEL"] == "WARNING" and env["X_EMPTY"] == ""
    assert parse_args(["--level", "1", "--only", "noop"]).partial


def test_a_partial_run_leaves_the_days_results_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import run

    monkeypatch.setattr(run, "RESULTS", tmp_path)
    monkeypatch.setattr(run, "TMP", tmp_path / "tmp")
    cfg = run.parse_args(["--level", "1", "--only", "noop"])
    result = {"date": "2026-12-05", "endpoints": {}, "notes": []}
    monkeypatch.setattr(run.report, "markdown_table", lambda result: "")
    run.write_results(cfg, result, "")
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # no 2026-12-05-level1.json beside it
    (kept,) = (tmp_path / "tmp").iterdir()
    assert kept.name.startswith("2026-12-05-level1-partial-") and kept.suffix == ".json"


def test_the_cluster_check_charges_each_node_kind_to_its_group() -> None:
    from bench.cluster_check import group_of

    assert group_of("/work/main/.venv/bin/python /work/main/.venv/bin/granian --interface wsgi") == "app"
    assert group_of("/usr/sbin/haproxy -W -f /work/.data/cluster/haproxy/haproxy.cfg") == "haproxy"
    assert group_of("/usr/sbin/pgbouncer /work/.data/cluster/pgbouncer/pgbouncer.ini") == "pgbouncer"
    assert group_of("postgres: fintech fintech 10.1.2.13(5050) idle") == "postgres"
    assert group_of("/usr/lib/postgresql/15/bin/postgres -D /work/.data/cluster/nodes/pg-1/data") == "postgres"
    assert group_of("redis-server 10.1.2.21:6379") == "redis"
    assert group_of("wrk -t 2 -c 16 -d 10s") == "wrk"
    assert group_of("/usr/bin/python3 something else") == "other"


def _worker_counts(directory: Path, pid: int, counts: dict[tuple[str, str], float]) -> None:
    """What a granian worker's prometheus_client writes for the read cache's lookup counter."""
    values = MmapedDict(str(directory / f"counter_{pid}.db"))
    for (name, outcome), value in counts.items():
        key = mmap_key(
            "read_cache_lookups", "read_cache_lookups_total", ("name", "outcome"), (name, outcome), "Lookups."
        )
        values.write_value(key, value, 0.0)
    values.close()


def test_a_runs_read_cache_lookups_are_the_workers_counts_after_it_less_before(tmp_path: Path) -> None:
    _worker_counts(tmp_path, 1, {("summary", "hit"): 90, ("summary", "miss"): 10})
    before = read_cache_lookups(tmp_path)
    assert before == {"summary": {"hit": 90, "miss": 10}}
    # During the run: the first worker serves 8 more hits and 2 misses, a second one starts.
    _worker_counts(tmp_path, 1, {("summary", "hit"): 98, ("summary", "miss"): 12})
    _worker_counts(tmp_path, 2, {("credit", "hit"): 3, ("credit", "bypass"): 1})
    during = lookups_during(before, read_cache_lookups(tmp_path))
    assert during == {
        "summary": {"hit": 8, "miss": 2, "hit_share": 0.8},
        "credit": {"hit": 3, "bypass": 1, "hit_share": 0.75},
    }
    assert lookups_during(before, before) == {}  # nothing looked up: nothing reported


def test_the_bench_reaches_postgresql_over_its_socket_when_the_machine_has_one(tmp_path: Path) -> None:
    """The one-machine deployment's transport (docs/operations.md); loopback TCP without a socket."""
    assert default_pg_host(str(tmp_path), 5432) == "127.0.0.1"
    (tmp_path / ".s.PGSQL.5432").touch()
    assert default_pg_host(str(tmp_path), 5432) == str(tmp_path)
    assert default_pg_host(str(tmp_path), 5433) == "127.0.0.1"  # another server's port: not this socket


def test_a_socket_directory_goes_in_the_database_url_percent_encoded() -> None:
    url = pg_url("/var/run/postgresql", 5432, "fintech_bench_l1")
    assert url == "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:5432/fintech_bench_l1"
    assert pg_url("127.0.0.1", 5432, "db") == "postgresql://postgres@127.0.0.1:5432/db"
    assert (pg_transport("/var/run/postgresql"), pg_transport("127.0.0.1")) == ("Unix socket", "TCP")
