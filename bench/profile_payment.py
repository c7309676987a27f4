"""Where a payment's CPU goes, in process: N payments through Django's test client against the
bench's level database (production settings, as `make bench` serves them), under cProfile.

    .venv/bin/python bench/profile_payment.py [--level 1] [--payments 300] [--top 35]

Prints the statements of one payment and the functions by own time and by cumulative time, and a
summary by area (our code by package, Django, Ninja/pydantic, psycopg, the rest). Needs the level
loaded (`bench/run.py --level n --load-only`); it logs a few generated agents in unless a
`make bench` run cached their tokens.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench import run as bench  # noqa: E402

AREAS = (
    ("/src/domain/", "domain"),
    ("/src/adapters/", "adapters"),
    ("/src/api/", "api"),
    ("/src/config/", "config"),
    ("/django/", "django"),
    ("/ninja/", "ninja"),
    ("/pydantic", "pydantic"),
    ("/psycopg", "psycopg"),
    ("/decimal", "decimal"),
    ("/json/", "json"),
    ("/logging/", "logging"),
    ("/prometheus_client/", "prometheus"),
    ("/redis/", "redis"),
)


def area(filename: str) -> str:
    return next((name for part, name in AREAS if part in filename), "other")


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) a PostgreSQL backend has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def payer(level: int, *, wsgi: bool = False) -> Callable[[int], None]:
    """Django set up on the level's bench database and a function that registers payment number i
    (through Django's test client, or with `wsgi` through the servers' WSGI application called as a
    server would, without the test client's own work; each with its own idempotency key; raises
    unless it is booked)."""
    cfg = bench.Config(level=level)
    os.environ.update(bench.server_env(cfg))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    cached = cfg.work / "tokens.json"
    if cached.exists():
        tokens = json.loads(cached.read_text())["tokens"]
    else:  # no bench run yet on this machine: log a few of the generated agents in
        tokens = {}
        for n in range(1, 9):
            name = f"seed_agent{n}"
            answer = client.post(
                "/api/v1/auth/token",
                {"username": name, "password": "seed-pass-2026"},
                content_type="application/json",
            )
            if answer.status_code == 200:
                tokens[name] = answer.json()["access_token"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.username, u.id FROM identity_user u WHERE u.role = 'agent' AND u.username = ANY(%s)",
            [list(tokens)],
        )
        agents = dict(cursor.fetchall())
        cursor.execute(
            "SELECT c.id, c.agent_id FROM credits_credit c WHERE c.agent_id = ANY(%s) AND c.currency = 'COP' "
            "AND c.state IN ('active', 'defaulted') AND (SELECT sum(i.principal + i.adjustment + i.interest "
            "+ i.late_fee - i.late_fee_waived - i.paid_principal - i.paid_interest - i.paid_late_fee) "
            "FROM credits_installment i WHERE i.credit_id = c.id) >= 200000 ORDER BY c.id",
            [list(agents.values())],
        )
        payable = cursor.fetchall()
        cursor.execute("SELECT id, kind FROM catalog_payment_account WHERE currency_id = 'COP' AND active")
        accounts = dict((kind, pk) for pk, kind in cursor.fetchall())
    by_agent = {uid: tokens[name] for name, uid in agents.items()}
    random.Random(7).shuffle(payable)
    body = json.dumps(
        {
            "amount": {"amount": "100.00", "currency": "COP"},
            "lines": [
                {"payment_account_id": accounts["cash"], "amount": {"amount": "60.00", "currency": "COP"}},
                {"payment_account_id": accounts["bank"], "amount": {"amount": "40.00", "currency": "COP"}},
            ],
            "prepay": True,
        }
    )
    stamp = int(time.time())

    if wsgi:
        return _wsgi_payer(payable, by_agent, body.encode(), stamp)

    def pay(i: int) -> None:
        credit_id, agent_id = payable[i % len(payable)]
        response = client.post(
            f"/api/v1/credits/{credit_id}/payments",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {by_agent[agent_id]}",
            HTTP_IDEMPOTENCY_KEY=f"profile-{stamp}-{i}",
        )
        if response.status_code != 201:
            raise SystemExit(f"payment answered {response.status_code}: {response.content[:300]!r}")

    return pay


def _wsgi_payer(
    payable: list[tuple[Any, int]], by_agent: dict[int, str], body: bytes, stamp: int
) -> Callable[[int], None]:
    from django.core.handlers.wsgi import WSGIHandler

    from api.hot_reads import HotReadsFront
    from bench.profile_request import environ as request_environ

    app = HotReadsFront(WSGIHandler())
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        statuses.append(status)

    def pay(i: int) -> None:
        credit_id, agent_id = payable[i % len(payable)]
        environ = request_environ(f"/api/v1/credits/{credit_id}/payments", by_agent[agent_id], body)
        environ["HTTP_IDEMPOTENCY_KEY"] = f"profile-{stamp}-{i}"
        answer = app(environ, start_response)
        content = b"".join(answer)
        if hasattr(answer, "close"):
            answer.close()
        if not statuses[-1].startswith("201"):
            raise SystemExit(f"payment answered {statuses[-1]}: {content[:300]!r}")

    return pay


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--payments", type=int, default=300)
    p.add_argument("--top", type=int, default=35)
    p.add_argument(
        "--plain",
        action="store_true",
        help="no profiler: the CPU of one payment, in this process and in its PostgreSQL backend (serial)",
    )
    a = p.parse_args()
    pay = payer(a.level)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(20):  # warm: imports, connections, caches
        pay(i)
    with CaptureQueriesContext(connection) as queries:
        pay(20)
    print(f"statements of one payment: {len(queries)}")
    for q in queries:
        print("  ", q["sql"][:110])

    if a.plain:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        app, db = [], []
        for i in range(21, 21 + a.payments):
            app0, db0 = time.process_time(), backend_cpu(backend)
            pay(i)
            app.append(time.process_time() - app0)
            db.append(backend_cpu(backend) - db0)
        print(
            f"\n{a.payments} payments, serial, CPU µs per payment: app median {statistics.median(app) * 1e6:,.0f} "
            f"(mean {statistics.mean(app) * 1e6:,.0f}); PostgreSQL backend mean {statistics.mean(db) * 1e6:,.0f} "
            f"(its clock ticks are 10 ms: only the mean means anything)"
        )
        # Whether PostgreSQL reuses a generic plan for each prepared statement or plans it each time.
        with connection.cursor() as cursor:
            cursor.execute("SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements ORDER BY 2 DESC")
            print("\nprepared statements (generic plans, custom plans, statement):")
            for generic, custom, statement in cursor.fetchall():
                print(f"  {generic:6} {custom:6}  {' '.join(statement.split())[:100]}")
        return

    # CPU time, not wall time: the waits on PostgreSQL and Redis are not this process's cost.
    profiler = cProfile.Profile(time.process_time)
    started = time.process_time()
    profiler.enable()
    for i in range(21, 21 + a.payments):
        pay(i)
    profiler.disable()
    cpu = time.process_time() - started
    print(f"\n{a.payments} payments, {cpu / a.payments * 1e6:,.0f} µs of process CPU each under cProfile")

    stats = pstats.Stats(profiler)
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        totals[area(filename)] += tottime
    whole = sum(totals.values())
    print("\nown time by area:")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:12} {seconds / whole:6.1%}  {seconds / a.payments * 1e6:8,.0f} µs/payment")
    stats.sort_stats("tottime").print_stats(a.top)
    stats.sort_stats("cumulative").print_stats(a.top)
    stats.sort_stats("cumulative").print_stats("src/(domain|adapters|api)", a.top)


if __name__ == "__main__":
    main()
