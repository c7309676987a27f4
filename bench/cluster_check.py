"""The capacity model against the cluster on this machine (`make cluster`): the same hot reads through
HAProxy and straight to one API node, with the CPU each process group spent per request, and the
requests/s the model predicts from the 2-core benchmark's CPU per request (docs/capacity.md).

    make cluster && .venv/bin/python bench/cluster_check.py [--duration 10] [--repeat 3]

The cluster's book is the demo book (load_demo), not a benchmark level: its reads are small, so what
is compared is the model's arithmetic (costs measured in one topology predicting another), with the
balancer's and pgbouncer's own CPU per request measured here as new inputs of the plan.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench import capacity, report  # noqa: E402
from bench.run import cpu_per_request, cpu_snapshot  # noqa: E402
from deploy.cluster import APPS, Cluster  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
DEMO_PASSWORD = "demo-pass-2026"  # load_demo's, on a throwaway cluster
GROUPS = ("app", "haproxy", "pgbouncer", "postgres", "redis", "wrk", "other")
ENDPOINTS = ("noop", "summary_cached", "detail_cached")


def group_of(cmd: str) -> str:
    if "granian" in cmd:
        return "app"
    for name in ("haproxy", "pgbouncer", "redis-server", "wrk"):
        if cmd.startswith(name) or f"/{name} " in cmd or cmd.endswith(f"/{name}"):
            return name.removesuffix("-server")
    if cmd.startswith("postgres") or "/bin/postgres " in cmd:
        return "postgres"
    return "other"


def cpu_seconds(before: dict[int, tuple[int, str]], after: dict[int, tuple[int, str]]) -> dict[str, float]:
    ticks = dict.fromkeys(GROUPS, 0)
    for pid, (t1, cmd) in after.items():
        ticks[group_of(cmd)] += max(0, t1 - before.get(pid, (0, ""))[0])
    return {g: round(n / TICKS, 3) for g, n in ticks.items()}


def login(base: str, username: str) -> str:
    body = json.dumps({"username": username, "password": DEMO_PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["access_token"])


def get(base: str, path: str, token: str) -> Any:
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def request_files(base: str, work: Path) -> dict[str, Path]:
    """One request file per endpoint (bench/lua/requests.lua's format), warming the cache on the way."""
    lines: dict[str, list[str]] = {name: [] for name in ENDPOINTS}
    lines["noop"].append("GET\t/api/v1/ping\t-\t-")
    for client in ("client1", "client2", "client3", "client4"):
        token = login(base, client)
        lines["summary_cached"].append(f"GET\t/api/v1/me/credit-summary\t{token}\t-")
        for credit in get(base, "/api/v1/credits?limit=5", token)["data"]:
            lines["detail_cached"].append(f"GET\t/api/v1/credits/{credit['id']}\t{token}\t-")
    files = {}
    for name, entries in lines.items():
        files[name] = work / f"cluster-{name}.txt"
        files[name].write_text("\n".join(entries) + "\n")
        for line in entries:  # every entry cached (each API node reads the same shards)
            _, path, token, _ = line.split("\t")
            for _ in range(3):
                if token == "-":
                    break
                get(base, path, token)
    return files


def run_wrk(url: str, path: Path, seconds: int, connections: int) -> dict[str, Any]:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s"]
    command += ["-s", str(ROOT / "bench" / "lua" / "requests.lua"), url, "--", str(path), "cluster"]
    before = cpu_snapshot()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    after = cpu_snapshot()
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    result = report.parse_wrk(done.stdout)
    result["cpu_us_per_request"] = cpu_per_request(cpu_seconds(before, after), result["requests"])
    return result


def median_run(url: str, path: Path, seconds: int, connections: int, repeat: int) -> dict[str, Any]:
    runs = [run_wrk(url, path, seconds, connections) for _ in range(repeat)]
    best = dict(sorted(runs, key=lambda r: r["rps"])[len(runs) // 2])
    best["runs_rps"] = [r["rps"] for r in runs]
    best["cpu_us_per_request"] = {g: statistics.median(r["cpu_us_per_request"][g] or 0.0 for r in runs) for g in GROUPS}
    return best


def predicted(endpoint: str, extra_us: float, contention: float) -> tuple[float, float]:
    """(rps the model gives on this machine's cores, the CPU µs per request it assumed): the 2-core
    benchmark's app + PostgreSQL + Redis CPU for the endpoint, plus the balancer's and pgbouncer's
    measured here; every core busy (the cluster's 3 nodes x 4 threads outnumber the cores)."""
    found = capacity.latest_results(1)
    if found is None:
        raise SystemExit("no level-1 benchmark results with CPU per request: run `make bench LEVEL=1` first")
    cost = capacity.endpoint_costs(found[1])[endpoint]
    cores = os.cpu_count() or 2
    per_request = cost.busy + extra_us
    rps = cores * capacity.efficiency(1.0, contention) / (per_request / 1e6)
    return rps, per_request


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", type=Path, default=None, help="the cluster's state dir (default: make cluster's)")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    a = p.parse_args(argv)
    cluster = Cluster(a.state_dir) if a.state_dir else Cluster()
    if not cluster.is_up():
        raise SystemExit("no cluster is running: `make cluster` first")
    reference = json.loads(capacity.REFERENCE.read_text())
    contention = capacity.fit_contention(reference)
    base = cluster.balancer_url
    direct = f"http://{cluster.address(APPS[0])}:8000"
    with tempfile.TemporaryDirectory() as tmp:
        files = request_files(base, Path(tmp))
        rows = []
        for name in ENDPOINTS:
            through = median_run(base, files[name], a.duration, a.connections, a.repeat)
            one_node = median_run(direct, files[name], a.duration, a.connections, a.repeat)
            cpu = through["cpu_us_per_request"]
            rps, assumed = predicted(name, cpu["haproxy"] + cpu["pgbouncer"], contention)
            rows.append((name, through, one_node, rps, assumed))
            time.sleep(1)
    print(f"# The cluster on this machine ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}")
    print()
    print("| endpoint | through HAProxy: rps | app | HAProxy | pgbouncer | PG | Redis | one node direct: rps | app |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, through, one_node, _, _ in rows:
        c, d = through["cpu_us_per_request"], one_node["cpu_us_per_request"]
        print(
            f"| {name} | {through['rps']:,.0f} | {c['app']:,.0f} | {c['haproxy']:,.0f} | {c['pgbouncer']:,.0f}"
            f" | {c['postgres']:,.0f} | {c['redis']:,.0f} | {one_node['rps']:,.0f} | {d['app']:,.0f} |"
        )
    print()
    print("CPU µs per request by process group (medians of the runs); the model's prediction from the 2-core")
    print("benchmark's figures plus HAProxy's and pgbouncer's measured here:")
    print()
    print("| endpoint | predicted rps | measured rps | error | CPU µs/request assumed |")
    print("|---|---:|---:|---:|---:|")
    for name, through, _, rps, assumed in rows:
        check = capacity.Check(name, rps, through["rps"])
        flag = "" if check.within else " **outside**"
        print(f"| {name} | {rps:,.0f} | {through['rps']:,.0f} | {check.error:+.0%}{flag} | {assumed:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
