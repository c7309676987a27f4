"""What each piece of the request cycle costs: the CPU of a request through Django's WSGI handler,
in process, with all the middleware, with each one left out in turn, with none, and the servers'
application (config.wsgi: a hot read's hit answered in front of Django's handler).

    .venv/bin/python bench/profile_request.py [--level 1] [--requests 5000] [--path /api/v1/ping]

The WSGI handler is called directly with a plain environ (no test client, no server): what is
measured is Django, our middleware and the view. `--path` with `--as-client` sends a generated
client's bearer token (e.g. `--path /api/v1/me/summary --as-client` for the cached summary; the
first request fills the cache). Figures: median CPU µs per request over batches of 100
(time.process_time), so compare variants within one run, not across machines.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench import run as bench  # noqa: E402


def environ(path: str, token: str | None) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def cpu_per_request(app: Callable[..., Any], path: str, token: str | None, requests: int) -> tuple[float, int]:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses.append(status)

    def one() -> None:
        body = app(environ(path, token), start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()

    for _ in range(200):  # warm: imports, caches, connections
        one()
    batches = []
    for _ in range(max(1, requests // 100)):
        started = time.process_time()
        for _ in range(100):
            one()
        batches.append((time.process_time() - started) / 100)
    return statistics.median(batches) * 1e6, int(statuses[-1].split()[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--path", default="/api/v1/ping")
    p.add_argument("--as-client", action="store_true", help="send a generated client's bearer token")
    p.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also cProfile the servers' app: top N functions"
    )
    p.add_argument("--quick", action="store_true", help="only Django's handler and the servers' application")
    a = p.parse_args()
    cfg = bench.Config(level=a.level)
    os.environ.update(bench.server_env(cfg))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)  # the access log's cost is measured as its own variant below
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client
    from django.test.utils import override_settings

    token = None
    if a.as_client:
        answer = Client(HTTP_HOST="127.0.0.1").post(
            "/api/v1/auth/token",
            {"username": "seed_client1", "password": "seed-pass-2026"},
            content_type="application/json",
        )
        token = answer.json()["access_token"]

    full = list(settings.MIDDLEWARE)
    variants: list[tuple[str, dict[str, Any]]] = [("all middleware", {})]
    if not a.quick:
        variants += [
            (f"without {name.rsplit('.', 1)[1]}", {"MIDDLEWARE": [m for m in full if m != name]}) for name in full
        ]
        variants.append(("no middleware at all", {"MIDDLEWARE": []}))
    rows = []
    for label, overrides in variants:
        with override_settings(**overrides):
            us, status = cpu_per_request(WSGIHandler(), a.path, token, a.requests)
        rows.append((label, us, status))
    from api.hot_reads import HotReadsFront

    us, status = cpu_per_request(HotReadsFront(WSGIHandler()), a.path, token, a.requests)
    rows.append(("the servers' application (config.wsgi: hot reads' hits in front of Django)", us, status))
    logging.disable(logging.NOTSET)
    us, status = cpu_per_request(WSGIHandler(), a.path, token, a.requests)
    rows.append(("all middleware, access log on", us, status))
    us, status = cpu_per_request(HotReadsFront(WSGIHandler()), a.path, token, a.requests)
    rows.append(("the servers' application, access log on", us, status))

    if a.profile:
        import cProfile
        import pstats

        app = HotReadsFront(WSGIHandler())
        cpu_per_request(app, a.path, token, 100)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        cpu_per_request(app, a.path, token, 1000)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(a.profile)

    base = rows[0][1]
    print(f"\n{a.path}: CPU µs per request (median of batches of 100), in process")
    print("| variant | status | CPU µs | vs all |\n|---|---:|---:|---:|")
    for label, us, status in rows:
        print(f"| {label} | {status} | {us:,.0f} | {us - base:+,.0f} |")


if __name__ == "__main__":
    main()
