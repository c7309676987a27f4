"""`make bench LEVEL=n`: the benchmark, end to end, on one machine.

    .venv/bin/python bench/run.py --level 1 [--scale 1] [--reseed] [--duration 15] [--compare-conn]

1. A dedicated database, fintech_bench_l<n> (…_x<scale> for fractions), generated with
   `manage.py seed_data --level n` when missing or with --reseed; the load's timings are kept in the
   database (bench.meta) and reported by every run on it.
2. The app under granian (WSGI, one worker per core, 1 blocking thread, persistent connections:
   chosen by --compare-conn, see BENCHMARKS.md) with production settings (APP_ENV=production, DEBUG
   off, keys generated once per machine in bench/results/tmp/keys.json).
3. Real logins (POST /api/v1/auth/token) of a sample of clients and agents and an admin; pools of
   requests drawn from the book (users, their credits, deep cursors reached by following next_cursor,
   months, credits to pay); one request file per endpoint for wrk (bench/lua/requests.lua) and the
   same pools as tables (bench.pick_<endpoint>) for pgbench.
4. Each endpoint's SQL captured, EXPLAINed and turned into pgbench scripts (bench/capture.py).
5. Warm-up, then wrk per endpoint and for a mix; cold reads on a second start of the server whose
   read cache keeps nothing (READ_CACHE_TTL_SECONDS=0: every request looks its versions up, misses,
   builds from PostgreSQL). Then pgbench per endpoint (the database's ceiling) with the server idle.
6. Batch timings: the nightly delinquency job and the portfolio analysis over the whole book.
7. bench/results/<date>-level<n>.json, .md (tables), -plans.md, and latency-by-level.png.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import report  # noqa: E402

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
TMP = RESULTS / "tmp"
VENV_BIN = Path(sys.executable).parent
PG_SOCKET_DIR = "/var/run/postgresql"  # Debian's: where the machine's PostgreSQL listens locally
PG_PORT = int(os.environ.get("BENCH_PGPORT", "5432"))


def default_pg_host(socket_dir: str = PG_SOCKET_DIR, port: int = PG_PORT) -> str:
    """The app, PostgreSQL and wrk share the machine: the one-machine deployment, which talks to
    PostgreSQL over its Unix socket (docs/operations.md; 14-23 % less CPU per request than loopback
    TCP, BENCHMARKS.md). Loopback TCP when there is no socket, or `BENCH_PGHOST=127.0.0.1`."""
    return socket_dir if Path(socket_dir, f".s.PGSQL.{port}").exists() else "127.0.0.1"


PG = {"host": os.environ.get("BENCH_PGHOST") or default_pg_host(), "port": PG_PORT}
PG_USER = os.environ.get("BENCH_PGUSER", "postgres")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
SEED_PASSWORD = "seed-pass-2026"  # tools/bookgen/plan.py: every generated user's password
ZONE = ZoneInfo("America/Bogota")  # settings.BUSINESS_TIME_ZONE's default: what "today" means

MIX = report.MIX  # the realistic mix: (pool, weight)
HOT = ["noop", "summary_cached", "credits_first", "credits_deep", "credits_own", "credits_agent", "detail_cached"]
HOT += ["transactions_month", "due_today", "payment", "mix"]
COLD = ["summary_cold", "detail_cold"]
# Endpoints whose own SQL pgbench runs (cached hits run none; the cold runs share the cached pools).
PGBENCH = ["summary_cold", "credits_first", "credits_deep", "detail_cold", "transactions_month", "due_today"]
PGBENCH += ["payment"]


def say(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Config:
    level: int
    scale: float = 1.0
    seed: int = 42
    reseed: bool = False
    duration: int = 10
    repeat: int = 3
    warmup: int = 10
    wrk_threads: int = 2
    wrk_connections: int = 16
    workers: int = os.cpu_count() or 2
    blocking_threads: int = 1
    db_mode: str = "persistent"  # persistent (CONN_MAX_AGE) | pool (Django's psycopg pool)
    pgbench_clients: int = 4
    pgbench_threads: int = 2
    pgbench_seconds: int = 10
    clients: int = 300
    agents: int = 100
    deep_seconds: float = 60.0
    port: int = 8765
    compare_conn: bool = False
    only: list[str] = field(default_factory=list)
    skip_batch: bool = False
    skip_pgbench: bool = False
    profile: str = ""  # an endpoint to profile with py-spy during its run
    quiet_wait: int = 600  # seconds to wait for other processes to calm down before each run (0: never)
    quiet_share: float = 0.10
    load_only: bool = False
    server_env: list[str] = field(default_factory=list)  # KEY=VALUE set on the app server (A/B of settings)

    @property
    def partial(self) -> bool:
        """A run of some endpoints or with changed server settings: not the day's results."""
        return bool(self.only or self.server_env)

    @property
    def database(self) -> str:
        suffix = "" if self.scale == 1 else "_x" + f"{self.scale:g}".replace(".", "_")
        return f"fintech_bench_l{self.level}{suffix}"

    @property
    def url(self) -> str:
        return pg_url(PG["host"], PG["port"], self.database)

    @property
    def work(self) -> Path:
        return TMP / self.database

    def wanted(self, name: str) -> bool:
        return not self.only or name in self.only


def pg_url(host: str, port: int, database: str) -> str:
    """A socket directory goes in the URL's host percent-encoded (libpq reads it back as a path)."""
    return f"postgresql://{PG_USER}@{quote(host, safe='')}:{port}/{database}"


def pg_transport(host: str) -> str:
    return "Unix socket" if host.startswith("/") else "TCP"


# --- the database --------------------------------------------------------------------------------


def admin_connect() -> psycopg.Connection:
    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG_USER, dbname="postgres", autocommit=True)


