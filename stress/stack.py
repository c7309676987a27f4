"""A whole stack of its own for `python -m stress`: PostgreSQL primary + streaming replica, Redis, the
app under granian, a Celery worker; every one on free ports, data in a temporary folder, all torn
down at the end even on failure. Nothing here touches the machine's shared PostgreSQL or Redis.

The app runs in production mode (APP_ENV=production, DEBUG off, keys generated per run): what a
real deployment serves, error pages included. `load_demo` refuses production, so the demo book is
loaded by a development-mode management command against the same database first; the demo
password is not refused at login in production (it is only ever printed by `load_demo`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.integration.replica_harness import ReplicaHarness, free_port  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SERVICES = ("redis", "replica", "primary", "worker", "app")
# Appended after the harness's own settings (later lines win): room for the app's threads, the
# worker, the checks; autovacuum back on, as in production.
_EXTRA_SETTINGS = """
# --- stress stack ---
max_connections = 120
autovacuum = on
"""


def say(message: str) -> None:
    print(f"[stress {time.strftime('%H:%M:%S')}] {message}", flush=True)


class StressHarness(ReplicaHarness):
    """The replica-test harness with a few production-like settings on top."""

    def start(self) -> None:  # the parent's, with _EXTRA_SETTINGS before the first start
        self._run("initdb", "-D", self.primary.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        from tests.integration.replica_harness import _SERVER_SETTINGS

        with open(Path(self.primary.data) / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(_SERVER_SETTINGS + _EXTRA_SETTINGS)
        self.start_node(self.primary)
        with self.primary.connect("postgres") as conn:
            conn.execute("CREATE DATABASE fintech_replica_test")
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres"),
            *("-D", self.replica.data, "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        self.start_node(self.replica)
        self.wait_streaming()


class CutProxy:
    """A TCP proxy the app reaches Redis through, so a scenario can cut the link without touching
    Redis: `cut()` black-holes every byte both ways (a network partition: commands sent meanwhile
    are lost, not delayed, and Redis keeps its data); `heal()` forwards again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.open = threading.Event()
        self.open.set()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="cut-proxy").start()

    def cut(self) -> None:
        self.open.clear()

    def heal(self) -> None:
        self.open.set()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # an idle pooled connection must stay open, as a direct one does
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.open.is_set():
                    sink.sendall(data)  # else dropped on the floor, like a lost packet that never arrives
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()


