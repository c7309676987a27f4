"""The capacity plan: from the benchmark's CPU per request to the cores, processes, memory and
machines a target load needs (docs/capacity.md explains the model).

    make capacity QPS=10000 LEVEL=3 [CAPACITY_ARGS="--headroom 0.6 --node-cores 16 --plot docs/capacity.png"]

Inputs are measurements, never guesses: the latest `bench/results/*-level<N>.json` that has CPU per
request (app, PostgreSQL, Redis per endpoint; a level measured before those columns existed borrows
the nearest measured level's, and the plan says so), the benchmark's realistic mix (bench/run.py
MIX), and the 16-core reference run (`bench/reference/16core-level1.json`) for how throughput grows
with workers. Everything here is pure arithmetic on those files; tested in tests/unit/test_capacity.py.

The model, per request of an endpoint: the app spends `a` µs of CPU, PostgreSQL `p`, Redis `r`. A
granian worker with one blocking thread serves one request at a time and waits for PostgreSQL and
Redis meanwhile, so it is busy `s = a + p + r` per request, and keeps at most one core's worth busy
across the processes it drives: min(W, C) busy workers serve min(W, C)·η/s requests/s. η = 1 - k·u
is what contention leaves of a core when a share u of the machine's cores is busy (shared caches,
memory bandwidth, turbo); k is the model's one parameter, fitted to the 16-core reference. Sizing
inverts it at a target utilisation (headroom for peaks and for losing a node).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.report import MIX  # noqa: E402

RESULTS = ROOT / "bench" / "results"
REFERENCE = ROOT / "bench" / "reference" / "16core-level1.json"

# Mix entries a results file from before 2026-12-07 did not run on their own: a 20-row credits page,
# like the admin's first page. Newer files measure the mix's own pools, which are used when present.
STAND_INS = {"credits_own": "credits_first", "credits_agent": "credits_first"}
WRITES = {"payment"}  # on the primary; every other endpoint reads (a replica's work when there is one)
# What the seed asked for each level (ANALISIS_ESCALABILIDAD.md, "Consultas/seg").
SEED_TARGETS = {1: 100, 2: 1_000, 3: 10_000}
# Measured 2026-12-06: a granian worker serving the mix holds ~115 MiB resident; the server's
# main process ~29 MiB (bench/run.py level 1, /proc/<pid>/status VmRSS).
WORKER_RSS_MIB = 120
# A cached entry (summary or credit detail) is ~1 KB of JSON; Redis's per-key overhead and the
# version keys roughly double it.
CACHE_ENTRY_BYTES = 2_048
# HAProxy's CPU per request in front of the API nodes, measured on the cluster (bench/cluster_check.py,
# 2026-12-06: 63 µs for the no-op, 82-84 for cached reads); pgbouncer's was ~1 µs.
BALANCER_US = 85.0


@dataclass(frozen=True)
class Cost:
    """CPU µs per request, by process group."""

    app: float
    postgres: float
    redis: float

    @property
    def busy(self) -> float:
        """What one single-threaded worker spends per request: its own CPU and the waits on the
        database and the cache (their CPU, as a lower bound of the wait)."""
        return self.app + self.postgres + self.redis


def scaled(cost: Cost, weight: float) -> Cost:
    return Cost(cost.app * weight, cost.postgres * weight, cost.redis * weight)


def total(costs: list[Cost]) -> Cost:
    return Cost(sum(c.app for c in costs), sum(c.postgres for c in costs), sum(c.redis for c in costs))


# --- inputs ----------------------------------------------------------------------------------------


def latest_results(level: int, results: Path = RESULTS) -> tuple[Path, dict[str, Any]] | None:
    """The newest results file of a level whose endpoints carry CPU per request, if any."""
    for path in sorted(results.glob(f"*-level{level}.json"), reverse=True):
        data = json.loads(path.read_text())
        if all("cpu_us_per_request" in e for e in data.get("endpoints", {}).values()) and data.get("endpoints"):
            return path, data
    return None


def any_results(level: int, results: Path = RESULTS) -> dict[str, Any] | None:
    """The newest results file of a level, with or without CPU columns (for its book size and rps)."""
    paths = sorted(results.glob(f"*-level{level}.json"), reverse=True)
    return json.loads(paths[0].read_text()) if paths else None


def endpoint_costs(results: dict[str, Any]) -> dict[str, Cost]:
    out = {}
    for name, run in results["endpoints"].items():
        cpu = run["cpu_us_per_request"]
        out[name] = Cost(cpu["app"], cpu["postgres"], cpu["redis"])
    return out


def measured_as(name: str, costs: dict[str, Cost]) -> str:
    """The endpoint whose measurement stands for this mix entry: its own run, else its stand-in."""
    return name if name in costs else STAND_INS.get(name, name)


def mix_costs(costs: dict[str, Cost], mix: list[tuple[str, int]] = MIX) -> tuple[Cost, Cost]:
    """The mix's cost per request, split into (reads, writes): each endpoint weighted by its share."""
    weight = sum(w for _, w in mix)
    reads: list[Cost] = []
    writes: list[Cost] = []
    for name, w in mix:
        part = scaled(costs[measured_as(name, costs)], w / weight)
        (writes if name in WRITES else reads).append(part)
    return total(reads), total(writes)


