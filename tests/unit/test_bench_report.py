"""The benchmark's pure helpers (bench/report.py, bench/capture.py's SQL rendering): parsing wrk and
pgbench output, ratios, tables, the plot. The benchmark itself is not part of the suite."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from bench import report
from bench.capture import check_plan, split_placeholders, split_statements, variable_literal, write_script

from adapters.sql.credits import _UPDATE_CREDIT

WRK_OUT = """Running 15s test @ http://127.0.0.1:8765
  2 threads and 16 connections
  Latency     2.10ms    1.00ms  30.00ms   90.00%
WRK_JSON {"requests": 45000, "duration_us": 15000000, "bytes": 9000000, "latency_us": {"p50": 1800, "p75": 2300, \
"p90": 3000, "p95": 3500, "p99": 6200, "p99_9": 12000, "mean": 2100.5, "stdev": 1000.0, "min": 300, "max": 30000}, \
"errors": {"connect": 0, "read": 1, "write": 0, "status": 2, "timeout": 0}}
"""

PGBENCH_OUT = """pgbench (15.10 (Debian 15.10-0+deb12u1))
transaction type: x.sql
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 20000
number of failed transactions: 0 (0.000%)
latency average = 2.000 ms
initial connection time = 5.1 ms
tps = 2000.000000 (without initial connection time)
statement latencies in milliseconds and failures:
         0.001           0  \\set n random(1, 300)
         0.399           0  SELECT user_id FROM bench.pick_summary_cold WHERE n = :n \\gset
         1.600           0  SELECT c.id, c.user_id FROM credits_credit c WHERE user_id = :user_id;
