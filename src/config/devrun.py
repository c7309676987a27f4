"""`make run`: the API and everything it needs, on one screen.

PostgreSQL: DATABASE_URL, else an embedded server in .data/pg. Redis: REDIS_URL, else 127.0.0.1:6379
when it answers, else none (a local-memory cache, jobs run in-process). Then migrations, partitions,
static files and the demo data, and the processes: granian (WEB_WORKERS, default 2) and, with Redis,
a Celery worker and Celery beat. They run supervised together: Ctrl-C, SIGTERM or SIGHUP stops them
all, and so does any one of them exiting; if this process is killed outright, the kernel sends them
SIGTERM, and an orphan guard (config/orphan_guard.py) SIGKILLs what is still there after the grace.
Each one's output goes to RUN_DIR (.data/make-run/); warnings and errors also show here.

Every process this starts decides nothing again: the Redis found (or `none`) and the database URL
are handed down, so the terminal shows each fallback once. With more than one process writing
metrics, they share a Prometheus multiprocess directory made fresh for this run, so /metrics adds
up every worker instead of answering for whichever one took the scrape.

`--no-setup` skips the database steps (a quicker restart on a prepared database).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from config.embedded import DEFAULT_DATA_DIR, PROJECT_ROOT, embedded_database_url
from config.env import redis_answers

LOCAL_REDIS = "redis://127.0.0.1:6379"
CACHE_DB = 1  # the cache's db on a Redis found on the default port (settings put the broker on db 0)
STOP_GRACE_SECONDS = 15.0  # a Celery worker finishes its running task before it exits
_NOTEWORTHY = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|^Traceback")


def say(line: str = "") -> None:
    print(line, flush=True)


def choose_redis(env: dict[str, str], local: str = LOCAL_REDIS) -> tuple[bool, str | None]:
    """(Redis in use, the fallback line to show or None). Sets REDIS_URL in `env` for the children:
    the Redis found, or `none` so that none of them looks again (and warns again)."""
    if env.get("REDIS_URLS") or (env.get("REDIS_URL") and env["REDIS_URL"].lower() != "none"):
        return True, None
    if env.get("REDIS_URL", "").lower() != "none" and redis_answers(local):
        env["REDIS_URL"] = f"{local}/{CACHE_DB}"
        return True, None
    why = "REDIS_URL=none" if env.get("REDIS_URL") else f"nothing answers on {urlparse(local).netloc}"
    env["REDIS_URL"] = "none"
    return False, f"Redis: none ({why}): a local-memory cache, and background jobs run in-process."


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def fresh_metrics_dir(run_dir: Path) -> Path:
    """This run's Prometheus multiprocess directory, empty; those of runs that are gone are removed."""
    for old in run_dir.glob("prometheus-*"):
        pid = old.name.removeprefix("prometheus-")
        if not pid.isdigit() or int(pid) == os.getpid() or not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = run_dir / f"prometheus-{os.getpid()}"
    path.mkdir(parents=True)
    return path


def prepare() -> str:
    """Migrations, partitions, static files and demo data in this process (one Django start instead
    of four); their output is kept out of sight unless a step fails. Returns the demo logins."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    logins = io.StringIO()
    for step, args, out in (
        ("migrate", ["--no-input"], None),
        # Monthly partitions for this month and 12 ahead (what the nightly upkeep keeps doing).
        ("pgpartition", ["--yes", "--skip-delete"], None),
        ("collectstatic", ["--no-input"], None),
        ("load_demo", [], logins),
    ):
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                call_command(step, *args, stdout=out or quiet, stderr=quiet, verbosity=0 if out is None else 1)
        except Exception:
            say(quiet.getvalue())
            raise
    connections.close_all()
    return logins.getvalue().rstrip()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent (this supervisor) dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Service:
    """One supervised process in its own session (the terminal's Ctrl-C reaches only the supervisor,
    which stops everything in order); its output to a log file, warnings and errors also to ours."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own argv
            self.argv,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        threading.Thread(target=self._copy_output, name=f"{self.name}-output", daemon=True).start()

    def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log.open("wb") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode(errors="replace").rstrip()
                if _NOTEWORTHY.search(line):
                    say(f"{self.name}: {line[:400]}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.running():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)  # the leader stops its own workers in order

    def finish(self, deadline: float) -> None:
        """Wait for the leader until `deadline`, then kill whatever is left in its process group."""
        if self.proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers: workers whose leader is gone
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def services(run_dir: Path, host: str, port: str, *, jobs: bool) -> list[Service]:
    web = Service(
        "web",
        _python(
            "granian",
            "--interface",
            "wsgi",
            "--host",
            host,
            "--port",
            port,
            "--workers",
            os.environ.get("WEB_WORKERS", "2"),
            # Each blocking thread holds its own DB connection; 1-2 per worker avoids "too many clients".
            "--blocking-threads",
            os.environ.get("WEB_BLOCKING_THREADS", "1"),
            # A SIGTERM that reaches a worker still loading the app is lost (granian 2.8): without a
            # kill timeout the server then waits for that worker forever when it is told to stop.
            "--workers-kill-timeout",
            "10",
            "config.wsgi:application",
        ),
        run_dir / "web.log",
    )
    if not jobs:
        return [web]
    celery = ["celery", "-A", "config.celery_app"]
    worker = Service(
        "worker",
        _python(*celery, "worker", "--loglevel", "INFO", "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2"),
                "--without-gossip", "--without-mingle"),
        run_dir / "worker.log",
    )  # fmt: skip
    beat = Service(
        "beat",
        _python(*celery, "beat", "--loglevel", "INFO", "--schedule", str(run_dir / "celerybeat-schedule")),
        run_dir / "beat.log",
    )
    return [web, worker, beat]


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own server
            return bool(response.status == 200)
    except OSError:
        return False


