"""Backups of `make cluster`'s primary and restores of them into a scratch cluster (`make backup`,
`make restore`, `make restore-stop`), and the stanza `make cluster` creates (deploy/cluster/core.py).

The repository of the cluster whose state is in `.data/cluster` is `.data/cluster-backup` (beside the
state dir, so it outlives `make cluster-stop`; a new `make cluster` is a new database system and starts
a new repository). A restore goes into `<repository>/restore/`: its own data directory, its own free
port on 127.0.0.1, never over the running primary; it runs until `make restore-stop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from deploy.backup.repo import (
    BackupError,
    BackupRun,
    Repo,
    human_bytes,
    log_lines,
    parse_target_time,
    run_as,
    say,
    wait_archived,
)

if TYPE_CHECKING:
    from deploy.cluster.core import Cluster

FACTS = "primary.json"  # what a restore needs to know of the primary once the cluster is gone
SCRATCH = "restore"
PRIMARY_PORT = 5432
START_TIMEOUT = 600.0  # pg_ctl start -w: until the restored server is consistent and takes connections
PROMOTE_TIMEOUT = 1800.0  # then until it has replayed up to the target and promoted
RECOVERY_LINES = ("recovery stopping", "last completed transaction", "redo done", "selected new timeline", "FATAL")


def backup_root(cluster: Cluster) -> Path:
    """The cluster's repository folder: `<state dir>-backup` (e.g. .data/cluster-backup), or beside
    its servers' data when those had to go to the temporary directory (a checkout the server user
    cannot reach); recorded in the cluster's state on first use."""
    known = cluster.state.get("backup_root")
    if known:
        return Path(known)
    pg_root = Path(cluster.state["pg_root"])
    if pg_root.is_relative_to(cluster.state_dir):
        root = cluster.state_dir.with_name(cluster.state_dir.name + "-backup")
    else:
        root = Path(tempfile.gettempdir()) / f"{cluster.prefix}-backup"
    cluster.state["backup_root"] = str(root)
    return root


def root_of(state_dir: Path) -> Path:
    """The repository folder of a cluster whose state is gone (after `make cluster-stop`)."""
    from deploy.cluster import net

    state_dir = state_dir.resolve()
    beside = state_dir.with_name(state_dir.name + "-backup")
    elsewhere = Path(tempfile.gettempdir()) / f"{net.prefix_of(net.cluster_key(state_dir))}-backup"
    return elsewhere if not (beside / FACTS).exists() and (elsewhere / FACTS).exists() else beside


def config_path(cluster: Cluster) -> Path:
    """The configuration the primary's archive_command reads (its PGBACKREST_CONFIG)."""
    return backup_root(cluster) / "pgbackrest.conf"


def cluster_repo(cluster: Cluster, leader: str | None = None) -> Repo:
    """The repository as seen from the current leader (Patroni's): pgBackRest backs up from it, through
    its data directory and its socket (its unix_socket_directories, deploy/cluster/core.py)."""
    leader = leader or cluster.leader()
    if leader is None:
        raise BackupError(f"the cluster in {cluster.state_dir} has no PostgreSQL leader now: {cluster.members()}")
    data = cluster.pg_data(leader)
    return Repo(
        root=backup_root(cluster),
        pg_data=data,
        socket_dir=data.parent,
        pg_port=PRIMARY_PORT,
        user=cluster.state["pg_user"],
    )


def create_stanza(cluster: Cluster) -> Repo:
    """During `make cluster`, once the first leader runs: a new repository for this new database system
    (the previous cluster's backups go, as its data went with `make cluster-stop`), the stanza, and
    pgBackRest's `check` (a WAL segment switched and found in the repository)."""
    repo = cluster_repo(cluster)
    if (repo.root / SCRATCH).exists():
        restore_stop(repo.root)
    if repo.path.exists() and any(repo.path.iterdir()):
        cluster.out(f"pgbackrest: a new repository in {repo.root} (the previous cluster's backups are removed)")
        shutil.rmtree(repo.path)
    repo.prepare()
    _write_facts(repo, cluster.state["bindir"])
    repo.stanza_create()
    repo.check()
    return repo