def sized_mix(costs: dict[str, Cost]) -> tuple[Cost, Cost]:
    """The mix's (reads, writes) to size with: its endpoints' weighted costs, brought to what the mix
    itself measured where it was run (each process group scaled on its own). The mix is what is
    planned for and its own run measures it directly: endpoints shuffled together cost ~5-20 % more
    CPU than each alone, and at level 1 the mix has come out from 3 % below to 40 % above its
    endpoints' weighted costs (BENCHMARKS.md, "The mix against its parts")."""
    reads, writes = mix_costs(costs)
    measured = costs.get("mix")
    if measured is None:
        return reads, writes
    summed = total([reads, writes])

    def factor(mix: float, parts: float) -> float:
        return mix / parts if parts > 0 else 1.0

    app = factor(measured.app, summed.app)
    postgres = factor(measured.postgres, summed.postgres)
    redis = factor(measured.redis, summed.redis)

    def scale(c: Cost) -> Cost:
        return Cost(c.app * app, c.postgres * postgres, c.redis * redis)

    return scale(reads), scale(writes)


# --- the model -------------------------------------------------------------------------------------


def efficiency(busy_share: float, contention: float) -> float:
    """The share of a core's work a worker still gets done when busy_share of the machine's cores are
    busy: shared caches, memory bandwidth and turbo make every core slower as more of them work."""
    return 1 - contention * min(1.0, busy_share)


def predicted_rps(cost: Cost, *, workers: int, cores: int, contention: float) -> float:
    """Requests/s of one machine at full load: its workers' bound or its cores' bound, whichever comes
    first, slowed by the contention of that many busy cores."""
    busy = min(workers, cores)  # a worker busy all the time keeps at most one core's worth busy in all
    return busy * efficiency(busy / cores, contention) / (cost.busy / 1e6)


def reference_cost(run: dict[str, Any]) -> Cost:
    """CPU per request from a reference run's cores used and its rps."""
    cores, rps = run["cores"], run["rps"]
    return Cost(cores["app"] / rps * 1e6, cores["postgres"] / rps * 1e6, cores["redis"] / rps * 1e6)


def _reference_predictions(reference: dict[str, Any], contention: float) -> list[tuple[str, int, float, float]]:
    """(endpoint, workers, predicted, measured) for every run above the fewest workers, each predicted
    from the same endpoint's run at the fewest workers (its cost, and its own contention undone)."""
    cores = reference["machine"]["cores"]
    low = reference["workers"][0]
    out = []
    for name, runs in reference["endpoints"].items():
        base = runs[str(low)]["rps"] / efficiency(low / cores, contention)  # per worker, uncontended
        for w in reference["workers"][1:]:
            busy = min(w, cores)
            out.append((name, w, base / low * busy * efficiency(busy / cores, contention), runs[str(w)]["rps"]))
    return out


def fit_contention(reference: dict[str, Any]) -> float:
    """The one parameter of the model, fitted to the 16-core reference (least squares on log rps)."""

    def loss(k: float) -> float:
        return sum(math.log(p / m) ** 2 for _, _, p, m in _reference_predictions(reference, k))

    return min((k / 1000 for k in range(0, 900)), key=loss)


@dataclass(frozen=True)
class Check:
    what: str
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1

    @property
    def within(self) -> bool:
        return abs(self.error) <= 0.20


def check_reference(reference: dict[str, Any], contention: float) -> list[Check]:
    """Each endpoint's rps at more workers, predicted from its run at the fewest."""
    return [
        Check(f"16 cores, {name}, {w} workers", p, m) for name, w, p, m in _reference_predictions(reference, contention)
    ]