def start_orphan_guard(procs: list[Service], env: dict[str, str], grace: float) -> subprocess.Popen[bytes]:
    """config/orphan_guard.py, watching the process groups of `procs`: it acts once this process is
    gone, whichever way it went, and the pipe it reads is how it knows."""
    groups = [str(p.proc.pid) for p in procs if p.proc is not None]  # each one leads its own session
    return subprocess.Popen(  # noqa: S603 - our own argv
        _python("config.orphan_guard", f"{grace:g}", *groups),
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        start_new_session=True,
    )


def supervise(
    procs: list[Service],
    env: dict[str, str],
    ready: Callable[[], bool],
    on_ready: Callable[[], None],
    grace: float = STOP_GRACE_SECONDS,
) -> int:
    """Start `procs`; once `ready()`, call `on_ready()`; on a signal or any one exiting, stop them all,
    each given `grace` seconds before SIGKILL; an orphan guard does the same if this process is killed."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    for proc in procs:
        proc.start(env)
    guard = start_orphan_guard(procs, env, grace)
    code, announced = 0, False
    while not stop.wait(0.25):
        exited = [p for p in procs if not p.running()]
        if exited:
            first = exited[0]
            assert first.proc is not None
            say(f"{first.name} exited with code {first.proc.returncode}; stopping. The end of {first.log}:")
            time.sleep(0.2)  # its last lines, still on their way through the pipe
            for line in first.log.read_text(errors="replace").splitlines()[-8:]:
                say(f"  {line[:400]}")
            code = 1
            break
        if not announced and ready():
            announced = True
            on_ready()
    if received:
        say("Stopping...")
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.finish(deadline)
    assert guard.stdin is not None
    guard.stdin.close()  # everything has stopped: the guard finds nothing left and exits
    with contextlib.suppress(subprocess.TimeoutExpired):
        guard.wait(timeout=5)
    say("Stopped.")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.devrun", description="`make run`: see this module.")
    parser.add_argument("--no-setup", action="store_true", help="skip migrations, partitions, static files, demo data")
    no_setup = parser.parse_args(argv).no_setup
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    run_dir = Path(os.environ.get("RUN_DIR", str(DEFAULT_DATA_DIR / "make-run")))
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = embedded_database_url()
        say("PostgreSQL: none configured (DATABASE_URL not set): an embedded server, data in .data/pg.")
    jobs, fallback = choose_redis(env)
    if fallback:
        say(fallback)
    web_workers = int(env.get("WEB_WORKERS", "2"))
    if web_workers > 1 or jobs:
        # Several processes count requests and tasks: /metrics must add them all up.
        env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(run_dir))

    logins = ""
    if not no_setup:
        say("Preparing the database: migrations, partitions, static files, demo data...")
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")})
        os.environ.setdefault("LOG_LEVEL", "ERROR")  # this process only: a step that fails raises anyway
        logins = prepare()

    base = f"http://{host}:{port}"

    def announce() -> None:
        if logins:
            say(logins)
        say(f"Serving on {base}  (API docs: {base}/api/v1/docs, admin: {base}/admin/)")
        say("Background jobs: a Celery worker and Celery beat" if jobs else "Background jobs: in-process")
        shown = run_dir.relative_to(PROJECT_ROOT) if run_dir.is_relative_to(PROJECT_ROOT) else run_dir
        say(f"Logs in {shown}/; Ctrl-C stops everything.")

    procs = services(run_dir, host, port, jobs=jobs)
    try:
        return supervise(procs, env, lambda: _serving(f"{base}/api/v1/ping"), announce)
    finally:
        metrics_dir = env.get("PROMETHEUS_MULTIPROC_DIR", "")
        if metrics_dir.startswith(str(run_dir)):
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