"""


def test_wrk_json_line_becomes_rps_and_milliseconds() -> None:
    parsed = report.parse_wrk(WRK_OUT)
    assert parsed["rps"] == 3000.0
    assert parsed["latency_ms"]["p50"] == 1.8
    assert parsed["latency_ms"]["p99"] == 6.2
    assert parsed["non_2xx"] == 2 and parsed["socket_errors"] == 1


def test_wrk_output_without_the_json_line_is_refused() -> None:
    with pytest.raises(ValueError, match="WRK_JSON"):
        report.parse_wrk("Requests/sec: 100\n")


def test_pgbench_output_and_the_pick_taken_out() -> None:
    parsed = report.parse_pgbench(PGBENCH_OUT)
    assert parsed["tps"] == 2000.0
    assert parsed["transactions"] == 20000
    assert [s["ms"] for s in parsed["statements"]] == [0.001, 0.399, 1.6]
    # 2.0 ms per transaction of which 0.4 ms is the random pick: the endpoint's own SQL alone.
    assert report.endpoint_tps(parsed) == pytest.approx(2000 * 2.0 / 1.6, rel=1e-3)


def _result(level: int, p50: float, rps: float = 1000.0) -> dict:
    run = {"rps": rps, "latency_ms": {"p50": p50, "p95": p50 * 2, "p99": p50 * 3}, "non_2xx": 0, "socket_errors": 0}
    return {
        "level": level,
        "scale": 1,
        "date": "2026-11-28",
        "finished_at": f"2026-11-28T0{level}:00:00",
        "machine": {"cpu": "test", "cores": 2, "memory_gib": 24, "postgres": "15"},
        "settings": {
            "workers": 2,
            "blocking_threads": 1,
            "db_connections": "persistent",
            "wrk_threads": 2,
            "wrk_connections": 16,
            "duration": 15,
            "pgbench_clients": 4,
            "pgbench_threads": 2,
            "pgbench_seconds": 10,
        },
        "endpoints": {"noop": {**run, "rps": 8000.0}, "summary_cold": run},
        "db_ceilings": {"summary_cold": {"endpoint_tps": 4000.0}},
        "batch": {"nightly delinquency": {"seconds": 12.5, "note": "ok"}},
    }


def test_table_has_ratios_to_both_ceilings() -> None:
    rows = {r["name"]: r for r in report.endpoint_rows(_result(1, 2.0))}
    assert rows["summary_cold"]["of_noop"] == 0.125
    assert rows["summary_cold"]["of_db"] == 0.25
    table = report.markdown_table(_result(1, 2.0))
    assert "| own summary, cold | 1,000 | 2.00 | 4.00 | 6.00 | 0 | 12 % | 4,000 | 25 % |" in table
    markdown = report.results_markdown(_result(1, 2.0))
    assert "| nightly delinquency | 12.5 | ok |" in markdown


def test_levels_compared_by_their_p50() -> None:
    table = report.compare_levels_table({1: _result(1, 2.0), 2: _result(2, 2.5)})
    assert "1.25x" in table


def test_latest_result_per_level_and_the_plot(tmp_path: Path) -> None:
    for name, data in (
        ("2026-11-27-level1.json", _result(1, 3.0) | {"finished_at": "2026-11-27T00:00:00"}),
        ("2026-11-28-level1.json", _result(1, 2.0)),
        ("2026-11-28-level2.json", _result(2, 2.2)),
        ("2026-11-28-level2-x0.5.json", _result(2, 9.9) | {"scale": 0.5}),
    ):
        (tmp_path / name).write_text(json.dumps(data))
    latest = report.latest_per_level(sorted(tmp_path.glob("*.json")))
    assert sorted(latest) == [1, 2]
    assert latest[1]["endpoints"]["summary_cold"]["latency_ms"]["p50"] == 2.0
    png = report.plot_levels(latest, tmp_path / "plot.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"


def test_targets_judged_on_the_highest_level_and_p50_against_the_lowest() -> None:
    low = _result(1, 2.0)
    high = _result(3, 3.0, rps=3000.0)
    high["endpoints"]["summary_cached"] = {**high["endpoints"]["summary_cold"], "rps": 6000.0}
    high["batch"] = {"nightly delinquency": {"seconds": 75.0}, "data load (seed_data)": {"seconds": 1100.0}}
    table = report.targets_table({1: low, 3: high})
    assert "| cached summary >= 5,000 rps | 6,000 rps | L3 | yes |" in table
    assert "| uncached reads >= 2,500 rps | slowest own summary, cold: 3,000 rps | L3 | yes |" in table
    assert "| reads p99 <= 20 ms | worst own summary, cached: 9.0 ms | L3 | yes |" in table
    assert "| p50 L3 <= 1.25 x L1 | worst no-op `GET /ping`: 1.50x | L3/L1 | no |" in table
    assert "| nightly delinquency <= 60 s | 75.0 s | L3 | no |" in table
    assert "| data load <= 20 min | 18.3 min | L3 | yes |" in table


def test_benchmarks_md_rewritten_between_its_markers_only(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    assert not report.update_benchmarks_md(path, {1: _result(1, 2.0)})
    path.write_text(f"# Title\nkept\n{report.BEGIN_MARK}\nold table\n{report.END_MARK}\nafter\n")
    assert report.update_benchmarks_md(path, {1: _result(1, 2.0), 2: _result(2, 2.5)})
    text = path.read_text()
    assert text.startswith("# Title\nkept\n") and text.endswith(f"{report.END_MARK}\nafter\n")
    assert "old table" not in text and "1.25x" in text and "bench/results/2026-11-28-level2.md" in text


def test_statements_sent_together_are_explained_one_by_one() -> None:
    sql = "SELECT a FROM t WHERE id = %s FOR UPDATE; SELECT b FROM u WHERE t_id = %s AND x LIKE '5%%'; SELECT 1"
    parts = split_statements(sql, ["k1", "k2"], False)
    assert [(p["sql"], p["params"]) for p in parts] == [
        ("SELECT a FROM t WHERE id = %s FOR UPDATE", ["k1"]),
        ("SELECT b FROM u WHERE t_id = %s AND x LIKE '5%%'", ["k2"]),
        ("SELECT 1", []),
    ]
    assert split_statements("SELECT %s", [1], False) == [{"sql": "SELECT %s", "params": [1], "many": False}]


class _Cursor:
    """psycopg's quoting as the app's client-side binding sends it (enough of it for these tests)."""

    def mogrify(self, query: str, params: list) -> str:
        value = params[0]
        if isinstance(value, date):
            return f"'{value.isoformat()}'::date"
        if isinstance(value, UUID):
            return f"'{value}'::uuid"
        return str(value)


def test_captured_parameters_become_pgbench_variables_with_their_casts() -> None:
    cursor = _Cursor()
    assert variable_literal(cursor, date(2026, 1, 1), "d_from") == "':d_from'::date"
    assert variable_literal(cursor, 42, "user_id") == ":user_id"
    assert variable_literal(cursor, [UUID(int=1)], "ids") == "':ids'::uuid[]"
    assert split_placeholders("a = %s AND b LIKE 'x%%' AND c = %s") == ["a = ", " AND b LIKE 'x%' AND c = ", ""]


def test_a_version_checked_update_is_replayed_against_the_rows_version_when_the_script_runs() -> None:
    credit = UUID(int=7)
    lock = {"sql": "SELECT id FROM credits_credit WHERE id = %s FOR UPDATE", "params": [credit], "many": False}
    update = {
        "sql": _UPDATE_CREDIT,  # the app's own statement
        "params": ["active", date(2026, 12, 6), 0, "current", 0, 0, False, credit, 63],
        "many": False,
    }
    script = write_script(_Cursor(), "payment", [lock, update]).splitlines()
    assert script[1:3] == ["BEGIN;", f"SELECT id FROM credits_credit WHERE id = '{credit}'::uuid FOR UPDATE;"]
    assert script[3] == f"SELECT version AS replay_version FROM credits_credit WHERE id = '{credit}'::uuid \\gset"
    assert f"WHERE id = '{credit}'::uuid AND version = :replay_version RETURNING 1)" in script[4]
    assert "63" not in script[4]  # the version captured, which the HTTP runs have moved on since
    assert script[5:] == ["ROLLBACK;"]


def test_plan_checks_flag_big_seq_scans_spills_and_unpruned_partitions() -> None:
    rows = {"credits_credit": 500_000.0, "catalog_currency": 3.0, **{f"tx_p{i}": 1000.0 for i in range(6)}}
    parents = {f"tx_p{i}": "ledger_transaction" for i in range(6)}
    info = (rows, parents, {"ledger_transaction": 6})
    plan = {
        "Execution Time": 1.0,
        "Planning Time": 0.1,
        "Plan": {
            "Node Type": "Sort",
            "Sort Space Type": "Disk",
            "Sort Space Used": 2048,
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "credits_credit", "Actual Loops": 1, "Actual Rows": 10},
                {"Node Type": "Seq Scan", "Relation Name": "catalog_currency", "Actual Loops": 1, "Actual Rows": 3},
                {
                    "Node Type": "Append",
                    "Plans": [
                        {"Node Type": "Index Scan", "Relation Name": f"tx_p{i}", "Actual Loops": 1, "Actual Rows": 1}
                        for i in range(6)
                    ],
                },
            ],
        },
    }
    checked = check_plan(plan, info)
    assert "sequential scan of credits_credit (~500,000 rows)" in checked["violations"]
    assert not any("catalog_currency" in v for v in checked["violations"])
    assert any(v.startswith("sort spilled to disk") for v in checked["violations"])
    assert "no partition pruning on ledger_transaction: 6 of 6 partitions" in checked["violations"]
    assert checked["partitions"] == {"ledger_transaction": {"scanned": 6, "total": 6}}