def check_two_core_mix(results: dict[str, Any], contention: float) -> Check:
    """The mix's rps on the benchmark machine, predicted from the single-endpoint runs only: their
    costs weighted by the mix, and the share of the model's rps those same runs reached (wrk, the
    kernel and the server's own threads share the two cores)."""
    costs = endpoint_costs(results)
    workers = results["settings"]["workers"]
    cores = results["machine"]["cores"]
    singles = [n for n in costs if n not in ("mix", "noop") and n in {measured_as(m, costs) for m, _ in MIX}]
    reached = statistics.median(
        results["endpoints"][n]["rps"] / predicted_rps(costs[n], workers=workers, cores=cores, contention=contention)
        for n in singles
    )
    reads, writes = mix_costs(costs)
    mix = total([reads, writes])
    predicted = reached * predicted_rps(mix, workers=workers, cores=cores, contention=contention)
    what = f"{cores} cores, level {results['level']}, mix from single-endpoint runs"
    return Check(what, predicted, results["endpoints"]["mix"]["rps"])


# --- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    qps: float
    level: int
    app_cores: float
    app_workers: int
    pg_write_cores: float
    pg_read_cores: float
    redis_cores: float
    redis_nodes: int
    balancer_cores: float
    app_ram_gib: float
    pg_ram_gib: float
    redis_ram_gib: float
    payments_per_second: float

    @property
    def cores(self) -> float:
        return self.app_cores + self.pg_write_cores + self.pg_read_cores + self.redis_cores + self.balancer_cores

    def machines(self, node_cores: int) -> int:
        """Machines of node_cores each for the work, plus one so that losing any node keeps the load."""
        return math.ceil(self.cores / node_cores) + 1


def plan(
    qps: float,
    level: int,
    reads: Cost,
    writes: Cost,
    *,
    book_gib: float,
    active_entries: int,
    utilisation: float,
    contention: float,
    write_share: float,
) -> Plan:
    # µs per request → cores, at the target utilisation and the contention of that many busy cores
    scale = qps / 1e6 / (utilisation * efficiency(utilisation, contention))
    mix = total([reads, writes])
    redis_cores = qps * mix.redis / 1e6 / utilisation
    return Plan(
        qps=qps,
        level=level,
        app_cores=mix.app * scale,
        app_workers=max(2, math.ceil(mix.busy * scale)),
        pg_write_cores=writes.postgres * scale,
        pg_read_cores=reads.postgres * scale,
        redis_cores=redis_cores,
        # Redis runs commands on one thread: a node per core of work, at least two (the sharded cache).
        redis_nodes=max(2, math.ceil(redis_cores)),
        balancer_cores=qps * BALANCER_US / 1e6 / utilisation,
        app_ram_gib=max(2, math.ceil(mix.busy * scale)) * WORKER_RSS_MIB / 1024,
        # The book and its indexes in memory: level 3's transactions page read the disk on 24 GiB.
        pg_ram_gib=book_gib * 1.25,
        redis_ram_gib=active_entries * CACHE_ENTRY_BYTES / 2**30 * 2,  # 2: maxmemory headroom
        payments_per_second=qps * write_share,
    )


def primary_ceiling(payment: Cost, primary_cores: int, utilisation: float, contention: float) -> float:
    """Payments/s one primary sustains if it does nothing else: its cores over PostgreSQL's CPU per payment."""
    return primary_cores * utilisation * efficiency(utilisation, contention) / (payment.postgres / 1e6)


# --- report ----------------------------------------------------------------------------------------


def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


@dataclass(frozen=True)
class LevelInputs:
    level: int
    measured_level: int  # whose CPU per request is used (the level's own when it has the columns)
    source: str
    costs: dict[str, Cost]
    book_gib: float
    users: int
    credits: int


def level_inputs(level: int) -> LevelInputs:
    own = any_results(level)
    for candidate in sorted((1, 2, 3), key=lambda lv: (abs(lv - level), -lv)):
        found = latest_results(candidate)
        if found:
            path, results = found
            book = (own or results)["book"]
            return LevelInputs(
                level,
                candidate,
                path.name,
                endpoint_costs(results),
                book["size_gib"],
                book["rows"].get("identity_user", 0),
                book["rows"].get("credits_credit", 0),
            )
    raise SystemExit("no bench/results/*-level<N>.json with CPU per request: run `make bench LEVEL=1` first")