def manage(cfg: Config, *args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    full_env = {**os.environ, **base_env(cfg), "APP_ENV": "development", **(env or {})}
    cmd = [sys.executable, str(ROOT / "manage.py"), *args]
    if capture:
        done = subprocess.run(cmd, env=full_env, check=True, capture_output=True, text=True)
        return done.stdout
    subprocess.run(cmd, env=full_env, check=True)
    return ""


def ensure_database(cfg: Config) -> dict[str, Any]:
    """Create and load the level's database when missing (or --reseed); its load report either way."""
    with admin_connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg.database]).fetchone()
        loaded = False
        if exists and not cfg.reseed:
            with psycopg.connect(cfg.url) as db:
                loaded = bool(
                    db.execute("SELECT to_regclass('bench.meta') IS NOT NULL").fetchone()[0]
                    and db.execute("SELECT 1 FROM bench.meta WHERE key = 'load'").fetchone()
                )
        if exists and not loaded:
            say(f"{cfg.database}: dropping it (reseed, or a load that did not finish)")
            conn.execute(f'DROP DATABASE "{cfg.database}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{cfg.database}"')
    if loaded:
        say(f"{cfg.database}: reusing the loaded book (--reseed to regenerate)")
        manage(cfg, "migrate", "--no-input", "-v", "0")
    else:
        manage(cfg, "migrate", "--no-input", "-v", "0")
        say(f"{cfg.database}: generating level {cfg.level} x {cfg.scale:g} with seed_data (this is the load timing)")
        started = time.perf_counter()
        out = manage(
            cfg,
            "seed_data",
            "--level",
            str(cfg.level),
            "--scale",
            f"{cfg.scale:g}",
            "--seed",
            str(cfg.seed),
            "--no-progress",
            # VACUUM, not only ANALYZE: the visibility map of a settled book (what autovacuum's insert
            # threshold keeps current) is what lets the transactions list's covering indexes skip the heap.
            "--vacuum",
            capture=True,
        )
        wall = time.perf_counter() - started
        print(out, flush=True)
        load = {
            "level": cfg.level,
            "scale": cfg.scale,
            "seed": cfg.seed,
            "wall_seconds": round(wall, 1),
            "phases": parse_load_phases(out),
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "as_of": datetime.now(ZONE).date().isoformat(),
            "report": out,
        }
        with psycopg.connect(cfg.url, autocommit=True) as db:
            db.execute("CREATE SCHEMA IF NOT EXISTS bench")
            db.execute("CREATE TABLE IF NOT EXISTS bench.meta (key text PRIMARY KEY, value jsonb NOT NULL)")
            db.execute(
                "INSERT INTO bench.meta VALUES ('load', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                [json.dumps(load)],
            )
    # Monthly partitions for this month and the next 12 (what the nightly upkeep does), so payments
    # made today land in their month whatever the day the book was generated.
    manage(cfg, "pgpartition", "--yes", "--skip-delete", capture=True)
    with psycopg.connect(cfg.url) as db:
        load = db.execute("SELECT value FROM bench.meta WHERE key = 'load'").fetchone()[0]
        size = db.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        rows = {}
        for table in ("identity_user", "credits_credit", "credits_installment", "ledger_transaction"):
            rows[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("ledger_posting", "payments_payment", "payments_line"):
            rows[table] = int(
                db.execute(
                    "SELECT coalesce(sum(c.reltuples), 0) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = %s::regclass",
                    [table],
                ).fetchone()[0]
                or db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            )
    return {"rows": rows, "size_gib": round(size / 2**30, 2), "load": {k: v for k, v in load.items() if k != "report"}}


def parse_load_phases(out: str) -> dict[str, float]:
    """seed_data's phase lines ("  book   72.2 s") into a dict."""
    phases: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == "s" and line.startswith("  "):
            with contextlib.suppress(ValueError):
                phases[" ".join(parts[:-2])] = float(parts[-2])
    return phases


# --- the server ----------------------------------------------------------------------------------


def keys() -> dict[str, str]:
    """The bench server's secrets, generated once per machine (never committed: results/tmp)."""
    path = TMP / "keys.json"
    if path.exists():
        return json.loads(path.read_text())
    TMP.mkdir(parents=True, exist_ok=True)
    data = {"SECRET_KEY": secrets.token_urlsafe(48), "JWT_SIGNING_KEY": secrets.token_urlsafe(48)}
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return data


def base_env(cfg: Config) -> dict[str, str]:
    """What every process of the run shares: the database, Redis databases of its own, the JWT key."""
    return {
        "DATABASE_URL": cfg.url,
        "REDIS_URL": f"{REDIS}/9",
        "CELERY_BROKER_URL": f"{REDIS}/8",
        "CACHE_KEY_PREFIX": f"bench-l{cfg.level}",
        "JWT_ACCESS_TTL_SECONDS": str(7 * 24 * 3600),
        **keys(),
    }


def server_env(cfg: Config, *, cold: bool = False, db_mode: str | None = None, threads: int | None = None) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DB_", "READ_CACHE", "DJANGO_"))},
        **base_env(cfg),
        "APP_ENV": "production",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "INFO",
        "PROMETHEUS_MULTIPROC_DIR": str(cfg.work / "prometheus"),
        # This checkout's code, not whatever the venv's editable install points at (a worktree of an
        # older commit benchmarks its own code with the main checkout's venv).
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    mode = db_mode or cfg.db_mode
    if mode == "pool":
        size = str(threads or cfg.blocking_threads)
        env.update({"DB_POOL_MAX_SIZE": size, "DB_POOL_MIN_SIZE": size})
    else:
        env["DB_CONN_MAX_AGE"] = "600"
    # A key space of its own per server start: the cached runs start empty (the warm-up fills them);
    # the cold runs can never hit what an earlier server stored.
    env["CACHE_KEY_PREFIX"] = f"bench-l{cfg.level}-{'cold' if cold else 'hot'}-{secrets.token_hex(4)}"
    if cold:
        env["READ_CACHE_TTL_SECONDS"] = "0"
    for setting in cfg.server_env:
        key, _, value = setting.partition("=")
        env[key] = value
    return env


class Server:
    def __init__(
        self, cfg: Config, env: dict[str, str], threads: int | None = None, cmd: list[str] | None = None
    ) -> None:
        """granian as the benchmark runs it, or `cmd` (bench/servers.py: another WSGI server)."""
        self.cfg = cfg
        prom = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True)
        self.metrics_dir = prom  # the workers' Prometheus values: read here, not through /metrics
        self.log = (cfg.work / "server.log").open("ab")
        cmd = cmd or [
            str(VENV_BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(cfg.port),
            "--workers",
            str(cfg.workers),
            "--blocking-threads",
            str(threads or cfg.blocking_threads),
            "--no-access-log",
            "config.wsgi:application",
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited with {self.proc.returncode}; see {cfg.work / 'server.log'}")
            with contextlib.suppress(OSError):
                if http_get(cfg.port, "/api/v1/ping")[0] == 200:
                    break
            time.sleep(0.3)
        else:
            self.stop()
            raise SystemExit(f"{cmd[0]} did not answer /api/v1/ping within 60 s")
        # Both workers import lazily on their first request: touch them a few times.
        for _ in range(20):
            http_get(cfg.port, "/api/v1/ping")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


# --- HTTP from the driver (set-up only; the load is wrk's) -----------------------------------------

_local_conns: dict[tuple[int, int], http.client.HTTPConnection] = {}


def _conn(port: int) -> http.client.HTTPConnection:
    import threading

    key = (port, threading.get_ident())
    if key not in _local_conns:
        _local_conns[key] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return _local_conns[key]


def http_call(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    for attempt in range(2):
        conn = _conn(port)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            break
        except (OSError, http.client.HTTPException):
            conn.close()
            import threading

            _local_conns.pop((port, threading.get_ident()), None)
            if attempt:
                raise
    payload = json.loads(raw) if raw and response.getheader("Content-Type", "").startswith("application/json") else raw
    return response.status, payload


def http_get(port: int, path: str, token: str | None = None) -> tuple[int, Any]:
    return http_call(port, "GET", path, token)


# --- users, tokens and pools ---------------------------------------------------------------------


def choose_users(cfg: Config, db: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(cfg.seed)
    clients = db.execute(
        "SELECT u.id, u.username, u.public_id FROM identity_user u WHERE u.role = 'client' "
        "AND u.username LIKE 'seed\\_%%' AND EXISTS (SELECT 1 FROM credits_credit c WHERE c.user_id = u.id) "
        "ORDER BY u.id"
    ).fetchall()
    agents = db.execute(
        "SELECT id, username, public_id FROM identity_user WHERE role = 'agent' AND username LIKE 'seed\\_%%' "
        "ORDER BY id"
    ).fetchall()
    admin = db.execute(
        "SELECT id, username, public_id FROM identity_user WHERE role = 'admin' AND username LIKE 'seed\\_%%' "
        "ORDER BY id LIMIT 1"
    ).fetchall()
    pick = lambda rows, n: sorted(rng.sample(rows, min(n, len(rows))))  # noqa: E731
    as_dicts = lambda rows: [{"id": r[0], "username": r[1], "public_id": str(r[2])} for r in rows]  # noqa: E731
    return {
        "clients": as_dicts(pick(clients, cfg.clients)),
        "agents": as_dicts(pick(agents, cfg.agents)),
        "admins": as_dicts(admin),
    }


def login_all(cfg: Config, db: psycopg.Connection, users: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Access tokens by username, through the real login; kept in results/tmp for the next runs on
    the same load and keys while they are valid for another day."""
    load_id = db.execute("SELECT value->>'loaded_at' FROM bench.meta WHERE key = 'load'").fetchone()[0]
    fingerprint = hashlib.sha256(f"{cfg.database}|{load_id}|{keys()['JWT_SIGNING_KEY']}".encode()).hexdigest()
    path = cfg.work / "tokens.json"
    cache: dict[str, Any] = {}
    if path.exists():
        cache = json.loads(path.read_text())
        if cache.get("fingerprint") != fingerprint or cache.get("valid_until", 0) < time.time() + 86400:
            cache = {}
    tokens: dict[str, str] = dict(cache.get("tokens", {}))
    wanted = [u["username"] for group in users.values() for u in group if u["username"] not in tokens]
    if wanted:
        say(f"logging in {len(wanted)} users (argon2 password checks in the app)")
        started = time.perf_counter()

        def login(username: str) -> tuple[str, str]:
            status, body = http_call(
                cfg.port, "POST", "/api/v1/auth/token", body={"username": username, "password": SEED_PASSWORD}
            )
            if status != 200:
                raise SystemExit(f"login of {username} answered {status}: {body}")
            return username, body["access_token"]

        with ThreadPoolExecutor(cfg.workers * 2) as pool:
            tokens.update(dict(pool.map(login, wanted)))
        seconds = time.perf_counter() - started
        say(f"  {len(wanted)} logins in {seconds:.1f} s ({len(wanted) / seconds:.1f}/s)")
        valid_until = time.time() + 7 * 24 * 3600 - 600
        if not cache:
            cache = {"fingerprint": fingerprint, "valid_until": valid_until}
        cache["tokens"] = tokens
        path.write_text(json.dumps(cache))
        path.chmod(0o600)
    return tokens


def decode_cursor(cursor: str) -> tuple[str, str]:
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    (tag1, created), (tag2, cid) = raw
    assert tag1 == "t" and tag2 == "u", raw
    return created, cid


def walk_deep(cfg: Config, token: str) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    """Follow next_cursor through the whole book as an admin (100 rows a page) for up to
    cfg.deep_seconds; the cursors of the last quarter of the pages walked are the deep ones."""
    started = time.perf_counter()
    cursors: list[str] = []
    cursor = None
    while time.perf_counter() - started < cfg.deep_seconds:
        path = "/api/v1/credits?limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, body = http_get(cfg.port, path, token)
        if status != 200:
            raise SystemExit(f"walking the credits list: {status} {body}")
        cursor = body["next_cursor"]
        if not cursor:
            break
        cursors.append(cursor)
    seconds = time.perf_counter() - started
    deep = cursors[len(cursors) * 3 // 4 :] or cursors[-1:]
    info = {
        "pages_walked": len(cursors),
        "rows_deep": len(cursors) * 100,
        "deep_pool_from_row": (len(cursors) - len(deep)) * 100,
        "reached_the_end": cursor is None,
        "seconds": round(seconds, 1),
    }
    return [(c, *decode_cursor(c)) for c in deep], info


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


def build_pools(
    cfg: Config, db: psycopg.Connection, users: dict[str, list[dict[str, Any]]], tokens: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Per endpoint: pick columns and rows (for pgbench), and request lines (for wrk)."""
    rng = random.Random(cfg.seed + 1)
    by_id = {u["id"]: tokens[u["username"]] for group in users.values() for u in group}
    client_ids = [u["id"] for u in users["clients"]]
    agent_ids = [u["id"] for u in users["agents"]]
    admin = users["admins"][0]
    pools: dict[str, dict[str, Any]] = {}

    def pool(name: str, columns: list[str], rows: list[tuple], lines: list[str]) -> None:
        pools[name] = {"columns": columns, "rows": rows, "lines": lines}

    def line(method: str, path: str, token: str | None, body: Any = None) -> str:
        return "\t".join([method, path, token or "-", json.dumps(body, separators=(",", ":")) if body else "-"])

    pool("noop", [], [], [line("GET", "/api/v1/ping", None)])
    pool(
        "summary_cached",
        ["user_id"],
        [(uid,) for uid in client_ids],
        [line("GET", "/api/v1/me/credit-summary", by_id[uid]) for uid in client_ids],
    )
    admin_token = tokens[admin["username"]]
    pool("credits_first", [], [], [line("GET", "/api/v1/credits", admin_token)])
    say("walking the credits list to deep pages (following next_cursor)")
    deep, deep_info = walk_deep(cfg, admin_token)
    pages, seconds, row = deep_info["pages_walked"], deep_info["seconds"], deep_info["deep_pool_from_row"]
    say(f"  {pages} pages in {seconds} s; deep pool from row {row:,}")
    pools["_deep_info"] = deep_info  # type: ignore[assignment]
    pool(
        "credits_deep",
        ["cur_created_at", "cur_id"],
        [(created, cid) for _, created, cid in deep],
        [line("GET", f"/api/v1/credits?cursor={c}", admin_token) for c, _, _ in deep],
    )
    own = db.execute(
        "SELECT id, user_id FROM credits_credit WHERE user_id = ANY(%s) ORDER BY id", [client_ids]
    ).fetchall()
    rng.shuffle(own)
    own = own[:5000]
    pool(
        "detail_cached",
        ["credit_id"],
        [(cid,) for cid, _ in own],
        [line("GET", f"/api/v1/credits/{cid}", by_id[uid]) for cid, uid in own],
    )
    pool(
        "credits_own",
        ["user_id"],
        [(uid,) for uid in client_ids],
        [line("GET", "/api/v1/credits", by_id[uid]) for uid in client_ids],
    )
    pool(
        "credits_agent",
        ["agent_id"],
        [(aid,) for aid in agent_ids],
        [line("GET", "/api/v1/credits", by_id[aid]) for aid in agent_ids],
    )
    months = db.execute(
        "SELECT DISTINCT agent_id, date_trunc('month', occurred_on)::date FROM ledger_transaction "
        "WHERE agent_id = ANY(%s) ORDER BY 1, 2",
        [agent_ids],
    ).fetchall()
    rng.shuffle(months)
    months = months[:3000]
    tx_rows = [(aid, *month_bounds(m)) for aid, m in months]
    pool(
        "transactions_month",
        ["agent_id", "d_from", "d_to"],
        tx_rows,
        [line("GET", f"/api/v1/transactions?from={f}&to={t}", by_id[aid]) for aid, f, t in tx_rows],
    )
    pool(
        "due_today",
        ["agent_id"],
        [(aid,) for aid in agent_ids],
        [line("GET", "/api/v1/collections/due-today", by_id[aid]) for aid in agent_ids],
    )
    accounts = db.execute(
        "SELECT id, kind FROM catalog_payment_account WHERE currency_id = 'COP' AND active ORDER BY id"
    ).fetchall()
    cash = next(a for a, k in accounts if k == "cash")
    bank = next(a for a, k in accounts if k == "bank")
    payable = db.execute(
        "SELECT c.id, c.agent_id FROM credits_credit c "
        "WHERE c.agent_id = ANY(%s) AND c.state IN ('active', 'defaulted') AND c.currency = 'COP' "
        "AND (SELECT sum(i.principal + i.adjustment + i.interest + i.late_fee - i.late_fee_waived - i.paid_principal "
        "     - i.paid_interest - i.paid_late_fee) FROM credits_installment i WHERE i.credit_id = c.id) >= 200000 "
        "ORDER BY c.id",
        [agent_ids],
    ).fetchall()
    rng.shuffle(payable)
    payable = payable[:3000]
    body = {
        "amount": {"amount": "100.00", "currency": "COP"},
        "lines": [
            {"payment_account_id": cash, "amount": {"amount": "60.00", "currency": "COP"}},
            {"payment_account_id": bank, "amount": {"amount": "40.00", "currency": "COP"}},
        ],
        "prepay": True,
    }
    pool(
        "payment",
        ["credit_id"],
        [(cid,) for cid, _ in payable],
        [line("POST", f"/api/v1/credits/{cid}/payments", by_id[aid], body) for cid, aid in payable],
    )
    pools["summary_cold"] = pools["summary_cached"]
    pools["detail_cold"] = pools["detail_cached"]
    mix: list[str] = []
    for name, weight in MIX:
        mix += rng.choices(pools[name]["lines"], k=weight * 200)
    rng.shuffle(mix)
    pool("mix", [], [], mix)
    return pools


def write_pools(cfg: Config, db: psycopg.Connection, pools: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """Request files for wrk and pick tables for pgbench (bench.pick_<endpoint>)."""
    files: dict[str, Path] = {}
    db.execute("CREATE SCHEMA IF NOT EXISTS bench")
    types = {
        "user_id": "bigint",
        "agent_id": "bigint",
        "credit_id": "uuid",
        "cur_created_at": "timestamptz",
        "cur_id": "uuid",
        "d_from": "date",
        "d_to": "date",
    }
    for name, p in pools.items():
        if name.startswith("_"):
            continue
        path = cfg.work / f"requests-{name}.txt"
        path.write_text("\n".join(p["lines"]) + "\n")
        files[name] = path
        db.execute(f"DROP TABLE IF EXISTS bench.pick_{name}")
        if p["columns"]:
            cols = ", ".join(f"{c} {types[c]} NOT NULL" for c in p["columns"])
            db.execute(f"CREATE TABLE bench.pick_{name} (n integer PRIMARY KEY, {cols})")
            with db.cursor().copy(f"COPY bench.pick_{name} (n, {', '.join(p['columns'])}) FROM STDIN") as copy:
                for n, row in enumerate(p["rows"], start=1):
                    copy.write_row((n, *row))
            db.execute(f"ANALYZE bench.pick_{name}")
    db.commit()
    return files


# --- capture, plans, pgbench ---------------------------------------------------------------------


def capture_spec(pools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One sample per endpoint (n = 1 of its pool; 32 for the payment's write replay)."""
    endpoints: dict[str, Any] = {}
    for name in PGBENCH:
        p = pools[name]
        samples = []
        for n, text in enumerate(p["lines"][: 32 if name == "payment" else 1], start=1):
            _, path, token, body = text.split("\t")
            samples.append(
                {"n": n, "path": path, "token": None if token == "-" else token, "body": None if body == "-" else body}
            )
        endpoints[name] = {
            "method": p["lines"][0].split("\t")[0],
            "pick_columns": p["columns"],
            "pool_size": len(p["rows"]),
            "samples": samples,
        }
    # pick-table names follow the endpoint; the cold runs use the cached pools' tables.
    return {"endpoints": endpoints}


def run_capture(cfg: Config, pools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec = capture_spec(pools)
    out = cfg.work / "capture"
    shutil.rmtree(out, ignore_errors=True)
    spec_path = cfg.work / "capture-spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {
        **os.environ,
        **base_env(cfg),
        "APP_ENV": "development",
        "CACHE_KEY_PREFIX": f"bench-capture-{secrets.token_hex(4)}",  # every read a miss
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, str(BENCH / "capture.py"), str(spec_path), str(out)], env=env, check=True)
    return json.loads((out / "capture.json").read_text())


def plans_markdown(cfg: Config, captured: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The full plans report, a short summary for the results, and the checks as data."""
    lines = [
        f"# Plans at level {cfg.level} (scale {cfg.scale:g}) — {datetime.now(ZONE).date().isoformat()}",
        "",
        "Each endpoint's statements as the app ran them for one sample request (captured by bench/capture.py), "
        "then `EXPLAIN (ANALYZE, BUFFERS)` on the same database. Checks: no sequential scan of a table over "
        "10,000 rows, no sort or hash spilling to disk, partitioned tables pruned to the months asked for. "
        "A write's statements are replayed in order in one transaction and rolled back.",
        "",
    ]
    summary = [
        "| endpoint | statements | execution ms (sum) | violations | warnings | partitions read |",
        "|---|---:|---:|---|---|---|",
    ]
    checks: dict[str, Any] = {}
    for name, entry in captured.items():
        plans = entry.get("plans", [])
        violations = [v for p in plans for v in p["check"]["violations"]]
        warnings = [w for p in plans for w in p["check"]["warnings"]]
        parts: dict[str, str] = {}
        for p in plans:
            for parent, pr in p["check"]["partitions"].items():
                parts[parent] = f"{parent} {pr['scanned']}/{pr['total']}"
        total_ms = sum(p["check"]["execution_ms"] or 0 for p in plans)
        checks[name] = {"violations": violations, "warnings": warnings, "statements": len(plans), "ms": total_ms}
        summary.append(
            f"| {report.LABELS.get(name, name)} | {len(plans)} | {total_ms:.2f} | {'; '.join(violations) or 'none'} "
            f"| {'; '.join(warnings) or 'none'} | {', '.join(parts.values()) or '-'} |"
        )
        lines += [f"## {report.LABELS.get(name, name)}", ""]
        for i, p in enumerate(plans, start=1):
            c = p["check"]
            verdict = "; ".join(c["violations"]) or "ok"
            lines += [
                f"### Statement {i}: {verdict}",
                "",
                f"Execution {c['execution_ms']:.3f} ms, planning {c['planning_ms']:.3f} ms; shared buffers hit "
                f"{c['shared_hit']}, read {c['shared_read']}; scans: {', '.join(c['scans']) or 'none'}."
                + (f" Warnings: {'; '.join(c['warnings'])}." if c["warnings"] else ""),
                "",
                "```sql",
                p["sql"][:3000],
                "```",
                "",
                "```",
                p["plan"],
                "```",
                "",
            ]
    table = "\n".join(summary)
    return "\n".join([*lines[:4], table, "", *lines[4:]]), table, checks


def run_pgbench(cfg: Config, scripts: list[str]) -> dict[str, Any]:
    cmd = ["pgbench", "-n", "-M", "simple", "-r", "-c", str(cfg.pgbench_clients), "-j", str(cfg.pgbench_threads)]
    cmd += ["-T", str(cfg.pgbench_seconds), "-h", PG["host"], "-p", str(PG["port"]), "-U", PG_USER]
    for script in scripts:
        cmd += ["-f", f"{script}@1"] if len(scripts) > 1 else ["-f", script]
    cmd.append(cfg.database)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    parsed = report.parse_pgbench(done.stdout)
    parsed["endpoint_tps"] = report.endpoint_tps(parsed) if len(scripts) == 1 else parsed["tps"]
    return parsed


# --- other processes' CPU ------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_snapshot() -> dict[int, tuple[int, str]]:
    """CPU ticks (user + system) and command line of every process."""
    out: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks = int(fields[11]) + int(fields[12])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry.name)] = (ticks, cmdline or stat[stat.index("(") + 1 : stat.rindex(")")])
    return out


def others_busy(before: dict[int, tuple[int, str]], after: dict[int, tuple[int, str]], seconds: float, ours) -> float:
    """Share of the machine's CPU (0..1) used between two snapshots by processes that are not the
    benchmark's (granian, wrk, pgbench, this driver, PostgreSQL serving the bench database)."""
    ticks = 0
    for pid, (t1, cmd) in after.items():
        t0 = before.get(pid, (0, ""))[0]  # a process started in between counts whole
        if ours(pid, cmd):
            continue
        ticks += max(0, t1 - t0)
    return round(ticks / _TICKS / seconds / (os.cpu_count() or 1), 3)


CPU_GROUPS = ("app", "postgres", "redis", "wrk", "other")


def cpu_group(cfg: Config, server_pids: set[int], pid: int, cmd: str) -> str:
    """Which process group a process's CPU is charged to. PostgreSQL: the backends serving the bench
    database and the server's own writers (WAL writer, background writer, checkpointer), which work
    for whoever writes."""
    if pid in server_pids or "granian" in cmd:
        return "app"
    if cmd.startswith("postgres") and (
        f" {cfg.database} " in cmd or any(aux in cmd for aux in ("walwriter", "background writer", "checkpointer"))
    ):
        return "postgres"
    if cmd.startswith("redis-server"):
        return "redis"
    if cmd.startswith("wrk "):
        return "wrk"
    return "other"


def cpu_by_group(
    cfg: Config, server_pids: set[int], before: dict[int, tuple[int, str]], after: dict[int, tuple[int, str]]
) -> dict[str, float]:
    """CPU seconds (user + system) each group used between two snapshots; a process that started in
    between counts whole, one that ended in between is lost (none of ours do during a run)."""
    ticks = dict.fromkeys(CPU_GROUPS, 0)
    for pid, (t1, cmd) in after.items():
        t0 = before.get(pid, (0, ""))[0]
        ticks[cpu_group(cfg, server_pids, pid, cmd)] += max(0, t1 - t0)
    return {group: round(n / _TICKS, 2) for group, n in ticks.items()}


def cpu_per_request(cpu_seconds: dict[str, float], requests: int) -> dict[str, float | None]:
    """CPU microseconds per request of each group: what a capacity plan is built on (it holds across
    machines far better than requests per second)."""
    if not requests:
        return dict.fromkeys(cpu_seconds)
    return {group: round(seconds * 1e6 / requests, 1) for group, seconds in cpu_seconds.items()}


def is_ours(cfg: Config, server_pids: set[int]) -> Any:
    me = os.getpid()

    def ours(pid: int, cmd: str) -> bool:
        return (
            pid == me
            or pid in server_pids
            or cmd.startswith(("wrk ", "pgbench ", "[kworker", "[ksoftirqd", "[rcu"))
            or f" {cfg.database} " in cmd
            or "granian" in cmd
            or cmd.startswith("redis-server")  # the app's cache (shared with others, but ours under load)
            or cmd.startswith("postgres: 15/main: walwriter")
            or cmd.startswith("postgres: 15/main: background writer")
            or cmd.startswith("postgres: 15/main: checkpointer")
        )

    return ours


def wait_quiet(cfg: Config, server_pids: set[int]) -> float:
    """Wait (up to cfg.quiet_wait seconds) until other processes use under cfg.quiet_share of the
    machine over two seconds; the share last seen."""
    deadline = time.time() + cfg.quiet_wait
    ours = is_ours(cfg, server_pids)
    waited = False
    while True:
        a = cpu_snapshot()
        time.sleep(2)
        busy = others_busy(a, cpu_snapshot(), 2.0, ours)
        if busy <= cfg.quiet_share or time.time() >= deadline:
            if waited:
                say(f"  other processes now use {busy:.0%} of the CPU")
            return busy
        if not waited:
            say(f"  other processes use {busy:.0%} of the CPU: waiting (up to {cfg.quiet_wait} s) for a quiet machine")
            waited = True
        time.sleep(8)


# --- wrk -----------------------------------------------------------------------------------------


def run_wrk(cfg: Config, name: str, path: Path, duration: int, server: Server | None = None) -> dict[str, Any]:
    nonce = f"{name}-{secrets.token_hex(4)}"
    cmd = ["wrk", "-t", str(cfg.wrk_threads), "-c", str(cfg.wrk_connections), "-d", f"{duration}s"]
    cmd += ["--timeout", "10s", "-s", str(BENCH / "lua" / "requests.lua"), f"http://127.0.0.1:{cfg.port}"]
    cmd += ["--", str(path), nonce]
    server_pids = {server.proc.pid, *server.worker_pids()} if server else set()
    busy_before = wait_quiet(cfg, server_pids) if server and cfg.quiet_wait else None
    load_before = round(os.getloadavg()[0], 2)
    lookups_before = read_cache_lookups(server.metrics_dir) if server else {}
    snap = cpu_snapshot()
    started = time.perf_counter()
    spy = None
    if server and cfg.profile == name:
        spy = start_profile(cfg, server, name, duration)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if spy:
        for proc in spy:
            proc.wait()
    if done.returncode != 0:
        raise SystemExit(f"wrk failed on {name}: {done.stderr or done.stdout}")
    parsed = report.parse_wrk(done.stdout)
    parsed["loadavg_before"] = load_before
    parsed["others_cpu_before"] = busy_before
    after = cpu_snapshot()
    parsed["others_cpu_during"] = others_busy(snap, after, time.perf_counter() - started, is_ours(cfg, server_pids))
    if server:
        server_pids |= {server.proc.pid, *server.worker_pids()}  # a worker restarted during the run
    parsed["cpu_s"] = cpu_by_group(cfg, server_pids, snap, after)
    parsed["cpu_us_per_request"] = cpu_per_request(parsed["cpu_s"], parsed["requests"])
    if server:
        parsed["read_cache"] = lookups_during(lookups_before, read_cache_lookups(server.metrics_dir))
    return parsed


def read_cache_lookups(metrics_dir: Path) -> dict[str, dict[str, float]]:
    """The server's read-cache lookups so far, {cache name: {outcome: count}}, from the files its
    workers write (prometheus_client's multiprocess mode): no request to the server is added to the
    run it measures."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    out: dict[str, dict[str, float]] = {}
    for family in registry.collect():
        if family.name == "read_cache_lookups":
            for sample in family.samples:
                if sample.name == "read_cache_lookups_total":
                    by_outcome = out.setdefault(sample.labels["name"], {})
                    outcome = sample.labels["outcome"]
                    by_outcome[outcome] = by_outcome.get(outcome, 0.0) + sample.value
    return out


def lookups_during(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Each cache's lookups during a run by outcome, and the share of them that hit. A lookup is
    counted once: a hit answered in front of Django counts there, anything else where the endpoint
    builds or serves it (hit, miss, or bypass while a lost version bump is owed)."""
    out: dict[str, Any] = {}
    for name, outcomes in after.items():
        counts = {k: v - before.get(name, {}).get(k, 0.0) for k, v in outcomes.items()}
        looked = sum(counts.values())
        if looked > 0:
            hit_share = round(counts.get("hit", 0.0) / looked, 4)
            out[name] = {**{k: int(v) for k, v in counts.items()}, "hit_share": hit_share}
    return out


def measure(cfg: Config, name: str, path: Path, server: Server) -> dict[str, Any]:
    """cfg.repeat runs of wrk; the median one by rps is reported (this VM's runs vary by ±20 %), with
    every run's rps and p99 kept next to it."""
    runs = [run_wrk(cfg, name, path, cfg.duration, server) for _ in range(cfg.repeat)]
    ranked = sorted(runs, key=lambda r: r["rps"])
    median = dict(ranked[len(ranked) // 2])
    median["runs_rps"] = [r["rps"] for r in runs]
    median["runs_p99"] = [r["latency_ms"]["p99"] for r in runs]
    # CPU per request is steadier than rps on a shared machine: each group's median over the runs.
    median["cpu_us_per_request"] = {group: _median_of(runs, group) for group in CPU_GROUPS}
    return median


def _median_of(runs: list[dict[str, Any]], group: str) -> float | None:
    values = [v for r in runs if (v := r["cpu_us_per_request"][group]) is not None]
    return statistics.median(values) if values else None


def summary_line(name: str, r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    cpu = r.get("cpu_us_per_request") or {}
    errors = r["non_2xx"] + r["socket_errors"]
    caches = sorted((r.get("read_cache") or {}).items())
    hits = "".join(f"  {cache} hits {100 * c['hit_share']:.0f} %" for cache, c in caches)
    return (
        f"{name:<20} {r['rps']:>8,.0f} rps  p50 {lat['p50']:6.2f}  p95 {lat['p95']:6.2f}  p99 {lat['p99']:6.2f} ms  "
        f"errors {errors}  CPU/req app {_us(cpu.get('app'))}  PG {_us(cpu.get('postgres'))}{hits}"
    )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} µs"


def start_profile(cfg: Config, server: Server, name: str, duration: int) -> list[subprocess.Popen]:
    """py-spy record on each granian worker for the run: collapsed stacks (`--format raw`, one line per
    stack and its count) in results/tmp, only samples holding the GIL (the worker's own CPU)."""
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    procs = []
    for pid in server.worker_pids():
        out = cfg.work / f"profile-{name}-{pid}.txt"
        cmd = [spy, "record", "--pid", str(pid), "--duration", str(max(1, duration - 2)), "--rate", "250"]
        cmd += ["--output", str(out), "--format", "raw", "--gil"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def warm_caches(cfg: Config, pools: dict[str, dict[str, Any]]) -> None:
    """Every summary and credit detail of the pools read once, so the cached runs are hits."""
    lines = pools["summary_cached"]["lines"] + pools["detail_cached"]["lines"]

    def get(text: str) -> int:
        _, path, token, _ = text.split("\t")
        return http_get(cfg.port, path, token)[0]

    with ThreadPoolExecutor(cfg.workers * 2) as pool:
        statuses = list(pool.map(get, lines))
    bad = [s for s in statuses if s != 200]
    if bad:
        raise SystemExit(f"warming the caches: {len(bad)} answers were not 200 ({bad[:5]})")


# --- batch jobs ----------------------------------------------------------------------------------


def run_batch(cfg: Config) -> dict[str, Any]:
    """The nightly delinquency job and the portfolio analysis over the whole book, through their
    management command / job runner, timed from the outside."""
    out: dict[str, Any] = {}
    commands = manage(cfg, "help", "--commands", capture=True).split()
    if "nightly" in commands:
        say("batch: manage.py nightly (the whole book)")
        started = time.perf_counter()
        try:
            text = manage(cfg, "nightly", capture=True)
            seconds = time.perf_counter() - started
            out["nightly delinquency"] = {"seconds": round(seconds, 1), "note": _nightly_note(text)}
        except subprocess.CalledProcessError as exc:
            out["nightly delinquency"] = {"seconds": None, "note": f"failed: {(exc.stderr or '')[-300:]}"}
    else:
        out["nightly delinquency"] = {"seconds": None, "note": "`manage.py nightly` is not there yet"}
    say("batch: portfolio analysis (the whole book)")
    started = time.perf_counter()
    try:
        text = subprocess.run(
            [sys.executable, str(BENCH / "batch.py"), "portfolio-analysis"],
            env={**os.environ, **base_env(cfg), "APP_ENV": "development", "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seconds = time.perf_counter() - started
        info = json.loads(text.strip().splitlines()[-1])
        out["portfolio analysis"] = {
            "seconds": round(seconds, 1),
            "job_seconds": info.get("seconds"),
            "note": info.get("note", ""),
        }
    except (subprocess.CalledProcessError, ValueError, IndexError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        out["portfolio analysis"] = {"seconds": None, "note": f"not run: {detail[-300:]}"}
    return out


def _nightly_note(text: str) -> str:
    with contextlib.suppress(ValueError):
        data = json.loads(text[text.index("{") :])
        keys_ = ("credits", "processed", "late_fees", "defaulted", "cured", "chunks")
        picked = {k: v for k, v in data.items() if k in keys_ or k.endswith("_count")}
        return ", ".join(f"{k} {v}" for k, v in picked.items()) or "see the JSON result"
    return text.strip()[-200:]


# --- machine -------------------------------------------------------------------------------------


def machine_info(cfg: Config) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    with psycopg.connect(cfg.url) as db:
        pg = db.execute("SHOW server_version").fetchone()[0]
        pg_settings = {
            name: db.execute(f"SHOW {name}").fetchone()[0]
            for name in ("shared_buffers", "work_mem", "effective_cache_size", "max_connections", "synchronous_commit")
        }
    versions = {}
    for module in ("django", "ninja", "granian", "psycopg"):
        with contextlib.suppress(Exception):
            versions[module] = subprocess.run(
                [sys.executable, "-c", f"import {module}; print({module}.__version__)"], capture_output=True, text=True
            ).stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": pg,
        "postgres_settings": pg_settings,
        "versions": versions,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?",
        "loadavg_before": round(os.getloadavg()[0], 2),
    }


def ensure_tools() -> None:
    if shutil.which("wrk") is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            say("installing wrk from Debian's packages")
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        else:
            raise SystemExit("wrk is missing: sudo apt-get install -y wrk")
    for tool in ("pgbench", "pgrep"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (postgresql-client / procps)")


# --- connection modes ----------------------------------------------------------------------------


def compare_connections(cfg: Config, files: dict[str, Path]) -> list[dict[str, Any]]:
    """Persistent connections (CONN_MAX_AGE) against Django's psycopg pool, 1 and 2 blocking threads,
    on database-bound endpoints (cold reads: every request runs its SQL)."""
    rows = []
    for mode in ("persistent", "pool"):
        for threads in (1, 2):
            say(f"connections: {mode}, {threads} blocking thread(s)")
            server = Server(cfg, server_env(cfg, cold=True, db_mode=mode, threads=threads), threads=threads)
            try:
                run_wrk(cfg, "warm", files["mix"], 5)
                for name in ("summary_cold", "credits_first", "due_today"):
                    r = run_wrk(cfg, name, files[name], max(8, cfg.duration // 2))
                    rows.append({"mode": mode, "threads": threads, "endpoint": name, **r})
                    say(f"  {name}: {r['rps']:,.0f} rps, p50 {r['latency_ms']['p50']:.2f} ms")
            finally:
                server.stop()
    return rows


# --- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    ensure_tools()
    cfg.work.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    book = ensure_database(cfg)
    say(f"book: {book['rows']}, {book['size_gib']} GiB")
    if cfg.load_only:
        return 0
    result: dict[str, Any] = {
        "level": cfg.level,
        "scale": cfg.scale,
        "date": datetime.now(ZONE).date().isoformat(),
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine_info(cfg),
        "settings": {
            **{k: v for k, v in asdict(cfg).items() if k not in {"only", "reseed", "profile"}},
            "db_connections": f"persistent connections (CONN_MAX_AGE=600) over {pg_transport(PG['host'])}"
            if cfg.db_mode == "persistent"
            else f"Django's psycopg pool of {cfg.blocking_threads}",
            "duration": cfg.duration,
        },
        "book": book,
        "endpoints": {},
        "db_ceilings": {},
        "notes": [],
    }
    if result["machine"]["loadavg_before"] > 1.0:
        result["notes"].append(
            f"The machine was not idle when the run started (load average {result['machine']['loadavg_before']}); "
            "figures are lower than on a quiet machine."
        )
    server = Server(cfg, server_env(cfg))
    try:
        with psycopg.connect(cfg.url) as db:
            users = choose_users(cfg, db)
            tokens = login_all(cfg, db, users)
            pools = build_pools(cfg, db, users, tokens)
            result["deep"] = pools.pop("_deep_info")  # type: ignore[arg-type]
            files = write_pools(cfg, db, pools)
        result["pools"] = {name: len(p["lines"]) for name, p in pools.items()}
        say("capturing each endpoint's SQL and explaining it")
        captured = run_capture(cfg, pools)
        plans_md, plans_table, checks = plans_markdown(cfg, captured)
        result["plans"] = checks
        result["plans_summary"] = plans_table
        say("warm-up: the caches of the pools, then the mix")
        warm_caches(cfg, pools)
        run_wrk(cfg, "warmup", files["mix"], cfg.warmup)
        for name in HOT:
            if not cfg.wanted(name):
                continue
            r = measure(cfg, name, files[name], server)
            result["endpoints"][name] = r
            say(summary_line(name, r))
    finally:
        server.stop()
    if any(cfg.wanted(n) for n in COLD):
        say("cold reads: the server again, its read cache keeping nothing (READ_CACHE_TTL_SECONDS=0)")
        server = Server(cfg, server_env(cfg, cold=True))
        try:
            run_wrk(cfg, "warmup", files["mix"], max(3, cfg.warmup // 2))
            for name in COLD:
                if not cfg.wanted(name):
                    continue
                r = measure(cfg, name, files[name], server)
                result["endpoints"][name] = r
                say(summary_line(name, r))
        finally:
            server.stop()
    if not cfg.skip_pgbench:
        for name in PGBENCH:
            if not cfg.wanted(name) and not (name == "summary_cold" and cfg.wanted("summary_cached")):
                continue
            scripts = captured[name]["pgbench_scripts"]
            r = run_pgbench(cfg, scripts)
            result["db_ceilings"][name] = r
            if "error" in r:
                say(f"pgbench {name}: failed: {r['error'][-300:]}")
                continue
            say(f"pgbench {name:<20} {r['tps']:>8,.0f} tps ({r['endpoint_tps']:,.0f} without the pick)")
        # The cached runs' pools are the cold runs' (same users and credits).
        for cold, hot in (("summary_cold", "summary_cached"), ("detail_cold", "detail_cached")):
            if cold in result["db_ceilings"]:
                result["db_ceilings"].setdefault(hot, {"endpoint_tps": None, "note": "no SQL on a hit"})
    if cfg.compare_conn:
        result["connection_modes"] = compare_connections(cfg, files)
    if not cfg.skip_batch:
        result["batch"] = {
            "data load (seed_data)": {
                "seconds": book["load"].get("wall_seconds"),
                "note": ", ".join(f"{k} {v:.0f} s" for k, v in book["load"].get("phases", {}).items() if k != "total"),
            },
            **run_batch(cfg),
        }
    for name, r in result["endpoints"].items():
        errors = r["non_2xx"] + r["socket_errors"]
        if errors > 0.001 * max(1, r["requests"]):
            result["notes"].append(f"{name}: {errors} of {r['requests']} requests failed (non-2xx or socket errors).")
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_results(cfg, result, plans_md)
    return 0


def write_results(cfg: Config, result: dict[str, Any], plans_md: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = report.result_name(result["date"], cfg.level, cfg.scale)
    if cfg.partial:  # kept aside: the day's files and BENCHMARKS.md hold whole runs at default settings
        TMP.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%H%M%S")
        path = TMP / f"{name}-partial-{stamp}.json"
        result["server_env"] = cfg.server_env
        path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        say(f"partial run (--only / --server-env): results in {path}, the day's files untouched")
        print()
        print(report.markdown_table(result))
        return
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (RESULTS / f"{name}.md").write_text(report.results_markdown(result))
    (RESULTS / f"{name}-plans.md").write_text(plans_md)
    latest = report.latest_per_level(sorted(RESULTS.glob("*-level*.json")))
    png = report.plot_levels(latest, RESULTS / "latency-by-level.png")
    say(f"results: {RESULTS / (name + '.json')}, .md, -plans.md" + (f"; plot {png}" if png else ""))
    if report.update_benchmarks_md(ROOT / "BENCHMARKS.md", latest):
        say("BENCHMARKS.md: latest tables updated")
    print()
    print(report.markdown_table(result))
    if len(latest) > 1:
        print()
        print(report.compare_levels_table(latest))


def parse_args(argv: list[str] | None) -> Config:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--level", type=int, choices=[1, 2, 3], required=True)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the level's volumes (own database)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--reseed", action="store_true", help="drop and regenerate the level's database")
    p.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    p.add_argument("--repeat", type=int, default=3, help="wrk runs per endpoint (the median is reported)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="granian workers (default: cores)")
    p.add_argument("--blocking-threads", type=int, default=1)
    p.add_argument("--db-mode", choices=["persistent", "pool"], default="persistent")
    p.add_argument("--pgbench-clients", type=int, default=4)
    p.add_argument("--pgbench-seconds", type=int, default=10)
    p.add_argument("--clients", type=int, default=300, help="clients logged in")
    p.add_argument("--agents", type=int, default=100, help="agents logged in")
    p.add_argument("--deep-seconds", type=float, default=60.0, help="time spent following next_cursor")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--compare-conn", action="store_true", help="also measure CONN_MAX_AGE vs the pool")
    p.add_argument("--only", nargs="*", default=[], help="only these endpoints")
    p.add_argument("--skip-batch", action="store_true")
    p.add_argument("--skip-pgbench", action="store_true")
    p.add_argument("--profile", default="", help="py-spy record the granian workers during this endpoint")
    p.add_argument("--load-only", action="store_true", help="only make sure the level's database is loaded")
    p.add_argument("--quiet-wait", type=int, default=600, help="max seconds to wait for a quiet machine per run")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the app server for this run (repeatable), e.g. LOG_LEVEL=WARNING; with --only, "
        "the run is partial: results go to bench/results/tmp, not the day's files",
    )
    a = p.parse_args(argv)
    if bad := [s for s in a.server_env if "=" not in s]:
        p.error(f"--server-env takes KEY=VALUE, got {bad}")
    return Config(
        level=a.level,
        scale=a.scale,
        seed=a.seed,
        reseed=a.reseed,
        duration=a.duration,
        repeat=a.repeat,
        warmup=a.warmup,
        wrk_threads=a.threads,
        wrk_connections=a.connections,
        workers=a.workers,
        blocking_threads=a.blocking_threads,
        db_mode=a.db_mode,
        pgbench_clients=a.pgbench_clients,
        pgbench_seconds=a.pgbench_seconds,
        clients=a.clients,
        agents=a.agents,
        deep_seconds=a.deep_seconds,
        port=a.port,
        compare_conn=a.compare_conn,
        only=a.only,
        skip_batch=a.skip_batch,
        skip_pgbench=a.skip_pgbench,
        profile=a.profile,
        quiet_wait=a.quiet_wait,
        load_only=a.load_only,
        server_env=a.server_env,
    )


if __name__ == "__main__":
    sys.exit(main())
