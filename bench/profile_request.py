"""What each piece of the request cycle costs: the CPU of a request through Django's WSGI handler,
in process, with all the middleware, with each one left out in turn, with none, and the servers'
application (config.wsgi: a hot read's hit answered in front of Django's handler).

    .venv/bin/python bench/profile_request.py [--level 1] [--requests 5000] [--path /api/v1/ping]

The WSGI handler is called directly with a plain environ (no test client, no server): what is
measured is Django, our middleware and the view. An /api/ path's variants leave out entries of
settings.API_MIDDLEWARE (what such a request meets), any other path's of settings.MIDDLEWARE.
`--path` with `--as-client` sends a generated client's bearer token (e.g. `--path
/api/v1/me/summary --as-client` for the cached summary; the first request fills the cache).
Figures: median CPU µs per request over batches of 100 (time.process_time), the variants taking
turns batch by batch, so compare variants within one run, not across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench import run as bench  # noqa: E402


def environ(path: str, token: str | None, body: bytes | None = None) -> dict[str, Any]:
    """A request's WSGI environ as a server passes it: a GET, or with `body` a JSON POST."""
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": "GET" if body is None else "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body is not None:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return env


def client_token(username: str = "seed_client1") -> str:
    """A generated user's access token (seed_client1 of the level's book unless another is named:
    seed_agent1, seed_admin1...), logged in through the API."""
    from django.test import Client

    answer = Client(HTTP_HOST="127.0.0.1").post(
        "/api/v1/auth/token",
        {"username": username, "password": "seed-pass-2026"},
        content_type="application/json",
    )
    return str(answer.json()["access_token"])


@dataclass
class Variant:
    """One way of serving the request: its WSGI app, and what to switch on around each of its batches."""

    label: str
    app: Callable[..., Any]
    around: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
    batches: list[float] = field(default_factory=list)
    status: int = 0


def _caller(app: Callable[..., Any], path: str, token: str | None, statuses: list[str]) -> Callable[[], None]:
    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses.append(status)

    def one() -> None:
        body = app(environ(path, token), start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()

    return one


def measure(variants: list[Variant], path: str, token: str | None, requests: int) -> None:
    """Batches of 100 requests, the variants taking turns batch by batch: the machine's drift (this
    one's speed moves by a third within minutes) then weighs on every variant alike."""
    calls = []
    for variant in variants:
        statuses: list[str] = []
        one = _caller(variant.app, path, token, statuses)
        with variant.around():
            for _ in range(200):  # warm: imports, caches, connections
                one()
        calls.append((variant, one, statuses))
    for _ in range(max(1, requests // 100)):
        for variant, one, _ in calls:
            with variant.around():
                started = time.process_time()
                for _ in range(100):
                    one()
                variant.batches.append((time.process_time() - started) / 100)
    for variant, _, statuses in calls:
        variant.status = int(statuses[-1].split()[0])


def cpu_per_request(app: Callable[..., Any], path: str, token: str | None, requests: int) -> tuple[float, int]:
    variant = Variant("", app)
    measure([variant], path, token, requests)
    return statistics.median(variant.batches) * 1e6, variant.status


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
    import django

    django.setup()
    logging.disable(logging.INFO)  # the access log's cost is measured as its own variant below
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    token = client_token() if a.as_client else None

    @contextlib.contextmanager
    def access_log() -> Iterator[None]:
        logging.disable(logging.NOTSET)
        try:
            yield
        finally:
            logging.disable(logging.INFO)

    from api.hot_reads import HotReadsFront

    # An /api/ path meets API_MIDDLEWARE (api.http.pipeline), any other the rest of MIDDLEWARE.
    listed = "API_MIDDLEWARE" if a.path.startswith("/api/") else "MIDDLEWARE"
    full = list(getattr(settings, listed))
    variants = [Variant("all middleware", WSGIHandler())]
    if not a.quick:
        for name in full:
            with override_settings(**{listed: [m for m in full if m != name]}):  # the chain is built here
                variants.append(Variant(f"without {name.rsplit('.', 1)[1]}", WSGIHandler()))
        with override_settings(MIDDLEWARE=[]):
            variants.append(Variant("no middleware at all", WSGIHandler()))
    variants += [
        Variant("the servers' application (config.wsgi: hot reads' hits in front of Django)",
                HotReadsFront(WSGIHandler())),
        Variant("all middleware, access log on", WSGIHandler(), access_log),
        Variant("the servers' application, access log on", HotReadsFront(WSGIHandler()), access_log),
    ]  # fmt: skip
    measure(variants, a.path, token, a.requests)
    rows = [(v.label, statistics.median(v.batches) * 1e6, v.status) for v in variants]

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