class Stack:
    """Implements stress.core.StackControl over its own services."""

    def __init__(
        self, *, web_workers: int = 2, blocking_threads: int = 8, worker_concurrency: int = 2, with_worker: bool = True
    ) -> None:
        self.with_worker = with_worker
        self.web_workers = web_workers
        self.blocking_threads = blocking_threads
        self.worker_concurrency = worker_concurrency
        self.pg = StressHarness.create()
        self.dir = Path(self.pg.run_dir)
        self.redis_port = free_port()
        self.redis_link = CutProxy(self.redis_port)  # the app's cache goes through it; the broker does not
        self.app_port = free_port()
        self.redis: subprocess.Popen | None = None
        self.app: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self._logs: list[IO[bytes]] = []
        self.keys = {"SECRET_KEY": secrets.token_urlsafe(48), "JWT_SIGNING_KEY": secrets.token_urlsafe(48)}

    # --- addresses -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    @property
    def database_url(self) -> str:
        return self.pg.primary.url

    def env(self, *, production: bool = True) -> dict[str, str]:
        """The environment of every process of the stack (the app, the worker, manage.py)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "READ_", "REDIS", "CELERY", "JWT"))}
        base.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
                "APP_ENV": "production" if production else "development",
                "DEBUG": "0",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.pg.primary.url,
                "DATABASE_REPLICA_URLS": self.pg.replica.url,
                "DB_CONN_MAX_AGE": "60",
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_link.port}/1",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                # A killed worker's message comes back after this many seconds (see faults.py).
                "CELERY_VISIBILITY_TIMEOUT_SECONDS": "8",
                # Small chunks with a pause: the portfolio analysis lasts long enough to be killed mid-run.
                "JOBS_CHUNK_SIZE": "3",
                "JOBS_CHUNK_PAUSE_MS": "250",
                "PROMETHEUS_MULTIPROC_DIR": str(self.dir / "prometheus"),
                "LOG_LEVEL": "WARNING",
                **self.keys,
            }
        )
        return base

    # --- lifecycle -------------------------------------------------------------------------------
    def up(self) -> None:
        say(f"PostgreSQL primary :{self.pg.primary.port} + streaming replica :{self.pg.replica.port} in {self.dir}")
        self.pg.start()
        (self.dir / "prometheus").mkdir(exist_ok=True)
        self.start("redis")
        say("migrate, partitions, static files, demo book")
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("pgpartition", "--yes", "--skip-delete")
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            self.manage("collectstatic", "--no-input", "-v", "0")
        self.manage("load_demo", production=False)
        self.pg.wait_streaming()
        if self.with_worker:
            self.start("worker")
        self.start("app")
        say(f"app on {self.base_url} ({self.web_workers} granian workers x {self.blocking_threads} threads)")

    def down(self) -> None:
        for service in ("app", "worker", "redis"):
            with contextlib.suppress(Exception):
                self.stop(service)
        for log in self._logs:
            with contextlib.suppress(Exception):
                log.close()
        self.redis_link.close()
        # The services' logs outlive the run (git-ignored), for whoever reads a failed report.
        keep = ROOT / ".data" / "stress-logs"
        with contextlib.suppress(OSError):
            keep.mkdir(parents=True, exist_ok=True)
            for log in self.dir.glob("*.log"):
                shutil.copy(log, keep / log.name)
        with contextlib.suppress(Exception):
            self.pg.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def manage(self, *args: str, production: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # noqa: S603
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env(production=production),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0 and not capture:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    # --- StackControl ----------------------------------------------------------------------------
    def start(self, service: str) -> None:
        if service == "redis":
            self.redis = self._spawn(
                "redis",
                ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.dir)],
            )  # fmt: skip
            self._wait(lambda: _redis_ping(self.redis_port), "redis", self.redis)
        elif service == "replica":
            self.pg.start_node(self.pg.replica)
        elif service == "primary":
            self.pg.start_node(self.pg.primary)
        elif service == "worker":
            self.worker = self._spawn(
                "worker",
                [str(VENV_BIN / "celery"), "-A", "config.celery_app", "worker", "--pool=prefork",
                 f"--concurrency={self.worker_concurrency}", "--loglevel=INFO", "-n", f"stress-{time.time_ns()}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
            )  # fmt: skip
            log = self.dir / "worker.log"
            self._wait(lambda: "ready." in log.read_text(errors="replace")[-200000:], "worker", self.worker, 60)
        elif service == "app":
            self.app = self._spawn(
                "app",
                [str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(self.app_port),
                 "--workers", str(self.web_workers), "--blocking-threads", str(self.blocking_threads),
                 "--workers-kill-timeout", "10", "--no-access-log", "config.wsgi:application"],
            )  # fmt: skip
            self._wait(lambda: _http_ok(f"{self.base_url}/api/v1/ping"), "app", self.app, 60)
            for _ in range(10):  # both workers import lazily on their first request
                _http_ok(f"{self.base_url}/api/v1/ping")
        else:
            raise ValueError(f"unknown service {service!r}; one of {SERVICES}")

    def stop(self, service: str) -> None:
        if service in ("replica", "primary"):
            # Immediate: what a crash or a lost host looks like to the app (no goodbye to clients).
            self.pg.stop_node(self.pg.replica if service == "replica" else self.pg.primary, mode="immediate")
            return
        proc = self._proc(service)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill(service)

    def kill(self, service: str) -> None:
        if service in ("replica", "primary"):
            node = self.pg.replica if service == "replica" else self.pg.primary
            pidfile = Path(node.data) / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGKILL)
            time.sleep(0.5)
            return
        proc = self._proc(service)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the process group: a worker's pool children too
        proc.wait(10)

    def cut(self, service: str) -> None:
        """A partition between the app and its cache ("redis" only): Redis stays up with its data."""
        if service != "redis":
            raise ValueError("only the app's link to redis can be cut")
        self.redis_link.cut()

    def heal_link(self, service: str) -> None:
        if service == "redis":
            self.redis_link.heal()

    def pause(self, service: str) -> None:
        """SIGSTOP: the service keeps its state but answers nothing (a network partition, a stall)."""
        proc = self._proc(service)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGSTOP)

    def resume(self, service: str) -> None:
        proc = self._proc(service)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGCONT)

    def running(self, service: str) -> bool:
        if service in ("replica", "primary"):
            node = self.pg.replica if service == "replica" else self.pg.primary
            status = self.pg._run("pg_ctl", "-D", node.data, "status", check=False)
            return status.returncode == 0
        proc = self._proc(service)
        return proc is not None and proc.poll() is None

    def heal(self) -> list[str]:
        """Start whatever a scenario left stopped (a fault scenario that broke off halfway)."""
        healed = []
        self.redis_link.heal()
        for service in ("primary", "replica", "redis", "worker", "app"):
            if service == "worker" and not self.with_worker:
                continue
            if service in ("redis", "worker", "app"):
                self.resume(service)  # a paused one counts as running
            if not self.running(service):
                proc = self._proc(service) if service in ("redis", "worker", "app") else None
                self.start(service)
                healed.append(service if proc is None else f"{service} (it had exited with {proc.returncode})")
        return healed

    def reset_throttles(self) -> int:
        """Clear the login throttle's counters: every scenario logs in from 127.0.0.1, and one that
        brute-forces a login must not lock the next ones out. Nothing else in the cache is touched."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.redis_port, db=1, socket_timeout=2)
        keys = list(client.scan_iter(match="*login:*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)

    def describe(self) -> list[str]:
        return [
            f"- PostgreSQL primary and a streaming replica (`pg_basebackup -R`), binaries from {self.pg.bindir}; "
            "fsync off, data in a temporary folder deleted at the end",
            "- Redis (`redis-server`, no persistence): the cache (db 1, reached through a TCP proxy that a "
            "scenario can cut) and the Celery broker (db 0)",
            f"- the app under granian (WSGI), {self.web_workers} workers x {self.blocking_threads} blocking threads, "
            "persistent connections (`DB_CONN_MAX_AGE=60`, health-checked), primary + replica "
            "(`DATABASE_REPLICA_URLS`), **APP_ENV=production** (DEBUG off, keys generated per run)",
            f"- a Celery worker (prefork, concurrency {self.worker_concurrency}), visibility timeout 8 s, "
            "analysis chunks of 3 credits with a 250 ms pause (so a run can be killed halfway)",
            "- the demo book (`manage.py load_demo`, run in development mode because it refuses production; "
            "the demo users log in to the production-mode app with their password)",
        ]

    def log_path(self, service: str) -> Path:
        return self.dir / f"{service}.log"

    # --- helpers ---------------------------------------------------------------------------------
    def _proc(self, service: str) -> subprocess.Popen | None:
        if service not in ("redis", "app", "worker"):
            raise ValueError(f"unknown service {service!r}; one of {SERVICES}")
        return getattr(self, service)

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = self.log_path(name).open("ab")
        self._logs.append(log)
        env = self.env()
        if name == "worker":
            env["LOG_LEVEL"] = "INFO"  # a job's start and end lines: faults.py counts them
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)  # noqa: S603

    def _wait(self, ready: object, name: str, proc: subprocess.Popen, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception):
                if ready():  # type: ignore[operator]
                    return
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path(name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)


def _redis_ping(port: int) -> bool:
    import redis

    return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own http:// URL
        return response.status == 200