def _write_facts(repo: Repo, bindir: str) -> None:
    facts = {
        "pg_data": str(repo.pg_data),
        "socket_dir": str(repo.socket_dir),
        "pg_port": repo.pg_port,
        "user": repo.user,
        "bindir": bindir,
    }
    (repo.root / FACTS).write_text(json.dumps(facts, indent=2) + "\n")


def _facts(root: Path) -> tuple[Repo, str]:
    try:
        facts = json.loads((root / FACTS).read_text())
    except (OSError, ValueError):
        raise BackupError(f"no pgBackRest repository in {root}: `make cluster` creates it") from None
    repo = Repo(
        root=root,
        pg_data=Path(facts["pg_data"]),
        socket_dir=Path(facts["socket_dir"]),
        pg_port=int(facts["pg_port"]),
        user=facts["user"],
    )
    return repo, str(facts["bindir"])


def running_repo(cluster: Cluster) -> Repo:
    """The repository of a running cluster whose primary archives into it."""
    leader = cluster.leader() if cluster.state else None
    if leader is None:
        raise BackupError(f"no cluster's primary is running ({cluster.state_dir}): `make cluster` first")
    repo = cluster_repo(cluster, leader)
    if not repo.config.exists():
        raise BackupError(
            f"the cluster in {cluster.state_dir} was started without WAL archiving (no {repo.config}): "
            "`make cluster-stop && make cluster` starts one that archives"
        )
    with cluster.connect(leader, "postgres", superuser=True) as db:
        mode = db.execute("SELECT current_setting('archive_mode')").fetchone()
    if mode != ("on",):
        raise BackupError("the cluster's primary has archive_mode off: `make cluster-stop && make cluster`")
    # After a failover the leader is another node: the configuration names its data and socket
    # (each node's archive_command names its own data directory, whatever this file says).
    repo.prepare()
    return repo


# --- make backup -----------------------------------------------------------------------------------------
def backup(cluster: Cluster, kind: str = "incr") -> BackupRun:
    """A backup of the cluster's primary: `kind` full or incr (diff too); an incremental with no full
    backup to build on is made full."""
    repo = running_repo(cluster)
    if kind != "full" and not any(b["type"] == "full" for b in repo.backups()):
        say(f"no full backup in {repo.path} yet: a full one first")
        kind = "full"
    say(f"{kind} backup of the cluster's primary into {repo.path}")
    done = repo.backup(kind)
    say(describe(done))
    info = repo.info()
    counts: dict[str, int] = {}
    for entry in info.get("backup", []):
        counts[entry["type"]] = counts.get(entry["type"], 0) + 1
    archive = (info.get("archive") or [{}])[-1]
    kept = ", ".join(f"{n} {t}" for t, n in counts.items())
    say(f"the repository keeps {kept}; WAL {archive.get('min', '?')} .. {archive.get('max', '?')}")
    return done


def describe(run: BackupRun) -> str:
    return (
        f"{run.type} backup {run.label} in {run.seconds:.1f} s: database {human_bytes(run.size)}, "
        f"copied {human_bytes(run.delta)}, stored {human_bytes(run.stored)} compressed; "
        f"WAL {run.wal_start} .. {run.wal_stop}"
    )


# --- make restore / restore-stop ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Scratch:
    """A restored server: where it is and how it went."""

    root: Path
    port: int
    label: str
    target: str
    restore_seconds: float
    replay_seconds: float
    recovery: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"