def level_plan(inputs: LevelInputs, qps: float, args: argparse.Namespace, contention: float) -> Plan:
    reads, writes = sized_mix(inputs.costs)
    weight = sum(w for _, w in MIX)
    return plan(
        qps,
        inputs.level,
        reads,
        writes,
        book_gib=inputs.book_gib,
        active_entries=int((inputs.users + inputs.credits) * args.active_share),
        utilisation=args.headroom,
        contention=contention,
        write_share=sum(w for n, w in MIX if n in WRITES) / weight,
    )


def render(args: argparse.Namespace) -> str:
    reference = json.loads(REFERENCE.read_text())
    contention = args.contention if args.contention is not None else fit_contention(reference)
    inputs = level_inputs(args.level)
    p = level_plan(inputs, args.qps, args, contention)
    summed = total(list(mix_costs(inputs.costs)))
    mix = total(list(sized_mix(inputs.costs)))
    weight = sum(w for _, w in MIX)
    borrowed = f" (level {args.level} has no CPU figures yet: level {inputs.measured_level}'s)"
    borrowed = "" if inputs.measured_level == args.level else borrowed
    out = [
        f"# Capacity plan: {_n(args.qps)} mix requests/s at level {args.level}",
        "",
        f"- CPU per request: `bench/results/{inputs.source}`{borrowed}.",
        f"- Contention k = {contention:.3f}, fitted to the 16-core reference: a core does 1 - k x (busy share)"
        f" of its work, {efficiency(args.headroom, contention):.0%} at the target utilisation of {args.headroom:.0%}.",
        f"- Machines of {args.node_cores} cores; {args.active_share:.0%} of users and credits cached at once.",
        "",
        "## The mix, per request (µs of CPU)",
        "",
        "| endpoint | share | app | PostgreSQL | Redis | served by |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, w in MIX:
        measured = measured_as(name, inputs.costs)
        c = inputs.costs[measured]
        label = name + (f" (measured as {measured})" if measured != name else "")
        where = "primary" if name in WRITES else "a replica (or the primary)"
        out.append(f"| {label} | {w / weight:.0%} | {_n(c.app)} | {_n(c.postgres)} | {_n(c.redis)} | {where} |")
    out += [
        f"| weighted sum | 100% | {_n(summed.app)} | {_n(summed.postgres)} | {_n(summed.redis)} | |",
        f"| **mix, as measured** (what the plan sizes with) | 100% | **{_n(mix.app)}** | **{_n(mix.postgres)}**"
        f" | **{_n(mix.redis)}** | |",
        "",
        "## What it needs",
        "",
        "| | cores | processes / nodes | RAM |",
        "|---|---:|---:|---:|",
        f"| app (granian) | {_n(p.app_cores, 1)} | {p.app_workers} workers, 1 thread each"
        f" | {_n(p.app_ram_gib, 1)} GiB |",
        f"| PostgreSQL writes ({_n(p.payments_per_second)} payments/s) | {_n(p.pg_write_cores, 1)} | the primary"
        f" | {_n(p.pg_ram_gib, 1)} GiB |",
        f"| PostgreSQL reads (cache misses, lists) | {_n(p.pg_read_cores, 1)} | replicas (or the primary)"
        f" | {_n(p.pg_ram_gib, 1)} GiB each |",
        f"| Redis (sharded cache) | {_n(p.redis_cores, 1)} | {p.redis_nodes} nodes | {_n(p.redis_ram_gib, 1)} GiB |",
        f"| HAProxy (balancer) | {_n(p.balancer_cores, 1)} | 2 (active + standby) | - |",
        f"| **total** | **{_n(p.cores, 1)}** | **{p.machines(args.node_cores)} machines** of {args.node_cores} cores"
        " (one spare) | |",
        "",
    ]
    one = predicted_rps(mix, workers=args.node_cores, cores=args.node_cores, contention=contention)
    budget = args.node_cores * efficiency(1.0, contention) / args.qps * 1e6
    out += [
        f"One {args.node_cores}-core machine running everything serves ~{_n(one)} mix requests/s at full load;"
        f" {_n(args.qps)}/s on it needs the mix to cost ≤ {_n(budget)} µs of CPU in all (it costs {_n(mix.busy)}).",
        "",
        "## The seed's table, measured",
        "",
        "| level | queries/s | app cores | PostgreSQL cores (writes + reads) | Redis cores | RAM | machines |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for level, qps in SEED_TARGETS.items():
        lp = level_plan(level_inputs(level), qps, args, contention)
        ram = lp.app_ram_gib + lp.pg_ram_gib + lp.redis_ram_gib
        out.append(
            f"| {level} | {qps:,} | {_n(lp.app_cores, 1)} | {_n(lp.pg_write_cores, 1)} + {_n(lp.pg_read_cores, 1)}"
            f" | {_n(lp.redis_cores, 1)} | {_n(ram, 1)} GiB | {lp.machines(args.node_cores)} |"
        )
    payment = inputs.costs["payment"]
    ceiling = primary_ceiling(payment, args.node_cores, args.headroom, contention)
    out += [
        "",
        "## Past one primary",
        "",
        f"PostgreSQL spends {_n(payment.postgres)} µs per payment: one {args.node_cores}-core primary doing only"
        f" writes sustains ~{_n(ceiling)} payments/s at {args.headroom:.0%}; this plan needs"
        f" {_n(p.payments_per_second)}/s ({ceiling / max(p.payments_per_second, 1):.1f} times less).",
        "",
        "## Does the model hold? (predicted vs measured rps; within 20 % is the bar)",
        "",
        "| run | predicted | measured | error |",
        "|---|---:|---:|---:|",
    ]
    checks = check_reference(reference, contention)
    for level in (1, 2):
        found = latest_results(level)
        if found:
            checks.append(check_two_core_mix(found[1], contention))
    for check in checks:
        flag = "" if check.within else " **outside**"
        out.append(f"| {check.what} | {_n(check.predicted)} | {_n(check.measured)} | {check.error:+.0%}{flag} |")
    return "\n".join(out) + "\n"


def plot(path: Path, contention: float) -> None:
    """Throughput vs workers on the 16-core reference: measured points, the model's lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reference = json.loads(REFERENCE.read_text())
    fig, ax = plt.subplots(figsize=(8, 5))
    workers = reference["workers"]
    for name, runs in reference["endpoints"].items():
        cost = reference_cost(runs[str(workers[0])])
        measured = [runs[str(w)]["rps"] for w in workers]
        line = ax.plot(workers, measured, "o", label=name)[0]
        cores = reference["machine"]["cores"]
        xs = list(range(workers[0], cores + 1))
        undo = predicted_rps(cost, workers=workers[0], cores=cores, contention=contention) / measured[0]
        ys = [predicted_rps(cost, workers=x, cores=cores, contention=contention) / undo for x in xs]
        ax.plot(xs, ys, "-", color=line.get_color(), alpha=0.6)
    found = latest_results(1)
    if found:  # today's code: the mix's CPU per request measured on the 2-core bench, on the 16 cores
        cores = reference["machine"]["cores"]
        mix = total(list(sized_mix(endpoint_costs(found[1]))))
        xs = list(range(1, cores + 1))
        ys = [predicted_rps(mix, workers=x, cores=cores, contention=contention) for x in xs]
        ax.plot(xs, ys, "k--", label=f"mix, its CPU as measured in {found[0].name}")
        ax.axhline(10_000, color="grey", linewidth=0.8)
        ax.annotate("10,000/s", (xs[0], 10_000), textcoords="offset points", xytext=(0, 4), fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("granian workers on the 16-core machine (each drives about one core of app + PostgreSQL + Redis)")
    ax.set_ylabel("requests/s")
    ax.set_title(f"16-core reference: measured (points) vs the model from 2 workers (lines, k = {contention:.2f})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--qps", type=float, default=10_000)
    p.add_argument("--level", type=int, default=3, choices=(1, 2, 3))
    p.add_argument("--headroom", type=float, default=0.6, help="target CPU utilisation (default 0.6)")
    p.add_argument("--node-cores", type=int, default=16)
    p.add_argument("--contention", type=float, help="k; default: fitted to the 16-core reference")
    p.add_argument("--active-share", type=float, default=0.2, help="share of users+credits cached at once")
    p.add_argument("--plot", type=Path, help="also draw measured vs predicted throughput to this PNG")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    sys.stdout.write(render(args))
    if args.plot:
        reference = json.loads(REFERENCE.read_text())
        plot(args.plot, args.contention if args.contention is not None else fit_contention(reference))
        print(f"\n(plot written to {args.plot})")


if __name__ == "__main__":
    main()
