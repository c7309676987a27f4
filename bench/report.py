"""Pure helpers of the benchmark: parsing wrk and pgbench output, ratios, the markdown tables and the
plot across levels. No Django, no network: tested in tests/unit/test_bench_report.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

WRK_MARKER = "WRK_JSON "
PICK_MARKER = "bench.pick_"  # pgbench scripts first pick a random row of the endpoint's pool (\gset)

# Endpoints in report order: (name, label, what it is).
ENDPOINTS: list[tuple[str, str, str]] = [
    ("noop", "no-op `GET /ping`", "the framework's ceiling: middleware, routing, Ninja, no I/O"),
    ("summary_cached", "own summary, cached", "`GET /me/credit-summary`, Redis hit (stored bytes)"),
    ("summary_cold", "own summary, cold", "the same, every request a cache miss built from PostgreSQL"),
    ("credits_first", "credits list, first page", "`GET /credits` as an admin (whole book), 20 rows"),
    ("credits_deep", "credits list, deep page", "the same with a `cursor` deep in the book"),
    ("credits_own", "client's own credits list", "`GET /credits` as a client: their own credits (the mix's)"),
    ("credits_agent", "agent's credits list", "`GET /credits` as an agent: their portfolio's first page (the mix's)"),
    ("detail_cached", "credit detail, cached", "`GET /credits/{id}` with installments, Redis hit"),
    ("detail_cold", "credit detail, cold", "the same, every request a cache miss"),
    ("transactions_month", "transactions, one month", "`GET /transactions?from=&to=` as an agent, a month"),
    ("due_today", "agent's due today", "`GET /collections/due-today` as an agent"),
    ("payment", "payment registration", "`POST /credits/{id}/payments`, two method lines, prepay"),
    ("mix", "realistic mix", "weighted mix of the above (see bench/run.py MIX)"),
]
# The realistic mix: (pool, weight). Clients read their summary and credits most; agents work their
# lists and register payments. bench/run.py builds it; bench/capacity.py plans with it.
MIX: list[tuple[str, int]] = [
    ("summary_cached", 40),
    ("detail_cached", 20),
    ("credits_own", 10),
    ("due_today", 10),
    ("payment", 10),
    ("transactions_month", 5),
    ("credits_agent", 5),
]
LABELS = {name: label for name, label, _ in ENDPOINTS}
READS = {"summary_cached", "summary_cold", "credits_first", "credits_deep", "detail_cached", "detail_cold"}
READS |= {"transactions_month", "due_today", "credits_own", "credits_agent"}
CACHED = {"summary_cached", "detail_cached"}


# --- wrk -----------------------------------------------------------------------------------------


def parse_wrk(stdout: str) -> dict[str, Any]:
    """The JSON line printed by bench/lua/requests.lua's done(), with rps and milliseconds added."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(WRK_MARKER):
            raw = json.loads(line[len(WRK_MARKER) :])
            break
    else:
        raise ValueError("no WRK_JSON line in wrk's output (is the Lua script's done() there?)")
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    non_2xx = errors.get("status", 0)
    socket_errors = sum(errors.get(k, 0) for k in ("connect", "read", "write", "timeout"))
    latency = {key: value / 1000.0 for key, value in raw["latency_us"].items()}
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "latency_ms": {key: round(value, 3) for key, value in latency.items()},
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "bytes": raw.get("bytes", 0),
    }


# --- pgbench -------------------------------------------------------------------------------------