def restore(root: Path, target_time: str, primary: Callable[[], psycopg.Connection[Any]] | None = None) -> Scratch:
    """The cluster's backups restored to `target_time` into `<root>/restore`, started on a free port
    of 127.0.0.1, promoted once it has replayed the archived WAL up to that time; left running.
    `primary` (a superuser connection to the running primary, if it runs) first has the WAL segment
    under way switched and archived: what was committed until now is in the repository."""
    parse_target_time(target_time)
    repo, bindir = _facts(root)
    with _locked(root):
        if primary is not None:
            try:
                say(f"the primary's current WAL segment switched and archived ({wait_archived(primary)})")
            except BackupError as exc:
                say(f"warning: {exc}; restoring from what the repository holds")
        return _restore(root, repo, bindir, target_time)


def _restore(root: Path, repo: Repo, bindir: str, target_time: str) -> Scratch:
    from tests.integration.replica_harness import free_port

    scratch = root / SCRATCH
    if (scratch / "restore.json").exists():
        raise BackupError(f"a restored cluster is already in {scratch}: `make restore-stop` first")
    _stop_server(scratch, bindir, repo.user)  # what an interrupted restore may have left running
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    _own(scratch, repo.user)
    port = free_port()
    try:
        say(f"pgbackrest restore --type=time --target='{target_time}' into {scratch / 'data'}")
        run = repo.restore(scratch / "data", target_time)
        say(f"backup set {run.label} restored in {run.seconds:.1f} s; starting it on 127.0.0.1:{port}")
        _scratch_settings(scratch, port, repo.user)
        started = time.monotonic()
        _pg_ctl(
            bindir, repo.user, scratch, "start", "-w", "-t", f"{START_TIMEOUT:.0f}", "-l", str(scratch / "server.log")
        )
        _wait_promoted(scratch, port, deadline=started + PROMOTE_TIMEOUT)
        replay = time.monotonic() - started
    except BaseException:
        with contextlib.suppress(Exception):
            _stop_server(scratch, bindir, repo.user)
        tail = log_lines(scratch / "server.log", "")[-20:]
        with contextlib.suppress(OSError):
            shutil.copy(scratch / "server.log", root / "restore-failed.log")
        shutil.rmtree(scratch, ignore_errors=True)
        if tail:
            say(f"the restored server's last log lines ({root / 'restore-failed.log'}):\n    " + "\n    ".join(tail))
        if any("before configured recovery target was reached" in line for line in tail):
            say(
                f"the archived WAL has no commit after {target_time}: recovery cannot know it reached that "
                "moment (a target after the last archived commit, or in the future); pick an earlier one"
            )
        raise
    done = Scratch(
        root=scratch,
        port=port,
        label=run.label,
        target=target_time,
        restore_seconds=run.seconds,
        replay_seconds=replay,
        recovery=log_lines(scratch / "server.log", *RECOVERY_LINES),
    )
    state = {"port": port, "label": run.label, "target": target_time, "bindir": bindir, "user": repo.user}
    (scratch / "restore.json").write_text(json.dumps(state, indent=2) + "\n")
    return done


def how_to_reach(done: Scratch, state_dir: Path) -> list[str]:
    secrets = state_dir / "secrets.json"
    return [
        f"restored to {done.target} from backup set {done.label}: files {done.restore_seconds:.1f} s, "
        f"WAL replay and promotion {done.replay_seconds:.1f} s",
        *(f"  recovery: {line.split('LOG:', 1)[-1].strip()}" for line in done.recovery),
        f"server:   PostgreSQL on 127.0.0.1:{done.port}, data {done.data}, log {done.log} (archiving off)",
        f"psql:     psql -h {done.root} -p {done.port} -U postgres fintech    (as root or postgres)",
        f"the app:  DATABASE_URL=postgresql://fintech:<app_password>@127.0.0.1:{done.port}/fintech "
        f"(the cluster's app_password, in {secrets} while it runs)",
        "check:    DATABASE_URL=<that> APP_ENV=development REDIS_URL=none .venv/bin/python manage.py check_book",
        "stop:     make restore-stop",
    ]


def restore_stop(root: Path) -> bool:
    """Stop the restored server and remove it; False when there was none."""
    scratch = root / SCRATCH
    if not scratch.exists():
        return False
    with _locked(root):
        return _restore_stop(root, scratch)


