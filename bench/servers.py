"""What share of a request is the WSGI server's? The same app and endpoints under other servers,
alternated with granian (as `bench/run.py` serves it) round by round; CPU per request of the app.

    .venv/bin/python bench/servers.py [--level 1] [--rounds 3] [--seconds 8]
        [--servers granian,bjoern,uwsgi] [--endpoints noop,summary_cached,detail_cached,payment]

Uses the request files of the level's last `bench/run.py` run and its CPU accounting; every server
runs as many processes as the benchmark's granian has workers. The others are not dependencies of
the project, only of this question: `apt-get install -y libev-dev && .venv/bin/pip install bjoern`
(no wheels: a C compiler and libev's headers), `.venv/bin/pip install uwsgi`. bjoern has no process
manager: this file forks its processes itself (`--serve-bjoern`). uWSGI runs one request per
connection (`--http-socket`): with keep-alive it would need a process or thread per connection.
BENCHMARKS.md, "The WSGI server's share of a request", has what it found.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench import run as bench  # noqa: E402


def command(name: str, port: int, workers: int) -> list[str] | None:
    """The server's command line; None for granian (bench.run.Server's own)."""
    if name == "granian":
        return None
    if name == "bjoern":
        return [sys.executable, __file__, "--serve-bjoern", str(port), str(workers)]
    if name == "uwsgi":
        uwsgi = shutil.which("uwsgi", path=str(bench.VENV_BIN)) or "uwsgi"
        return [uwsgi, "--http-socket", f"127.0.0.1:{port}", "--module", "config.wsgi:application"]
    raise SystemExit(f"unknown server {name!r}: granian, bjoern or uwsgi")


def uwsgi_settings(workers: int) -> list[str]:
    return ["--processes", str(workers), "--master", "--lazy-apps", "--disable-logging", "--need-app"]


def serve_bjoern(port: int, workers: int) -> None:
    import bjoern  # type: ignore[import-not-found,import-untyped,unused-ignore]  # installed by hand, for this only

    from config.wsgi import application

    bjoern.listen(application, "127.0.0.1", port, reuse_port=True)
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    bjoern.run()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--servers", default="granian,bjoern")
    p.add_argument("--endpoints", default="noop,summary_cached,detail_cached,payment")
    p.add_argument("--serve-bjoern", nargs=2, type=int, metavar=("PORT", "WORKERS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve_bjoern:
        serve_bjoern(*a.serve_bjoern)
        return
    cfg = bench.Config(level=a.level, quiet_wait=0)
    files = {name: cfg.work / f"requests-{name}.txt" for name in a.endpoints.split(",")}
    if missing := [str(f) for f in files.values() if not f.exists()]:
        raise SystemExit(f"no request files {missing}: run `bench/run.py --level {a.level}` first")
    servers = a.servers.split(",")
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(a.rounds):  # alternated: the machine drifts within minutes
        for name in servers:
            cmd = command(name, cfg.port, cfg.workers)
            if cmd and name == "uwsgi":
                cmd += uwsgi_settings(cfg.workers)
            server = bench.Server(cfg, bench.server_env(cfg), cmd=cmd)
            try:
                for endpoint, path in files.items():  # the read cache filled, the workers warm
                    bench.run_wrk(cfg, f"warm-{endpoint}", path, 3, server)
                for endpoint, path in files.items():
                    r = bench.run_wrk(cfg, endpoint, path, a.seconds, server)
                    app = r["cpu_us_per_request"]["app"] or 0.0
                    runs.setdefault((endpoint, name), []).append((r["rps"], app))
                    print(f"round {round_ + 1} {name:8} {endpoint:16} {r['rps']:8,.0f} rps  app {app:7,.0f} µs")
            finally:
                server.stop()
    print("\nmedians (rps, app CPU µs per request):")
    for endpoint in files:
        cells = []
        for name in servers:
            got = runs[(endpoint, name)]
            cells.append(
                f"{name} {statistics.median(r for r, _ in got):,.0f} rps {statistics.median(c for _, c in got):,.0f} µs"
            )
        print(f"  {endpoint:16} " + " | ".join(cells))


if __name__ == "__main__":
    main()
