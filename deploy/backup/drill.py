"""The restore drill: a payment we said was booked stays booked, and one booked after the point we
restore to is not there. On a throwaway primary of its own (tests/integration/replica_harness.py:
`pg_config --bindir`'s binaries, run as the postgres user when we are root, data under .data/):

 1. initdb, WAL archiving into a scratch pgBackRest repository (`archive-push`), stanza-create and
    pgBackRest's `check`; the app's schema (`manage.py migrate`, `pgpartition`), the demo book and
    some credits opened through the app's use cases;
 2. a full backup;
 3. `payments` payments through the app's own use case (deploy/backup/workload.py);
 4. the target time: the next whole second after the last of them committed (waited out), the
    payments in the book at that moment noted, a WAL switch archived;
 5. an incremental backup; `more` payments after it; a second target time after them (and one
    commit past it, so recovery sees it reached it); a WAL switch archived;
 6. the primary stopped as if lost (immediate shutdown): from now on only the repository counts;
 7. `pgbackrest restore --type=time --target=<first target> --target-action=promote` into a scratch
    data directory (pgBackRest picks the full backup: the incremental ended after that moment),
    started on a port of its own: recovery replays archived WAL (`archive-get`) up to the target and
    promotes. On the restored book: exactly the payments noted at the target time (ids compared,
    the `payments` of the drill among them, none of the `more` after it), and `manage.py check_book`
    passes;
 8. the same to the second target time, which pgBackRest restores from the incremental backup (on
    its full one): every payment, and check_book again. A backup never restored is only a hope.

`python -m deploy.backup drill` runs it and prints its figures; tests/cluster/test_restore_drill.py
runs it in `make test`. Everything it started is stopped and its folder removed, failure or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from deploy.backup.repo import (
    BackupError,
    BackupRun,
    Repo,
    RestoreRun,
    human_bytes,
    log_lines,
    next_whole_second,
    pgbackrest_path,
    say,
    wait_archived,
)

if TYPE_CHECKING:
    from tests.integration.replica_harness import ReplicaHarness

ROOT = Path(__file__).resolve().parents[2]
MANAGE_TIMEOUT = 600.0
PROMOTE_TIMEOUT = 300.0
RECOVERY_LINES = ("recovery stopping", "last completed transaction", "redo done", "selected new timeline")


@dataclass
class Restored:
    """One restore of the drill: to which moment, from which backup set, what came back."""

    target_time: str
    expected: set[str]  # every payment in the primary at the target time
    run: RestoreRun | None = None
    replay_seconds: float = 0.0
    recovery: list[str] = field(default_factory=list)  # the server's own account (its log)
    payments: set[str] = field(default_factory=set)  # every payment in the restored book
    check_book_ok: bool = False
    check_book: str = ""
    check_book_seconds: float = 0.0

    def lines(self, what: str) -> list[str]:
        label = self.run.label if self.run else "?"
        seconds = self.run.seconds if self.run else 0.0
        lost, extra = self.expected - self.payments, self.payments - self.expected
        return [
            f"restore to {self.target_time} ({what}): backup set {label} restored in {seconds:.1f} s, WAL "
            f"replayed to the target and promoted in {self.replay_seconds:.1f} s",
            *(f"  {line.split('LOG:', 1)[-1].strip()}" for line in self.recovery),
            f"  payments: {len(self.payments)} restored, {len(self.expected)} in the book at the target "
            f"({len(lost)} lost, {len(extra)} extra); check_book {'ok' if self.check_book_ok else 'FAILED'} "
            f"in {self.check_book_seconds:.1f} s",
        ]


@dataclass
class DrillResult:
    """What the drill did and measured; `problems()` is empty when the restores kept their promise."""

    before: list[str] = field(default_factory=list)  # the payments registered before the target time
    after: list[str] = field(default_factory=list)  # those registered after it
    full: BackupRun | None = None
    incr: BackupRun | None = None
    point: Restored | None = None  # to the target time between the two batches (from the full backup)
    latest: Restored | None = None  # to after the second batch (from the incremental backup)
    seconds: dict[str, float] = field(default_factory=dict)
    run_dir: str = ""  # the drill's folder (removed at its end)

    def problems(self) -> list[str]:
        found = []
        for name, restored in (("the point in time", self.point), ("the latest", self.latest)):
            if restored is None:
                found.append(f"no restore to {name}")
                continue
            if restored.payments != restored.expected:
                lost, extra = restored.expected - restored.payments, restored.payments - restored.expected
                found.append(f"restore to {name}: {len(lost)} payments lost, {len(extra)} extra")
            if not restored.check_book_ok:
                found.append(f"restore to {name}: check_book failed:\n{restored.check_book[-2000:]}")
        if self.point is not None:
            if not set(self.before) <= self.point.payments:
                missing = len(set(self.before) - self.point.payments)
                found.append(f"{missing} payments booked before the target time are missing")
            if set(self.after) & self.point.payments:
                found.append(f"{len(set(self.after) & self.point.payments)} payments booked after the target came back")
        if self.latest is not None and not set(self.before + self.after) <= self.latest.payments:
            found.append("the latest restore misses payments of the drill")
        return found

    def figures(self) -> list[str]:
        s = self.seconds
        lines = []
        if "pay_before" in s:
            rate = len(self.before) / s["pay_before"] if s["pay_before"] else 0
            lines.append(f"{len(self.before)} payments through the use case: {s['pay_before']:.1f} s ({rate:.0f}/s)")
        for run in (self.full, self.incr):
            if run is not None:
                lines.append(
                    f"{run.type} backup: {run.seconds:.1f} s (database {human_bytes(run.size)}, copied "
                    f"{human_bytes(run.delta)}, stored {human_bytes(run.stored)} compressed)"
                )
        if "pay_after" in s:
            lines.append(f"{len(self.after)} more payments after the target time: {s['pay_after']:.1f} s")
        if self.point is not None:
            lines += self.point.lines("the point between the two batches")
        if self.latest is not None:
            lines += self.latest.lines("after the last batch, through the incremental")
        if "total" in s:
            lines.append(
                f"the whole drill: {s['total']:.1f} s (setup: initdb, migrate, demo book {s.get('setup', 0):.1f} s)"
            )
        return lines


def _env(database_url: str) -> dict[str, str]:
    """manage.py's and the workload's environment: the scratch database, development mode, no Redis
    (a local-memory cache), none of the caller's settings (a test run's DATABASE_URL, REDIS_URL...)."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "HOME", "TZ") if k in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            "APP_ENV": "development",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": "none",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def _python(database_url: str, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and scripts
        [sys.executable, *args], env=_env(database_url), cwd=ROOT, capture_output=True, text=True,
        timeout=MANAGE_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BackupError(
            f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def _manage(database_url: str, *args: str) -> str:
    return _python(database_url, str(ROOT / "manage.py"), *args)


def _workload(database_url: str, *args: str) -> str:
    return _python(database_url, "-m", "deploy.backup.workload", *args)


@contextlib.contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    seconds[name] = time.monotonic() - started


def _payment_ids(connect: Callable[[], psycopg.Connection[Any]]) -> set[str]:
    with connect() as db:
        return {str(row[0]) for row in db.execute("SELECT id FROM payments_payment").fetchall()}


def run_drill(
    payments: int = 1000, more: int = 100, credits: int = 20, out: Callable[[str], None] = say
) -> DrillResult:
    """The drill (module docstring); BackupError or HarnessError when a step cannot be done."""
    from tests.integration.replica_harness import _SERVER_SETTINGS, DATABASE, ReplicaHarness

    pgbackrest_path()  # before anything is started: not installed is a plain error
    result = DrillResult()
    s = result.seconds
    started = time.monotonic()
    harness = ReplicaHarness.create()
    # A restored server takes the harness's second node (its free port, its data folder), so the
    # harness's stop() and a later run's reap_stale_runs() stop and remove it as well.
    primary = harness.primary
    run = Path(harness.run_dir)
    result.run_dir = str(run)
    repo = Repo(
        root=run / "backup", pg_data=Path(primary.data), socket_dir=run, pg_port=primary.port, user=harness.user
    )
    try:
        with _timed(s, "setup"):
            out(f"primary :{primary.port} in {run}, repository {repo.path}")
            repo.prepare()
            harness._run(
                "initdb", "-D", primary.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N"
            )
            with open(Path(primary.data) / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write(
                    _SERVER_SETTINGS
                    + "\n# --- the restore drill (deploy/backup/drill.py): archiving as in production ---\n"
                    f"unix_socket_directories = '{run}'\n"  # pgBackRest reaches the server there
                    "archive_mode = on\n"
                    f"archive_command = '{repo.archive_command(with_config=True)}'\n"
                    "fsync = on\nfull_page_writes = on\nautovacuum = on\n"
                )
            harness.start_node(primary)
            repo.stanza_create()
            repo.check()
            with primary.connect("postgres") as db:
                db.execute(f"CREATE DATABASE {DATABASE}")
            out("migrate, partitions, the demo book, credits")
            _manage(primary.url, "migrate", "--no-input", "-v", "0")
            _manage(primary.url, "pgpartition", "--yes", "--skip-delete")
            _manage(primary.url, "load_demo")
            _workload(primary.url, "open", "--credits", str(credits), "--out", str(run / "credits.json"))

        out("full backup")
        result.full = repo.backup("full")

        out(f"{payments} payments through the app's use case")
        with _timed(s, "pay_before"):
            _workload(primary.url, "pay", "--credits-file", str(run / "credits.json"), "--count", str(payments),
                      "--tag", "before", "--out", str(run / "before.json"))  # fmt: skip
        result.before = json.loads((run / "before.json").read_text())

        result.point = Restored(*_mark_target(primary.connect))
        wait_archived(primary.connect)
        out(f"target time {result.point.target_time}: {len(result.point.expected)} payments in the book; incremental")
        result.incr = repo.backup("incr")

        out(f"{more} more payments after the target time")
        with _timed(s, "pay_after"):
            _workload(primary.url, "pay", "--credits-file", str(run / "credits.json"), "--count", str(more),
                      "--tag", "after", "--out", str(run / "after.json"))  # fmt: skip
        result.after = json.loads((run / "after.json").read_text())
        result.latest = Restored(*_mark_target(primary.connect))
        with primary.connect() as db:  # a commit past that target: recovery sees it reached it
            db.execute("SELECT pg_current_xact_id()")
        wait_archived(primary.connect)
        out("the primary is lost (immediate shutdown): restoring from the repository alone")
        harness.stop_node(primary, mode="immediate")

        for restore in (result.point, result.latest):
            _restore(harness, repo, restore, out)
        s["total"] = time.monotonic() - started
        return result
    finally:
        with contextlib.suppress(Exception):
            harness.stop()


def _mark_target(connect: Callable[[], psycopg.Connection[Any]]) -> tuple[str, set[str]]:
    """A target time in whole seconds just after the last commit, waited out on the server's clock
    (so whatever commits next is after it), and the payments in the book at that moment."""
    with connect() as db:
        row = db.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None  # one row, always
        target = next_whole_second(row[0].astimezone(UTC))
        deadline = time.monotonic() + 5
        while db.execute("SELECT clock_timestamp() > %s", [target]).fetchone() != (True,):
            if time.monotonic() > deadline:
                raise BackupError(f"the server's clock did not pass {target} in 5 s")
            time.sleep(0.05)
    return f"{target:%Y-%m-%d %H:%M:%S}+00", _payment_ids(connect)


def _restore(harness: ReplicaHarness, repo: Repo, restored: Restored, out: Callable[[str], None]) -> None:
    """`restored.target_time` restored into the harness's second node, started, promoted, checked;
    then stopped and removed (the next restore takes its place)."""
    node = harness.replica
    log = Path(harness.run_dir) / f"{node.name}.log"
    restored.run = repo.restore(Path(node.data), restored.target_time)
    out(f"{restored.target_time}: backup set {restored.run.label} restored in {restored.run.seconds:.1f} s")
    started = time.monotonic()
    harness.start_node(node)
    _wait_promoted(node.connect, PROMOTE_TIMEOUT)
    restored.replay_seconds = time.monotonic() - started
    restored.recovery = log_lines(log, *RECOVERY_LINES)
    restored.payments = _payment_ids(node.connect)
    started = time.monotonic()
    try:
        restored.check_book = _manage(node.url, "check_book")
        restored.check_book_ok = "The book is consistent" in restored.check_book
    except BackupError as exc:
        restored.check_book = str(exc)
    restored.check_book_seconds = time.monotonic() - started
    harness.stop_node(node, mode="fast")
    shutil.rmtree(node.data)
    log.rename(log.with_name(f"{node.name}-{restored.target_time[11:19].replace(':', '')}.log"))


def _wait_promoted(connect: Callable[[str], psycopg.Connection[Any]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with connect("postgres") as db:
                if db.execute("SELECT pg_is_in_recovery()").fetchone() == (False,):
                    return
            last = "still in recovery"
        except psycopg.Error as exc:
            last = str(exc).strip()
        time.sleep(0.1)
    raise BackupError(f"the restored server had not promoted after {timeout:.0f} s ({last})")