def _restore_stop(root: Path, scratch: Path) -> bool:
    bindir, user = "", None
    with contextlib.suppress(OSError, ValueError, KeyError):
        state = json.loads((scratch / "restore.json").read_text())
        bindir, user = str(state["bindir"]), state["user"]
    if not bindir:  # a restore that failed before it wrote its state: the repository's facts
        with contextlib.suppress(BackupError):
            repo, bindir = _facts(root)
            user = repo.user
    _stop_server(scratch, bindir, user)
    shutil.rmtree(scratch)
    return True


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One restore or restore-stop at a time on a repository."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "restore.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another restore or restore-stop is under way on {root}") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _own(path: Path, user: str | None) -> None:
    import pwd

    path.chmod(0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _scratch_settings(scratch: Path, port: int, user: str | None) -> None:
    """The restored copy is not the primary: it listens on 127.0.0.1 and its own port and socket,
    never archives, waits for no synchronous standby, and lets in the postgres role (root and the
    server user, by peer) over its socket and the restored roles with their passwords over TCP from
    this machine. Patroni's postgresql.conf, restored with the files, names the live node's pg_hba.conf
    and pg_ident.conf by absolute path and its synchronous standby: each is set again here."""
    data = scratch / "data"
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# --- a scratch restore (deploy/backup/ops.py): not the primary ---\n"
            f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{scratch}'\n"
            "archive_mode = off\nsynchronous_standby_names = ''\nprimary_conninfo = ''\n"
            f"hba_file = '{data / 'pg_hba.conf'}'\nident_file = '{data / 'pg_ident.conf'}'\n"
        )
    (data / "pg_hba.conf").write_text("local all postgres peer map=restore\nhost all all 127.0.0.1/32 scram-sha-256\n")
    (data / "pg_ident.conf").write_text(f"restore {user or 'postgres'} postgres\nrestore root postgres\n")


def _pg_ctl(bindir: str, user: str | None, scratch: Path, *args: str) -> None:
    argv = [str(Path(bindir) / "pg_ctl"), "-D", str(scratch / "data"), *args]
    done = run_as(user, argv, timeout=START_TIMEOUT + 30, cwd=scratch, env={"PGTZ": "UTC"})
    if done.returncode != 0:
        raise BackupError(f"pg_ctl {args[0]} failed ({done.returncode}): {(done.stdout + done.stderr).strip()}")


def _connect(scratch: Path, port: int) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=str(scratch), port=port, user="postgres", dbname="postgres", autocommit=True, connect_timeout=5
    )


def _wait_promoted(scratch: Path, port: int, *, deadline: float) -> None:
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with _connect(scratch, port) as db:
                row = db.execute("SELECT pg_is_in_recovery()").fetchone()
            if row == (False,):
                return
            last = "still in recovery"
        except psycopg.Error as exc:
            last = str(exc).strip()
        if not (scratch / "data" / "postmaster.pid").exists():
            raise BackupError("the restored server stopped during recovery: see its log above")
        time.sleep(0.2)
    raise BackupError(f"the restored server had not promoted after {PROMOTE_TIMEOUT:.0f} s ({last})")


def _stop_server(scratch: Path, bindir: str, user: str | None) -> None:
    """pg_ctl's fast stop (bounded); a postmaster still there after it is killed."""
    pidfile = scratch / "data" / "postmaster.pid"
    if not pidfile.exists():
        return
    if bindir:
        with contextlib.suppress(BackupError):
            argv = [str(Path(bindir) / "pg_ctl"), "-D", str(scratch / "data"), "-m", "fast", "-w", "-t", "30", "stop"]
            run_as(user, argv, timeout=40, cwd=scratch)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pidfile.read_text().splitlines()[0])
        if str(scratch / "data").encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return  # a stale pid file: that pid is someone else's now
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    return
                time.sleep(0.1)
