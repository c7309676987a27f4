"""Does a request cost more CPU when other kinds of request come between? Two endpoints each alone,
then shuffled together, on one server; CPU per request of the app and of PostgreSQL for each.

    .venv/bin/python bench/interleave.py [--level 1] [--rounds 3] [--seconds 8]

Uses the request files of the level's last `bench/run.py` run (bench/results/tmp/<database>/) and its
server and CPU accounting. Pairs: the cached summary with payments (9:1, the mix's proportion of the
two) and with the agent's credits list (8:2). Prints each run, the medians, and each pair's measured
CPU against the weighted sum of its endpoints alone (the capacity model's assumption).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench import run as bench  # noqa: E402

SINGLES = {"S": "summary_cached", "P": "payment", "A": "credits_agent"}
PAIRS = {"S+P 9:1": (("S", 0.9), ("P", 0.1)), "S+A 8:2": (("S", 0.8), ("A", 0.2))}


def shuffled(work: Path, name: str, parts: tuple[tuple[str, float], ...], lines: dict[str, list[str]]) -> Path:
    rng = random.Random(1)
    mixed: list[str] = []
    for single, share in parts:
        mixed += rng.choices(lines[single], k=int(share * 10_000))
    rng.shuffle(mixed)
    path = work / f"requests-interleave-{name.split()[0].replace('+', '_')}.txt"
    path.write_text("\n".join(mixed) + "\n")
    return path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=8)
    a = p.parse_args()
    cfg = bench.Config(level=a.level, quiet_wait=0)
    work = cfg.work
    files = {key: work / f"requests-{name}.txt" for key, name in SINGLES.items()}
    if missing := [str(f) for f in files.values() if not f.exists()]:
        raise SystemExit(f"no request files {missing}: run `bench/run.py --level {a.level}` first")
    lines = {key: f.read_text().splitlines() for key, f in files.items()}
    files |= {name: shuffled(work, name, parts, lines) for name, parts in PAIRS.items()}
    runs: dict[str, list[tuple[float, float]]] = {key: [] for key in files}
    server = bench.Server(cfg, bench.server_env(cfg))
    try:
        bench.run_wrk(cfg, "warm", files["S+P 9:1"], 5, server)
        for round_ in range(a.rounds):  # alternated: the machine drifts within minutes
            for key, path in files.items():
                r = bench.run_wrk(cfg, key, path, a.seconds, server)
                cpu = r["cpu_us_per_request"]
                runs[key].append((cpu["app"], cpu["postgres"]))
                print(f"{round_} {key:<8} {r['rps']:>7,.0f} rps  app {cpu['app']:,.0f}  PG {cpu['postgres']:,.0f} µs")
    finally:
        server.stop()
    median = {k: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v)) for k, v in runs.items()}
    for name, parts in PAIRS.items():
        app = sum(median[k][0] * share for k, share in parts)
        pg = sum(median[k][1] * share for k, share in parts)
        got_app, got_pg = median[name]
        print(
            f"{name}: measured app {got_app:,.0f} PG {got_pg:,.0f} µs; its endpoints alone, weighted: app {app:,.0f}"
            f" PG {pg:,.0f}; measured / weighted: app {got_app / app:.2f}, PG {got_pg / pg:.2f}"
        )


if __name__ == "__main__":
    main()
