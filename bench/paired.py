"""Two versions of the app measured side by side: both served at once, each loaded by its own wrk at
the same time, so a change of the machine's pace (this VM's runs drift by a third within minutes)
falls on both alike. CPU per request of each server, and their ratio, round by round.

    .venv/bin/python bench/paired.py --a <checkout> --b <checkout> [--level 1] [--rounds 5]
        [--seconds 8] [--endpoints payment,summary_cached] [--connections 8] [--cold]

A checkout is a directory holding `src/` (a `git worktree add` of another commit, or this one): each
server runs its code with this checkout's bench, settings and request files (the level's last
`bench/run.py` run). Each server is one granian worker with one blocking thread; the two wrk
start in turn first. PostgreSQL's CPU is shared and shown for both together. The figure to read is
the median of the per-round ratios B/A: each round's two numbers were measured in the same seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench import report  # noqa: E402
from bench import run as bench  # noqa: E402


def serve(cfg: bench.Config, checkout: Path, tag: str, *, cold: bool) -> bench.Server:
    env = bench.server_env(cfg, cold=cold)
    env["PYTHONPATH"] = f"{checkout / 'src'}:{ROOT}"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(cfg.work / f"prometheus-paired-{tag}")
    shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    return bench.Server(cfg, env)


def load_both(
    pairs: list[tuple[bench.Config, bench.Server]], path: Path, seconds: int, connections: int
) -> list[dict[str, Any]]:
    """Both servers loaded at once; each one's rps, latency and app CPU per request, and the
    PostgreSQL CPU of the two together per request."""
    before = bench.cpu_snapshot()
    procs = [
        subprocess.Popen(
            [
                *("wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s"),
                *("-s", str(bench.BENCH / "lua" / "requests.lua"), f"http://127.0.0.1:{cfg.port}"),
                *("--", str(path), f"paired-{cfg.port}-{time.time_ns()}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cfg, _ in pairs
    ]
    outputs = [proc.communicate() for proc in procs]
    after = bench.cpu_snapshot()
    results = []
    total_requests = 0
    for (_, server), proc, (out, err) in zip(pairs, procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"wrk failed: {err or out}")
        parsed = report.parse_wrk(out)
        pids = {server.proc.pid, *server.worker_pids()}
        ticks = sum(max(0, t1 - before.get(pid, (0, ""))[0]) for pid, (t1, _) in after.items() if pid in pids)
        parsed["app_us"] = ticks / bench._TICKS * 1e6 / max(1, parsed["requests"])
        results.append(parsed)
        total_requests += parsed["requests"]
    pg = bench.cpu_by_group(pairs[0][0], set(), before, after)["postgres"]
    for parsed in results:
        parsed["pg_us_both"] = pg * 1e6 / max(1, total_requests)
    return results


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--a", required=True, type=Path, help="checkout of version A (holds src/)")
    p.add_argument("--b", required=True, type=Path, help="checkout of version B")
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--endpoints", default="payment,summary_cached")
    p.add_argument("--connections", type=int, default=8, help="wrk connections per server")
    p.add_argument("--cold", action="store_true", help="servers that keep nothing in the read cache (TTL 0)")
    a = p.parse_args()
    checkouts = {"A": a.a.resolve(), "B": a.b.resolve()}
    for tag, checkout in checkouts.items():
        if not (checkout / "src").is_dir():
            raise SystemExit(f"{tag}: no src/ in {checkout}")
    ports = {"A": 8791, "B": 8792}
    configs = {tag: bench.Config(level=a.level, workers=1, port=ports[tag], quiet_wait=0) for tag in checkouts}
    work = configs["A"].work
    files = {name: work / f"requests-{name}.txt" for name in a.endpoints.split(",")}
    if missing := [str(f) for f in files.values() if not f.exists()]:
        raise SystemExit(f"no request files {missing}: run `bench/run.py --level {a.level}` first")
    servers = {tag: serve(configs[tag], checkouts[tag], tag, cold=a.cold) for tag in checkouts}
    ratios: dict[str, list[float]] = {name: [] for name in files}
    try:
        for name, path in files.items():
            load_both([(configs[t], servers[t]) for t in checkouts], path, 3, a.connections)  # warm
            for round_ in range(a.rounds):
                order = ["A", "B"] if round_ % 2 == 0 else ["B", "A"]
                got = dict(
                    zip(
                        order,
                        load_both([(configs[t], servers[t]) for t in order], path, a.seconds, a.connections),
                        strict=True,
                    )
                )
                ratio = got["B"]["app_us"] / got["A"]["app_us"]
                ratios[name].append(ratio)
                print(
                    f"{name:<16} round {round_}: A {got['A']['rps']:>7,.0f} rps app {got['A']['app_us']:>6,.0f} µs | "
                    f"B {got['B']['rps']:>7,.0f} rps app {got['B']['app_us']:>6,.0f} µs | B/A {ratio:.3f} | "
                    f"PG both {got['A']['pg_us_both']:,.0f} µs/req | p99 A {got['A']['latency_ms']['p99']:.1f} "
                    f"B {got['B']['latency_ms']['p99']:.1f} ms",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
    for name, values in ratios.items():
        lower = sum(1 for r in values if r < 1)
        print(
            f"{name}: app CPU per request B/A median {statistics.median(values):.3f} "
            f"(range {min(values):.3f}-{max(values):.3f}; B lower in {lower} of {len(values)} rounds)"
        )


if __name__ == "__main__":
    main()