_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.M)
_LAT = re.compile(r"^latency average = ([\d.]+) ms", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_STATEMENT = re.compile(r"^\s+([\d.]+)\s+(\d+)\s+(\S.*)$")


def parse_pgbench(stdout: str) -> dict[str, Any]:
    """tps, average latency, and (with -r) each statement's average latency in milliseconds."""
    tps = _TPS.search(stdout)
    if tps is None:
        raise ValueError("no tps line in pgbench's output")
    latency = _LAT.search(stdout)
    failed = _FAILED.search(stdout)
    processed = _PROCESSED.search(stdout)
    statements: list[dict[str, Any]] = []
    in_latencies = False
    for line in stdout.splitlines():
        if line.lstrip().startswith("statement latencies in milliseconds"):
            in_latencies = True
            continue
        if in_latencies:
            m = _STATEMENT.match(line)
            if m:
                statements.append({"ms": float(m.group(1)), "failures": int(m.group(2)), "command": m.group(3)})
            elif line.strip() and not line.startswith(" "):
                in_latencies = False
    return {
        "tps": float(tps.group(1)),
        "latency_ms": float(latency.group(1)) if latency else None,
        "transactions": int(processed.group(1)) if processed else None,
        "failed": int(failed.group(1)) if failed else 0,
        "statements": statements,
    }


def endpoint_tps(parsed: dict[str, Any]) -> float:
    """pgbench's tps with the random pick (a primary-key lookup on a small helper table, one round
    trip) taken out, from the per-statement latencies: the endpoint's own statements only."""
    statements = parsed.get("statements") or []
    total = sum(s["ms"] for s in statements)
    pick = sum(s["ms"] for s in statements if PICK_MARKER in s["command"] or s["command"].startswith("\\"))
    if not statements or total <= pick or pick <= 0:
        return parsed["tps"]
    return round(parsed["tps"] * total / (total - pick), 1)


# --- tables --------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def endpoint_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measured endpoint: rps, latencies, errors, the two ceilings and the ratios."""
    endpoints = result.get("endpoints", {})
    noop = endpoints.get("noop", {}).get("rps")
    ceilings = result.get("db_ceilings", {})
    rows = []
    for name, label, _ in ENDPOINTS:
        run = endpoints.get(name)
        if not run:
            continue
        db = ceilings.get(name) or {}
        db_tps = db.get("endpoint_tps")
        rows.append(
            {
                "name": name,
                "label": label,
                "rps": run["rps"],
                "p50": run["latency_ms"]["p50"],
                "p95": run["latency_ms"]["p95"],
                "p99": run["latency_ms"]["p99"],
                "errors": run["non_2xx"] + run["socket_errors"],
                "of_noop": ratio(run["rps"], noop) if name != "noop" else None,
                "db_tps": db_tps,
                "of_db": ratio(run["rps"], db_tps),
                "cpu_app_us": (run.get("cpu_us_per_request") or {}).get("app"),
                "cpu_pg_us": (run.get("cpu_us_per_request") or {}).get("postgres"),
            }
        )
    return rows


def markdown_table(result: dict[str, Any]) -> str:
    rows = endpoint_rows(result)
    out = [
        "| endpoint | rps | p50 ms | p95 ms | p99 ms | errors | share of no-op | pgbench tps (own SQL) "
        "| share of DB ceiling | app CPU µs/req | PostgreSQL CPU µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['label']} | {_fmt(r['rps'], 0)} | {_fmt(r['p50'], 2)} | {_fmt(r['p95'], 2)} | {_fmt(r['p99'], 2)} "
            f"| {r['errors']} | {_pct(r['of_noop'])} | {_fmt(r['db_tps'], 0)} | {_pct(r['of_db'])} "
            f"| {_fmt(r['cpu_app_us'], 0)} | {_fmt(r['cpu_pg_us'], 0)} |"
        )
    return "\n".join(out)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def batch_table(result: dict[str, Any]) -> str:
    out = ["| batch | seconds | notes |", "|---|---:|---|"]
    for name, item in (result.get("batch") or {}).items():
        seconds = item.get("seconds")
        out.append(f"| {name} | {_fmt(seconds, 1)} | {item.get('note', '')} |")
    return "\n".join(out)


def compare_levels_table(results: dict[int, dict[str, Any]]) -> str:
    """p50 and p99 of each endpoint per level, with each level's p50 as a multiple of the lowest level's."""
    levels = sorted(results)
    if not levels:
        return ""
    base = levels[0]
    head = "| endpoint | " + " | ".join(f"L{lv} rps | L{lv} p50 | L{lv} p99" for lv in levels)
    head += "".join(f" | p50 L{lv}/L{base}" for lv in levels[1:]) + " |"
    sep = "|---|" + "---:|" * (3 * len(levels) + len(levels) - 1)
    out = [head, sep]
    for name, label, _ in ENDPOINTS:
        runs = [results[lv].get("endpoints", {}).get(name) for lv in levels]
        if not any(runs):
            continue
        cells = []
        for run in runs:
            if run:
                lat = run["latency_ms"]
                cells += [_fmt(run["rps"], 0), _fmt(lat["p50"], 2), _fmt(lat["p99"], 2)]
            else:
                cells += ["-", "-", "-"]
        first = runs[0]
        for run in runs[1:]:
            cells.append(
                f"{run['latency_ms']['p50'] / first['latency_ms']['p50']:.2f}x"
                if run and first and first["latency_ms"]["p50"]
                else "-"
            )
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def results_markdown(result: dict[str, Any]) -> str:
    """The per-run markdown written next to the JSON."""
    m = result["machine"]
    s = result["settings"]
    lines = [
        f"# Benchmark, level {result['level']} (scale {result['scale']:g}) — {result['date']}",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB; "
        f"PostgreSQL {m.get('postgres', '?')}; load average before the run {m.get('loadavg_before', '?')}.",
        f"Book: {_book_line(result.get('book', {}))}.",
        f"App: granian WSGI, {s['workers']} workers x {s['blocking_threads']} blocking thread(s), "
        f"{s['db_connections']}; wrk -t{s['wrk_threads']} -c{s['wrk_connections']} -d{s['duration']}s, "
        f"{s.get('repeat', 1)} run(s) per endpoint, the median reported (same machine); pgbench "
        f"-c{s['pgbench_clients']} -j{s['pgbench_threads']} -T{s['pgbench_seconds']} -M simple.{_others(result)}",
        "",
        markdown_table(result),
        "",
        "Ceilings: the no-op endpoint served "
        f"{_fmt(result.get('endpoints', {}).get('noop', {}).get('rps'), 0)} rps (framework limit); "
        "“pgbench tps” is PostgreSQL running the endpoint's own captured statements with random ids from the "
        "same pools (one transaction = one request's statements), the random pick's round trip taken out.",
    ]
    if result.get("batch"):
        lines += ["", "## Batch timings", "", batch_table(result)]
    if result.get("plans_summary"):
        lines += ["", "## Plans", "", result["plans_summary"]]
    if result.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"


def _others(result: dict[str, Any]) -> str:
    during = [r.get("others_cpu_during") for r in result.get("endpoints", {}).values()]
    during = [d for d in during if d is not None]
    if not during:
        return ""
    return f" Other processes used at most {max(during):.0%} of the CPU during the runs."


def _book_line(book: dict[str, Any]) -> str:
    if not book:
        return "?"
    rows = book.get("rows", {})
    parts = [f"{rows[t]:,} {t}" for t in ("identity_user", "credits_credit", "ledger_transaction", "payments_line")]
    parts = [p for p in parts if p]
    size = book.get("size_gib")
    return ", ".join(parts) + (f"; {size:.1f} GiB on disk" if size else "")


# --- files and the plot --------------------------------------------------------------------------


def result_name(date: str, level: int, scale: float) -> str:
    suffix = "" if scale == 1 else f"-x{scale:g}"
    return f"{date}-level{level}{suffix}"


def latest_per_level(files: Iterable[Path]) -> dict[int, dict[str, Any]]:
    """The newest full-scale result of each level among these JSON files (names sort by date)."""
    latest: dict[int, tuple[str, dict[str, Any]]] = {}
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "level" not in data or "endpoints" not in data:
            continue
        if data.get("scale", 1) != 1:
            continue
        key = data.get("finished_at", path.name)
        level = int(data["level"])
        if level not in latest or key > latest[level][0]:
            latest[level] = (key, data)
    return {level: data for level, (_, data) in latest.items()}


def plot_levels(results: dict[int, dict[str, Any]], out: Path) -> Path | None:
    """A PNG of p50 and p99 per endpoint, one group of bars per endpoint, one bar per level."""
    if not results:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = sorted(results)
    names = [n for n, _, _ in ENDPOINTS if any(n in results[lv].get("endpoints", {}) for lv in levels)]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.1 * len(names)), 8), sharex=True)
    width = 0.8 / len(levels)
    for ax, key in zip(axes, ("p50", "p99"), strict=True):
        for i, lv in enumerate(levels):
            values = [results[lv].get("endpoints", {}).get(n, {}).get("latency_ms", {}).get(key, 0) for n in names]
            ax.bar([x + i * width for x in range(len(names))], values, width, label=f"level {lv}")
        ax.set_ylabel(f"{key} latency (ms)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
    axes[0].set_title("Latency per endpoint across levels (wrk on the same 2-core machine)")
    axes[1].set_xticks([x + 0.4 - width / 2 for x in range(len(names))])
    axes[1].set_xticklabels([LABELS[n] for n in names], rotation=30, ha="right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# --- the targets -------------------------------------------------------------------------

UNCACHED_READS = READS - CACHED


def targets_table(results: dict[int, dict[str, Any]]) -> str:
    """Each target of the benchmark against the highest level measured (and p50 against level 1)."""
    if not results:
        return ""
    top = max(results)
    base = min(results)
    eps = results[top].get("endpoints", {})
    batch = results[top].get("batch") or {}
    rows: list[tuple[str, str, str, bool | None]] = []

    def add(target: str, measured: str, met: bool | None) -> None:
        rows.append((target, measured, f"L{top}", met))

    def worst(names: Iterable[str], key: str, pick: Any) -> tuple[str, float] | None:
        ordered = [n for n, _, _ in ENDPOINTS if n in names and n in eps]  # ties: the report's order
        have = [(n, eps[n]["rps"] if key == "rps" else eps[n]["latency_ms"][key]) for n in ordered]
        return pick(have, key=lambda item: item[1]) if have else None

    if "summary_cached" in eps:
        rps = eps["summary_cached"]["rps"]
        add("cached summary >= 5,000 rps", f"{rps:,.0f} rps", rps >= 5000)
    low = worst(UNCACHED_READS, "rps", min)
    if low:
        add("uncached reads >= 2,500 rps", f"slowest {LABELS[low[0]]}: {low[1]:,.0f} rps", low[1] >= 2500)
    high = worst(READS, "p99", max)
    if high:
        add("reads p99 <= 20 ms", f"worst {LABELS[high[0]]}: {high[1]:.1f} ms", high[1] <= 20)
    if "payment" in eps:
        p99 = eps["payment"]["latency_ms"]["p99"]
        rps = eps["payment"]["rps"]
        add("payment p99 <= 50 ms", f"{p99:.1f} ms", p99 <= 50)
        add(">= 800 payments/s sustained", f"{rps:,.0f} /s", rps >= 800)
    if top != base:
        ratios = []
        for name in eps:
            first = results[base].get("endpoints", {}).get(name)
            if first and first["latency_ms"]["p50"]:
                ratios.append((name, eps[name]["latency_ms"]["p50"] / first["latency_ms"]["p50"]))
        if ratios:
            name, value = max(ratios, key=lambda item: item[1])
            rows.append(
                (
                    f"p50 L{top} <= 1.25 x L{base}",
                    f"worst {LABELS.get(name, name)}: {value:.2f}x",
                    f"L{top}/L{base}",
                    value <= 1.25,
                )
            )
    if "credits_first" in eps and "credits_deep" in eps:
        first, deep = eps["credits_first"]["latency_ms"]["p50"], eps["credits_deep"]["latency_ms"]["p50"]
        add("deep keyset page as fast as the first", f"p50 {deep:.1f} vs {first:.1f} ms", deep <= first * 1.1)
    for name, label in (
        ("nightly delinquency", "nightly delinquency <= 60 s"),
        ("portfolio analysis", "portfolio analysis <= 60 s"),
    ):
        seconds = (batch.get(name) or {}).get("seconds")
        if seconds is not None:
            add(label, f"{seconds:,.1f} s", seconds <= 60)
    load = (batch.get("data load (seed_data)") or {}).get("seconds")
    if load is not None:
        add("data load <= 20 min", f"{load / 60:,.1f} min", load <= 1200)
    out = ["| target | measured | at | met |", "|---|---|---|---|"]
    out += [f"| {t} | {m} | {at} | {'yes' if ok else 'no'} |" for t, m, at, ok in rows]
    return "\n".join(out)


BEGIN_MARK = "<!-- bench:latest:begin (written by bench/run.py) -->"
END_MARK = "<!-- bench:latest:end -->"


def latest_section(results: dict[int, dict[str, Any]]) -> str:
    """What BENCHMARKS.md shows between its markers: targets, levels compared, each level's file."""
    parts = ["### Targets", "", targets_table(results), "", "### Levels compared", "", compare_levels_table(results)]
    parts += ["", "### Each level's run", ""]
    for level in sorted(results):
        r = results[level]
        name = result_name(r["date"], level, r.get("scale", 1))
        load = r.get("machine", {}).get("loadavg_before", "?")
        parts.append(
            f"- Level {level}: {_book_line(r.get('book', {}))} — [table](bench/results/{name}.md), "
            f"[plans](bench/results/{name}-plans.md), [JSON](bench/results/{name}.json); "
            f"load average before the run {load}.{_others(r)}"
        )
    parts += ["", "![p50 and p99 per endpoint and level](bench/results/latency-by-level.png)"]
    return "\n".join(parts)


def update_benchmarks_md(path: Path, results: dict[int, dict[str, Any]]) -> bool:
    """Replace the text between the markers of BENCHMARKS.md; False when the file or markers are missing."""
    if not path.exists():
        return False
    text = path.read_text()
    start, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        return False
    new = text[: start + len(BEGIN_MARK)] + "\n" + latest_section(results) + "\n" + text[end:]
    path.write_text(new)
    return True
