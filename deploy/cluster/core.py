"""The production topology on one machine, each node in a network namespace of its own (issue 16).

    pg-primary   PostgreSQL primary (fsync and synchronous_commit on, WAL for a standby)
    pg-replica   hot standby streaming from it (pg_basebackup -R -X stream)
    pgbouncer    transaction pooling: database `fintech` -> primary, `fintech_replica` -> replica
    redis-1/2    the sharded read cache (REDIS_URLS)
    redis-broker the Celery broker, apart from the cache shards
    app-1/2/3    the API under granian, connected only through pgbouncer
    worker       one Celery worker
    haproxy      the balancer in front of the three app nodes, health-checked every second

`Cluster.up()` builds it all and returns once it is healthy, leaving the processes running on their
own; `Cluster.down()` stops them and removes namespaces, interfaces and data. Everything the
cluster knows about itself (addresses, pids, logs) is in `<state dir>/state.json`, so a later
process (`status`, `down`, a stress scenario) picks it up from there. The node-level controls
(`start`, `stop`, `kill`, `pause`, `resume`, `reload_haproxy`, `haproxy_admin`, `pgbouncer_admin`)
are what fault scenarios need.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from string import Template
from typing import Any

import psycopg
from psycopg import sql

from deploy.cluster import net
from deploy.cluster.proc import Proc, kill_pids, reap, signal_one, spawn, wait_gone

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ROOT / ".data" / "cluster"
TEMPLATES = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

DATABASE = "fintech"  # the database on the servers, and pgbouncer's name for the primary's pool
REPLICA_DATABASE = "fintech_replica"  # pgbouncer's name for the replica's pool
APP_ROLE = "fintech"
REPLICATION_ROLE = "replicator"
PGBOUNCER_ADMIN = "pgbouncer_admin"
HAPROXY_PORT = 8080
STATS_PORT = 8404
DEMO_PASSWORD_LINE = "password for all:"  # noqa: S105 - what load_demo prints before it

# Every wait has a bound: a node that is not ready by then fails `up`, which names it and its log.
READY_TIMEOUT = {"redis": 15.0, "postgres": 60.0, "pgbouncer": 15.0, "app": 90.0, "worker": 90.0, "haproxy": 30.0}
MANAGE_TIMEOUT = 600.0
# Generated per cluster into secrets.json (mode 0600): Django's and the JWT keys, the database roles'.
SECRET_NAMES = ("secret_key", "jwt_signing_key", "postgres_password", "app_password", "replication_password",
                "pgbouncer_admin_password")  # fmt: skip
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Role:
    name: str
    short: str  # the namespace's and the host-side veth's suffix: "<prefix>-<short>" fits 15 characters
    host: int  # last octet of its address
    port: int
    kind: str  # postgres | pgbouncer | redis | app | worker | haproxy


ROLES: tuple[Role, ...] = (
    Role("redis-1", "redis1", 21, 6379, "redis"),
    Role("redis-2", "redis2", 22, 6379, "redis"),
    Role("redis-broker", "broker", 23, 6379, "redis"),
    Role("pg-primary", "pgpri", 11, 5432, "postgres"),
    Role("pg-replica", "pgrep", 12, 5432, "postgres"),
    Role("pgbouncer", "pgbnc", 13, 6432, "pgbouncer"),
    Role("worker", "worker", 51, 0, "worker"),
    Role("app-1", "app1", 31, 8000, "app"),
    Role("app-2", "app2", 32, 8000, "app"),
    Role("app-3", "app3", 33, 8000, "app"),
    Role("haproxy", "haproxy", 41, HAPROXY_PORT, "haproxy"),
)
ROLE = {role.name: role for role in ROLES}
APPS = tuple(role.name for role in ROLES if role.kind == "app")
# Stopping: what takes requests first, then what they depend on (each group in parallel).
STOP_GROUPS = (
    ("haproxy", *APPS, "worker"),
    ("pgbouncer", "pg-replica", "pg-primary"),
    ("redis-1", "redis-2", "redis-broker"),
)


class ClusterError(RuntimeError):
    """The cluster cannot do what was asked; the message says why and what to do."""


class NodeFailed(ClusterError):
    """One node did not start or answer: its name, why, and where its log is."""

    def __init__(self, node: str, reason: str, log: Path | None) -> None:
        self.node = node
        self.reason = reason
        self.log = log
        tail = ""
        if log is not None and log.exists():
            lines = log.read_text(errors="replace").splitlines()[-25:]
            tail = "\n".join(f"    {line}" for line in lines)
        where = f"\n  its log: {log}" if log is not None else ""
        super().__init__(f"{node} failed: {reason}{where}" + (f"\n  last lines:\n{tail}" if tail else ""))


def say(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def executable(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def prerequisites() -> list[str]:
    """What is missing on this machine for `up`, one line each (empty: nothing)."""
    missing = []
    if os.geteuid() != 0:
        missing.append(
            "the cluster needs root: it creates network namespaces, veth pairs and a bridge (run `sudo make cluster`)"
        )
    absent = [name for name in ("haproxy", "pgbouncer", "pgbackrest") if executable(name) is None]
    if absent:
        missing.append(
            f"{' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} not installed: `make cluster` installs "
            f"{'it' if len(absent) == 1 else 'them'} "
            f"(apt-get install -y {' '.join(absent)})"
        )
    for name, package in (("redis-server", "redis-server"), ("ip", "iproute2"), ("setpriv", "util-linux")):
        if executable(name) is None:
            missing.append(f"{name} is not installed (Debian: apt-get install {package})")
    for name in ("granian", "celery"):
        if not (VENV_BIN / name).exists():
            missing.append(f"{VENV_BIN / name} is missing (make .venv/.installed)")
    return missing


def pg_tools() -> tuple[Path, str]:
    """PostgreSQL's bin directory and the system user the servers run as (they refuse root): the
    read-replica tests' own choices (tests/integration/replica_harness.py)."""
    from tests.integration.replica_harness import HarnessError, _server_user, find_bindir

    try:
        bindir = find_bindir()
        user = _server_user() or pwd.getpwuid(os.geteuid()).pw_name
    except HarnessError as exc:
        raise ClusterError(str(exc)) from exc
    return bindir, user


def _http(url: str, timeout: float = 3.0) -> tuple[int, dict[str, str], Any]:
    """One GET: (status, lower-cased headers, parsed JSON or text); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http:// URL
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    except (OSError, ValueError):
        return 0, {}, None
    text = raw.decode(errors="replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return status, {k.lower(): v for k, v in headers.items()}, body


def _render(template: str, values: dict[str, str]) -> str:
    """A template of this folder with every reference filled (a missing value is an error, not a blank)."""
    text = Template((TEMPLATES / template).read_text())
    unknown = set(text.get_identifiers()) - set(values)
    if unknown:
        raise ClusterError(f"{template}: no value for {sorted(unknown)}")
    return text.substitute(values)


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """A file only its owner reads (mode 0600 from the start, never world-readable for a moment)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class Cluster:
    """The cluster whose state lives in `state_dir` (`.data/cluster` by default)."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, *, out: Callable[[str], None] = say) -> None:
        self.state_dir = state_dir.resolve()
        self.out = out
        self.key = net.cluster_key(self.state_dir)
        self.prefix = net.prefix_of(self.key)
        self.bridge = f"{self.prefix}-br"
        self.state_file = self.state_dir / "state.json"
        self.secrets_file = self.state_dir / "secrets.json"
        self.logs_dir = self.state_dir / "logs"
        # Logs of the last cluster outlive `down` here (replaced by the next one's), for a failed start.
        self.kept_logs = self.state_dir.with_name(self.state_dir.name + "-logs")
        self.state: dict[str, Any] = self._load()

    # --- what is known about it ---------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        write_private(temporary, json.dumps(self.state, indent=2, sort_keys=True))
        temporary.replace(self.state_file)

    @property
    def secrets(self) -> dict[str, str]:
        return dict(json.loads(self.secrets_file.read_text()))

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network(self.state["subnet"])

    def address(self, node: str) -> str:
        return str(self.subnet.network_address + ROLE[node].host)

    def namespace(self, node: str) -> str:
        return f"{self.prefix}-{ROLE[node].short}"

    def log(self, node: str) -> Path:
        return self.logs_dir / f"{node}.log"

    def node_dir(self, node: str) -> Path:
        return self.state_dir / "nodes" / node

    def pg_data(self, node: str) -> Path:
        return Path(self.state["pg_root"]) / node / "data"

    @property
    def balancer_url(self) -> str:
        return f"http://{self.address('haproxy')}:{HAPROXY_PORT}"

    @property
    def stats_url(self) -> str:
        return f"http://{self.address('haproxy')}:{STATS_PORT}/"

    def database_url(self, *, direct: bool = True, replica: bool = False) -> str:
        """The app role's URL: straight to a server (`direct`), else through pgbouncer's pool."""
        password = self.secrets["app_password"]
        if direct:
            host = self.address("pg-replica" if replica else "pg-primary")
            return f"postgresql://{APP_ROLE}:{password}@{host}:5432/{DATABASE}"
        name = REPLICA_DATABASE if replica else DATABASE
        return f"postgresql://{APP_ROLE}:{password}@{self.address('pgbouncer')}:6432/{name}"

    def proc(self, node: str) -> Proc | None:
        entry = self.state.get("nodes", {}).get(node, {})
        return Proc(entry["pid"], entry["started"]) if entry.get("pid") else None

    def running(self, node: str) -> bool:
        proc = self.proc(node)
        return proc is not None and proc.alive()

    def is_up(self) -> bool:
        return self.state.get("phase") == "running" and all(self.running(role.name) for role in ROLES)

    # --- environments ----------------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        """Only what a process needs from ours: none of the caller's settings (a test run's DATABASE_URL,
        REDIS_URL, APP_ENV) may leak into the cluster."""
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ", "HOME") if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        return env

    def app_env(
        self, node: str = "app-1", *, production: bool = True, through_pgbouncer: bool = True
    ) -> dict[str, str]:
        """The environment of an app node or the worker; `through_pgbouncer=False` is manage.py's
        (migrations straight to the primary, no replica)."""
        keys = self.secrets
        hosts = [self.address("haproxy"), *(self.address(app) for app in APPS), "127.0.0.1", "localhost"]
        env = self._base_env()
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
                "APP_ENV": "production" if production else "development",
                "DEBUG": "0",
                "SECRET_KEY": keys["secret_key"],
                "JWT_SIGNING_KEY": keys["jwt_signing_key"],
                "ALLOWED_HOSTS": ",".join(hosts),
                # One name for every process, development-mode manage.py included: the same cache keys.
                "APP_INSTANCE": "fintech-credits",
                "REDIS_URLS": ",".join(f"redis://{self.address(r)}:6379/1" for r in ("redis-1", "redis-2")),
                "CELERY_BROKER_URL": f"redis://{self.address('redis-broker')}:6379/0",
                # HAProxy replaces X-Forwarded-For with the client's address: the login throttle's key.
                "TRUST_X_FORWARDED_FOR": "1",
                "LOG_LEVEL": "INFO" if node == "worker" else "WARNING",
                "PROMETHEUS_MULTIPROC_DIR": str(self.node_dir(node) / "prometheus"),
            }
        )
        if through_pgbouncer:
            env["DATABASE_URL"] = self.database_url(direct=False)
            env["DATABASE_REPLICA_URLS"] = self.database_url(direct=False, replica=True)
            env["DB_PGBOUNCER"] = "1"
        else:
            env["DATABASE_URL"] = self.database_url(direct=True)
        return env

    def manage_env(self) -> dict[str, str]:
        """For `manage.py` against the cluster (check_book, a shell): the primary directly."""
        env = self.app_env("manage", through_pgbouncer=False)
        env.pop("PROMETHEUS_MULTIPROC_DIR")
        return env

    # --- up ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, timeout: float = 300.0) -> Iterator[None]:
        """One `up` or `down` at a time per state dir."""
        lock_path = self.state_dir.with_name(self.state_dir.name + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as lock:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ClusterError(f"another `up` or `down` holds {lock_path} for {timeout:.0f} s") from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def up(self) -> None:
        missing = prerequisites()
        if missing:
            raise ClusterError("cannot start the cluster:\n  - " + "\n  - ".join(missing))
        with self._locked():
            self.state = self._load()
            if self.is_up():
                self.out(f"the cluster is already running ({self.state_dir}); nothing to do")
                return
            if self._heal():
                return
            if self.state or self.state_dir.exists() or net.leftovers(self.prefix):
                self.out("a previous cluster was left half-started or crashed: cleaning it up first")
                self._teardown(quiet=True)
            started = time.monotonic()
            try:
                self._build()
            except BaseException as exc:
                self.out("start failed: tearing down what was started")
                with contextlib.suppress(Exception):
                    self._teardown(quiet=True)
                if isinstance(exc, NodeFailed) and exc.log is not None:
                    # The state dir is gone with the teardown; its logs were kept beside it.
                    raise NodeFailed(exc.node, exc.reason, self.kept_logs / exc.log.name) from exc
                raise
            self.out(f"healthy in {time.monotonic() - started:.0f} s")

    def _heal(self) -> bool:
        """A cluster that was running and lost nodes (a scenario stopped them, a process died) gets
        them back, its data kept; False when there is nothing to heal that way (never fully started,
        or its network is gone, as after a reboot): then it is rebuilt from scratch."""
        ours = set(net.namespaces())
        if self.state.get("phase") != "running" or any(self.namespace(r.name) not in ours for r in ROLES):
            return False
        stopped = [role.name for role in ROLES if not self.running(role.name)]
        self.out(f"the cluster is running but not {', '.join(stopped)}: starting what is missing")
        for node in stopped:  # in the order of ROLES: what a node depends on starts before it
            self.start(node)
        self._wait_healthy()
        return True

    def _build(self) -> None:
        bindir, pg_user = pg_tools()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)  # the postgres user walks through it to its data and config
        self.logs_dir.mkdir(exist_ok=True)
        subnet = net.choose_subnet(self.key, self.bridge)
        self.state = {
            "version": 1,
            "phase": "starting",
            "state_dir": str(self.state_dir),
            "prefix": self.prefix,
            "bridge": self.bridge,
            "subnet": str(subnet),
            "bindir": str(bindir),
            "pg_user": pg_user,
            "pg_root": str(self._pg_root(pg_user)),
            "nodes": {},
        }
        self._save()
        write_private(
            self.secrets_file,
            json.dumps({name: secrets.token_urlsafe(48) for name in SECRET_NAMES}, indent=2),
        )
        for role in ROLES:
            self.state["nodes"][role.name] = {
                "namespace": self.namespace(role.name),
                "veth": self.namespace(role.name),
                "address": self.address(role.name),
                "port": role.port or None,
                "log": str(self.log(role.name)),
                "data": str(self.pg_data(role.name) if role.kind == "postgres" else self.node_dir(role.name)),
                "pid": None,
                "started": None,
            }
            self.node_dir(role.name).mkdir(parents=True, exist_ok=True)
        self._save()

        self.out(f"network {subnet}: bridge {self.bridge} ({subnet.network_address + 1}), {len(ROLES)} namespaces")
        net.create_bridge(self.bridge, IPv4Interface(f"{subnet.network_address + 1}/{subnet.prefixlen}"))
        for role in ROLES:
            address = IPv4Interface(f"{self.address(role.name)}/{subnet.prefixlen}")
            net.add_namespace(self.namespace(role.name), self.namespace(role.name), self.bridge, address)

        self.out("redis-1, redis-2 (cache shards), redis-broker")
        for name in ("redis-1", "redis-2", "redis-broker"):
            self._spawn(name)
        for name in ("redis-1", "redis-2", "redis-broker"):
            self._wait_ready(name)
        self._check_bridge()

        self.out("pg-primary: initdb, start")
        self._init_primary()
        self._spawn("pg-primary")
        self._wait_ready("pg-primary")
        self._create_backup_stanza()
        self._bootstrap_primary()
        self.out("pg-replica: pg_basebackup from the primary, start")
        self._clone_replica()
        self._spawn("pg-replica")
        self._wait_ready("pg-replica")

        self.out("pgbouncer (transaction pooling)")
        self._configure_pgbouncer()
        self._spawn("pgbouncer")
        self._wait_ready("pgbouncer")

        self.out("migrate, partitions, static files, demo book")
        self._prepare_database()
        self._wait_streaming()

        self.out("worker, app-1, app-2, app-3")
        for name in ("worker", *APPS):
            self._spawn(name)
        for name in ("worker", *APPS):
            self._wait_ready(name)

        self.out("haproxy")
        self._configure_haproxy()
        self._spawn("haproxy")
        self._wait_ready("haproxy")
        self._wait_healthy()
        self.state["phase"] = "running"
        self._save()

    def _pg_root(self, pg_user: str) -> Path:
        """Where the servers' data goes: under the state dir, unless the server user cannot reach it
        (a checkout under a private home directory): then the system's temporary directory."""
        here = self.state_dir / "nodes"
        here.mkdir(parents=True, exist_ok=True)
        reachable = subprocess.run(  # noqa: S603
            [net.system_tool("setpriv"), f"--reuid={pg_user}", f"--regid={pg_user}", "--init-groups", "--",
             "test", "-x", str(here)],
            check=False, timeout=10,
        )  # fmt: skip
        if reachable.returncode == 0 or pg_user == pwd.getpwuid(os.geteuid()).pw_name:
            return here
        return Path(tempfile.gettempdir()) / f"{self.prefix}-cluster"

    def _check_bridge(self) -> None:
        """Namespaces must reach each other through the bridge; a firewall filtering bridged traffic
        (br_netfilter with a FORWARD policy of DROP, as Docker sets) would stop them."""
        target = f"/dev/tcp/{self.address('redis-1')}/6379"
        probe = subprocess.run(  # noqa: S603
            [net.system_tool("ip"), "netns", "exec", self.namespace("app-1"), "timeout", "3", "bash", "-c",
             f"exec 3<>{target}"],
            capture_output=True, text=True, check=False, timeout=10,
        )  # fmt: skip
        if probe.returncode != 0:
            raise ClusterError(
                f"{self.namespace('app-1')} cannot reach {self.address('redis-1')}:6379 over the bridge "
                f"{self.bridge}: is bridged traffic filtered (net.bridge.bridge-nf-call-iptables=1 with an "
                f"iptables FORWARD policy of DROP)? {probe.stderr.strip()}"
            )

    # --- PostgreSQL ----------------------------------------------------------------------------------------
    def _pg_run(self, node: str, program: str, *args: str, env: dict[str, str] | None = None) -> str:
        """A PostgreSQL tool as the server user, inside the node's namespace."""
        user = self.state["pg_user"]
        command = [net.system_tool("ip"), "netns", "exec", self.namespace(node)]
        if user != pwd.getpwuid(os.geteuid()).pw_name:
            command += [net.system_tool("setpriv"), f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        command += [str(Path(self.state["bindir"]) / program), *args]
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=300, check=False, cwd=self.node_dir(node),
            env={**self._base_env(), "LC_ALL": "C", "PGTZ": "UTC", "HOME": str(self.node_dir(node)), **(env or {})},
        )  # fmt: skip
        with self.log(node).open("a") as log:
            log.write(f"\n=== {program} {' '.join(args)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise NodeFailed(node, f"{program} exited with {done.returncode}", self.log(node))
        return done.stdout

    def _chown_to_server_user(self, *paths: Path) -> None:
        entry = pwd.getpwnam(self.state["pg_user"])
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)

    def _init_primary(self) -> None:
        data = self.pg_data("pg-primary")
        self._chown_to_server_user(data.parent, self.node_dir("pg-primary"), self.node_dir("pg-replica"))
        self._chown_to_server_user(self.pg_data("pg-replica").parent)
        pwfile = data.parent / "initdb.pw"
        write_private(pwfile, self.secrets["postgres_password"] + "\n", owner=self.state["pg_user"])
        try:
            self._pg_run(
                "pg-primary", "initdb", "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        subnet = self.state["subnet"]
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"""
# --- make cluster: a production-like primary ---
listen_addresses = '{self.address("pg-primary")}'
port = 5432
# A socket in the node's own folder, for pgBackRest only (it reaches PostgreSQL through a socket):
# local connections as postgres, by the server user (pg_hba.conf, pg_ident.conf).
unix_socket_directories = '{data.parent}'
# WAL archiving into the pgBackRest repository (deploy/backup, docs/operations.md): every completed
# segment is pushed by pgBackRest, which finds its configuration in PGBACKREST_CONFIG (set in the
# server's environment).
archive_mode = on
archive_command = 'pgbackrest --stanza=fintech archive-push %p'
max_connections = 100
shared_buffers = '128MB'
password_encryption = scram-sha-256
wal_level = replica
max_wal_senders = 10
wal_keep_size = '512MB'
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
fsync = on
synchronous_commit = on
full_page_writes = on
autovacuum = on
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
"""
            )
        # Passwords (SCRAM) from the cluster's subnet only; on the socket, the postgres role for the
        # server user alone (pgBackRest's backups and checks).
        (data / "pg_hba.conf").write_text(
            f"host all all {subnet} scram-sha-256\nhost replication {REPLICATION_ROLE} {subnet} scram-sha-256\n"
            "local all postgres peer map=backup\n"
        )
        (data / "pg_ident.conf").write_text(f"backup {self.state['pg_user']} postgres\n")

    def _create_backup_stanza(self) -> None:
        """The pgBackRest stanza the primary archives its WAL into (deploy/backup/ops.py), and
        pgBackRest's `check`: a WAL segment switched on the primary is found in the repository."""
        from deploy.backup.ops import create_stanza
        from deploy.backup.repo import BackupError

        try:
            repo = create_stanza(self)
        except BackupError as exc:
            raise NodeFailed("pg-primary", f"WAL archiving with pgBackRest: {exc}", self.log("pg-primary")) from exc
        self.out(f"pg-primary: archiving WAL into {repo.path} (pgBackRest stanza {repo.stanza})")

    def connect(
        self, node: str = "pg-primary", dbname: str = DATABASE, *, superuser: bool = False
    ) -> psycopg.Connection:
        """A connection straight to a server (autocommit), as the app's role or as postgres."""
        keys = self.secrets
        user, password = ("postgres", keys["postgres_password"]) if superuser else (APP_ROLE, keys["app_password"])
        return psycopg.connect(
            host=self.address(node), port=5432, user=user, password=password, dbname=dbname,
            autocommit=True, connect_timeout=3,
        )  # fmt: skip

    def _bootstrap_primary(self) -> None:
        keys = self.secrets
        with self.connect("pg-primary", "postgres", superuser=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} WITH REPLICATION LOGIN PASSWORD {}").format(
                    sql.Identifier(REPLICATION_ROLE), sql.Literal(keys["replication_password"])
                )
            )
            conn.execute(
                sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(keys["app_password"])
                )
            )
            # Django then never sends SET TIME ZONE, which transaction pooling would not keep.
            conn.execute(sql.SQL("ALTER ROLE {} SET timezone = 'UTC'").format(sql.Identifier(APP_ROLE)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(APP_ROLE))
            )
        with self.connect("pg-primary", DATABASE, superuser=True) as conn:
            # The migrations create them too (both are trusted extensions); here the app's role
            # needs no privilege beyond owning its database.
            conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def _clone_replica(self) -> None:
        data = self.pg_data("pg-replica")
        self._pg_run(
            "pg-replica", "pg_basebackup", "-h", self.address("pg-primary"), "-p", "5432", "-U", REPLICATION_ROLE,
            "-D", str(data), "-R", "-X", "stream", "-c", "fast",
            env={"PGPASSWORD": self.secrets["replication_password"]},
        )  # fmt: skip
        with (data / "postgresql.conf").open("a") as conf:  # the copy listens on the primary's address
            conf.write(
                f"\n# --- make cluster: the standby ---\nlisten_addresses = '{self.address('pg-replica')}'\n"
                f"unix_socket_directories = '{data.parent}'\n"  # its own, not the primary's socket
            )

    def _wait_streaming(self, timeout: float = 60.0) -> None:
        """Until the replica streams and has replayed everything the primary has flushed."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with (
                    self.connect("pg-primary", superuser=True) as primary,
                    self.connect("pg-replica", superuser=True) as replica,
                ):
                    target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
                    row = replica.execute(
                        "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                        "EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')",
                        [target[0] if target else None],
                    ).fetchone()
                if row == (True, True, True):
                    return
                last = f"in recovery, caught up, streaming: {row}"
            except psycopg.Error as exc:
                last = str(exc).strip()
            time.sleep(0.1)
        raise NodeFailed("pg-replica", f"not streaming after {timeout:.0f} s ({last})", self.log("pg-replica"))

    # --- pgbouncer, HAProxy -------------------------------------------------------------------------------
    def _configure_pgbouncer(self) -> None:
        here = self.node_dir("pgbouncer")
        user = self.state["pg_user"]  # pgbouncer refuses to run as root
        self._chown_to_server_user(here)
        keys = self.secrets
        write_private(
            here / "userlist.txt",
            f'"{APP_ROLE}" "{keys["app_password"]}"\n"{PGBOUNCER_ADMIN}" "{keys["pgbouncer_admin_password"]}"\n',
            owner=user,
        )
        values = {
            "PG_PRIMARY_HOST": self.address("pg-primary"),
            "PG_REPLICA_HOST": self.address("pg-replica"),
            "PG_PORT": "5432",
            "PG_DATABASE": DATABASE,
            "PGBOUNCER_LISTEN_ADDR": self.address("pgbouncer"),
            "PGBOUNCER_PORT": "6432",
            "PGBOUNCER_AUTH_FILE": str(here / "userlist.txt"),
            "PGBOUNCER_ADMIN_USER": PGBOUNCER_ADMIN,
        }
        write_private(here / "pgbouncer.ini", _render("pgbouncer.ini", values), owner=user)

    def pgbouncer_admin(self, command: str) -> list[dict[str, Any]]:
        """A command on pgbouncer's admin console (SHOW POOLS, SHOW CLIENTS, PAUSE, RESUME, RELOAD...).
        The console speaks the simple query protocol only: a client-side-binding cursor."""
        with psycopg.connect(
            host=self.address("pgbouncer"), port=6432, dbname="pgbouncer", user=PGBOUNCER_ADMIN,
            password=self.secrets["pgbouncer_admin_password"], autocommit=True, connect_timeout=3,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:  # fmt: skip
            cursor = conn.execute(command)
            if cursor.description is None:
                return []
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _configure_haproxy(self) -> None:
        here = self.node_dir("haproxy")
        values = {
            "HAPROXY_BIND": f"{self.address('haproxy')}:{HAPROXY_PORT}",
            "HAPROXY_STATS_BIND": f"{self.address('haproxy')}:{STATS_PORT}",
            "HAPROXY_ADMIN_SOCKET": str(here / "admin.sock"),
            "HAPROXY_ERRORS": str(ROOT / "deploy" / "cluster" / "errors"),
            **{f"APP_{n}": f"{self.address(app)}:8000" for n, app in enumerate(APPS, start=1)},
        }
        write_private(here / "haproxy.cfg", _render("haproxy.cfg", values))

    def haproxy_admin(self, command: str, *, master: bool = False, timeout: float = 5.0) -> str:
        """A command on HAProxy's admin socket (`show stat`, `disable server api_nodes/app-1`, `set
        server api_nodes/app-2 state drain`...), or on the master's (`show proc`, `reload`)."""
        path = self.node_dir("haproxy") / ("master.sock" if master else "admin.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)  # the end of the commands: the master's CLI answers only then
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def haproxy_servers(self) -> dict[str, str]:
        """Each app node's state as the balancer sees it (UP, DOWN, MAINT, DRAIN...)."""
        lines = self.haproxy_admin("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        servers = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "api_nodes" and row.get("svname") not in ("FRONTEND", "BACKEND"):
                servers[row["svname"]] = row.get("status", "")
        return servers

    def haproxy_workers(self) -> list[int]:
        """The current workers' pids, from the master's `show proc` (old workers still finishing their
        connections after a reload are listed apart and left out)."""
        current: list[int] = []
        section = ""
        for line in self.haproxy_admin("show proc", master=True).splitlines():
            if line.startswith("#"):
                section = line.strip("# ").lower() if not line.startswith("#<") else section
                continue
            fields = line.split()
            if section == "workers" and len(fields) > 1 and fields[0].isdigit() and fields[1] == "worker":
                current.append(int(fields[0]))
        return current

    def reload_haproxy(self, timeout: float = 15.0) -> None:
        """A graceful reload with the configuration rendered again: SIGUSR2 to the master (what
        `systemctl reload` does); new workers take new connections, old ones finish theirs. Returns
        once a new worker serves and every app node is UP in it."""
        proc = self.proc("haproxy")
        if proc is None or not proc.alive():
            raise ClusterError("haproxy is not running")
        before = set(self.haproxy_workers())
        self._configure_haproxy()
        signal_one(proc, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while True:
            # The master re-executes itself: its socket refuses connections for a moment.
            with contextlib.suppress(OSError):
                workers = set(self.haproxy_workers())
                if workers and not workers & before:
                    break
            if time.monotonic() > deadline or not proc.alive():
                raise NodeFailed("haproxy", f"no new worker {timeout:.0f} s after the reload", self.log("haproxy"))
            time.sleep(0.1)
        self._wait_ready("haproxy", max(1.0, deadline - time.monotonic()))

    # --- the app's database -------------------------------------------------------------------------------
    def manage(self, *args: str, production: bool = True) -> str:
        """`manage.py <args>` against the primary directly (never through pgbouncer: migrations and the
        demo loader keep session state), from the worker's namespace; output appended to logs/manage.log."""
        env = self.manage_env()
        if not production:
            env["APP_ENV"] = "development"
        log = self.logs_dir / "manage.log"
        # In the worker's namespace: one the teardown sweeps, so even the run of an `up` killed midway
        # leaves no manage.py behind.
        done = subprocess.run(  # noqa: S603
            [net.system_tool("ip"), "netns", "exec", self.namespace("worker"), sys.executable,
             str(ROOT / "manage.py"), *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=MANAGE_TIMEOUT, check=False,
        )  # fmt: skip
        with log.open("a") as out:
            out.write(f"\n=== manage.py {' '.join(args)} (exit {done.returncode})\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise NodeFailed(f"manage.py {args[0]}", f"exited with {done.returncode}", log)
        return done.stdout

    def _prepare_database(self) -> None:
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("pgpartition", "--yes", "--skip-delete")
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            self.manage("collectstatic", "--no-input", "-v", "0")
        # load_demo refuses production: it writes in development mode to the same database.
        printed = self.manage("load_demo", production=False)
        lines = printed.splitlines()
        start = next((i for i, line in enumerate(lines) if DEMO_PASSWORD_LINE in line), None)
        if start is not None:
            self.state["demo_password"] = lines[start].split(DEMO_PASSWORD_LINE)[1].strip(" ):")
            self.state["demo_logins"] = [line.split() for line in lines[start + 1 :] if len(line.split()) == 2]
        self._save()

    # --- processes -------------------------------------------------------------------------------------------
    def _argv(self, node: str) -> tuple[list[str], dict[str, str], str | None]:
        """(argv, environment, user) of a node's long-running process."""
        role = ROLE[node]
        address = self.address(node)
        here = self.node_dir(node)
        if role.kind == "redis":
            # The broker must never drop a queued message; cache shards drop their least-used keys.
            policy = "noeviction" if node == "redis-broker" else "allkeys-lru"
            argv = [
                executable("redis-server") or "redis-server", "--bind", address, "--port", str(role.port),
                "--save", "", "--appendonly", "no", "--dir", str(here), "--daemonize", "no",
                "--maxmemory", "256mb", "--maxmemory-policy", policy, "--protected-mode", "no",
            ]  # fmt: skip
            return argv, self._base_env(), None
        if role.kind == "postgres":
            from deploy.backup.ops import config_path

            # PGBACKREST_CONFIG: the configuration archive_command's pgBackRest reads.
            env = {**self._base_env(), "LC_ALL": "C", "HOME": str(here), "PGBACKREST_CONFIG": str(config_path(self))}
            return (
                [str(Path(self.state["bindir"]) / "postgres"), "-D", str(self.pg_data(node))],
                env,
                self.state["pg_user"],
            )
        if role.kind == "pgbouncer":
            env = {**self._base_env(), "HOME": str(here)}
            return [executable("pgbouncer") or "pgbouncer", str(here / "pgbouncer.ini")], env, self.state["pg_user"]
        if role.kind == "haproxy":
            argv = [
                executable("haproxy") or "haproxy", "-W", "-f", str(here / "haproxy.cfg"),
                "-p", str(here / "haproxy.pid"), "-S", f"{here / 'master.sock'},mode,600",
            ]  # fmt: skip
            return argv, self._base_env(), None
        env = self.app_env(node)
        if role.kind == "app":
            argv = [
                str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", address, "--port", str(role.port),
                "--workers", "1", "--blocking-threads", "4", "--workers-kill-timeout", "10", "--no-access-log",
                "config.wsgi:application",
            ]  # fmt: skip
            return argv, env, None
        argv = [
            str(VENV_BIN / "celery"), "-A", "config.celery_app", "worker", "--pool=prefork", "--concurrency", "2",
            "-n", "cluster-worker@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "INFO",
        ]  # fmt: skip
        return argv, env, None

    def _spawn(self, node: str) -> Proc:
        argv, env, user = self._argv(node)
        metrics = self.node_dir(node) / "prometheus"
        if ROLE[node].kind in ("app", "worker"):
            shutil.rmtree(metrics, ignore_errors=True)  # a fresh multiprocess dir per start
            metrics.mkdir(parents=True)
        entry = self.state["nodes"][node]
        entry["log_offset"] = self.log(node).stat().st_size if self.log(node).exists() else 0
        proc = spawn(self.namespace(node), argv, env=env, log=self.log(node), cwd=ROOT, user=user)
        entry["pid"], entry["started"] = proc.pid, proc.started
        self._save()
        return proc

    def _ready(self, node: str) -> tuple[bool, str]:
        """Is the node serving? (yes or no, and what was seen)."""
        role = ROLE[node]
        address = self.address(node)
        if role.kind == "redis":
            import redis

            try:
                return bool(redis.Redis(host=address, port=role.port, socket_timeout=1).ping()), "PONG"
            except redis.RedisError as exc:
                return False, str(exc)
        if role.kind == "postgres":
            try:
                with self.connect(node, "postgres", superuser=True) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                in_recovery = bool(row and row[0])
                return in_recovery == (node == "pg-replica"), f"in recovery: {in_recovery}"
            except psycopg.Error as exc:
                return False, str(exc).strip()
        if role.kind == "pgbouncer":
            try:
                return bool(self.pgbouncer_admin("SHOW VERSION")), "SHOW VERSION answered"
            except psycopg.Error as exc:
                return False, str(exc).strip()
        if role.kind == "app":
            status, _, body = _http(f"http://{address}:{role.port}/api/v1/health")
            return status == 200, f"/api/v1/health: {status or 'no answer'}" + (f" {body}" if status else "")
        if role.kind == "worker":
            offset = int(self.state["nodes"][node].get("log_offset", 0))
            with self.log(node).open("rb") as log:
                log.seek(offset)
                seen = log.read().decode(errors="replace")
            return " ready." in seen, "waiting for the worker's 'ready.' line"
        try:
            servers = self.haproxy_servers()
        except OSError as exc:
            return False, f"admin socket: {exc}"
        status, _, _ = _http(f"{self.balancer_url}/api/v1/ping")
        return bool(servers) and all(s == "UP" for s in servers.values()) and status == 200, f"servers {servers}"

    def _wait_ready(self, node: str, timeout: float | None = None) -> None:
        limit = timeout if timeout is not None else READY_TIMEOUT[ROLE[node].kind]
        deadline = time.monotonic() + limit
        proc = self.proc(node)
        seen = ""
        while time.monotonic() < deadline:
            ok, seen = self._ready(node)
            if ok:
                return
            if proc is None or not proc.alive():
                if proc is not None:
                    reap(proc.pid)
                raise NodeFailed(node, f"its process exited before it was ready ({seen})", self.log(node))
            time.sleep(0.2)
        raise NodeFailed(node, f"not ready after {limit:.0f} s ({seen})", self.log(node))

    def health(self) -> tuple[int, Any, list[str]]:
        """The balancer's /api/v1/health: (status, body, every check that is not ok)."""
        status, _, body = _http(f"{self.balancer_url}/api/v1/health")
        if status == 0 or not isinstance(body, dict):
            return status, body, [f"{self.balancer_url}/api/v1/health: {status or 'no answer'}"]
        problems = []
        for check in body.get("checks", []):
            if check.get("status") == "ok":
                continue
            problems.append(f"{check.get('name')}: {check.get('status')} {check.get('detail', '')}".strip())
        if status != 200:
            problems.insert(0, f"HTTP {status}, status {body.get('status')}")
        return status, body, problems

    def _wait_healthy(self, timeout: float = 60.0) -> None:
        """Until the balancer's /api/v1/health has every check ok: database, replica, cache, broker, worker."""
        deadline = time.monotonic() + timeout
        problems: list[str] = []
        while time.monotonic() < deadline:
            _, _, problems = self.health()
            if not problems:
                return
            time.sleep(0.5)
        raise NodeFailed(
            "haproxy", f"{self.balancer_url}/api/v1/health not healthy after {timeout:.0f} s: {problems}", None
        )

    # --- one node at a time (fault scenarios) ------------------------------------------------------------------
    def start(self, node: str) -> None:
        """Start a stopped node again (its data and configuration stay as they were) and wait until ready."""
        if self.running(node):
            return
        self._spawn(node)
        self._wait_ready(node)

    def stop(self, node: str, timeout: float = STOP_TIMEOUT) -> None:
        """A clean stop: PostgreSQL's fast shutdown, granian's and Celery's graceful ones, HAProxy's
        soft stop; whatever is left in the namespace after `timeout` is killed."""
        proc = self.proc(node)
        if proc is not None and proc.alive():
            self._signal_stop(node, proc)
        left = wait_gone(net.namespace_pids(self.namespace(node)), timeout)
        if left:
            kill_pids(left, signal.SIGKILL)
            wait_gone(left, 5)

    @staticmethod
    def _signal_stop(node: str, proc: Proc) -> None:
        """The signal each program takes as "stop cleanly", to its main process (which stops its own
        children: granian its workers, Celery its pool, the postmaster its backends)."""
        kind = ROLE[node].kind
        if kind == "postgres":
            signal_one(proc, signal.SIGINT)  # fast shutdown: clients cut, everything checkpointed
        elif kind == "haproxy":
            signal_one(proc, signal.SIGUSR1)  # soft stop: the requests in flight finish
        elif kind == "pgbouncer":
            signal_one(proc, signal.SIGINT)  # safe shutdown: the queries in flight finish
        else:
            signal_one(proc, signal.SIGTERM)  # granian's graceful stop, Celery's warm shutdown

    def kill(self, node: str) -> None:
        """SIGKILL to every process of the node: a machine lost, no goodbye to anyone."""
        pids = net.namespace_pids(self.namespace(node))
        kill_pids(pids, signal.SIGKILL)
        wait_gone(pids, 10)

    def pause(self, node: str) -> None:
        """SIGSTOP: the node keeps its connections and state but answers nothing (a hang, a partition)."""
        kill_pids(net.namespace_pids(self.namespace(node)), signal.SIGSTOP)

    def resume(self, node: str) -> None:
        kill_pids(net.namespace_pids(self.namespace(node)), signal.SIGCONT)

    def disconnect(self, node: str) -> None:
        """A network partition: the node's link to the bridge goes down (its processes keep running and
        keep their state; packets both ways are lost, as on a cut cable)."""
        net.ip("link", "set", self.namespace(node), "down")

    def reconnect(self, node: str) -> None:
        net.ip("link", "set", self.namespace(node), "up")

    # --- down --------------------------------------------------------------------------------------------------
    def down(self) -> bool:
        """Stop everything and remove namespaces, interfaces and data; False when there was nothing."""
        with self._locked():
            self.state = self._load()
            if not self.state and not self.state_dir.exists() and not net.leftovers(self.prefix):
                self.out("no cluster is running; nothing to stop")
                return False
            self._teardown()
            return True

    def _teardown(self, *, quiet: bool = False) -> None:
        report = (lambda _: None) if quiet else self.out
        ours = [ns for ns in net.namespaces() if ns.startswith(self.prefix + "-")]
        known = {node: self.proc(node) for node in self.state.get("nodes", {})}
        # What takes requests first (gracefully, in parallel), then what those depended on.
        for group in STOP_GROUPS:
            pids = []
            for node in group:
                proc = known.get(node)
                if proc is not None and proc.alive():
                    self._signal_stop(node, proc)
                else:  # a node whose pid was never recorded (a start cut short): all of its namespace
                    kill_pids(net.namespace_pids(self.namespace(node)), signal.SIGTERM)
                pids += net.namespace_pids(self.namespace(node))
            left = wait_gone(pids, 10)
            if left:
                report(f"{len(left)} process(es) of {', '.join(group)} did not stop in 10 s: killed")
                kill_pids(left, signal.SIGKILL)
        # Anything else in our namespaces, and anything recorded that left them (a recycled pid is not ours).
        stray = [pid for ns in ours for pid in net.namespace_pids(ns)]
        stray += [proc.pid for proc in known.values() if proc is not None and proc.alive()]
        kill_pids(stray, signal.SIGKILL)
        still = wait_gone(stray, 10)
        removed = net.remove(self.prefix)
        if self.logs_dir.exists():
            shutil.rmtree(self.kept_logs, ignore_errors=True)
            shutil.copytree(self.logs_dir, self.kept_logs)
        pg_root = self.state.get("pg_root")
        if pg_root and not Path(pg_root).is_relative_to(self.state_dir):
            shutil.rmtree(pg_root, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state = {}
        left_behind = net.leftovers(self.prefix)
        if still or left_behind:
            raise ClusterError(f"could not remove everything: processes {still}, {left_behind}")
        namespaces = sum(item.startswith("namespace") for item in removed)
        report(f"stopped; removed {namespaces} namespaces, the bridge and veth pairs, and {self.state_dir}")
        if self.kept_logs.exists():
            report(f"the logs are kept in {self.kept_logs}/")

    # --- status ------------------------------------------------------------------------------------------------
    def status(self) -> list[dict[str, str]]:
        """One row per node: address, pid, whether its process runs and what a probe of it says."""
        rows = []
        for role in ROLES:
            node = role.name
            proc = self.proc(node)
            alive = proc is not None and proc.alive()
            detail = ""
            if alive:
                with contextlib.suppress(Exception):
                    ok, detail = self._ready(node)
                    detail = ("ok" if ok else "not ready") + (f" ({detail})" if detail and not ok else "")
            if alive and node == "pg-replica" and detail == "ok":
                detail = self._replication_detail()
            rows.append(
                {
                    "node": node,
                    "namespace": self.namespace(node),
                    "address": f"{self.address(node)}" + (f":{role.port}" if role.port else ""),
                    "pid": str(proc.pid) if proc else "-",
                    "state": ("running" if alive else "stopped") + (f", {detail}" if detail else ""),
                }
            )
        return rows

    def _replication_detail(self) -> str:
        try:
            with self.connect("pg-primary", superuser=True) as conn:
                row = conn.execute(
                    "SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication"
                ).fetchone()
        except psycopg.Error as exc:
            return f"primary unreachable: {exc}"
        return f"ok ({row[0]}, {int(row[1] or 0)} bytes behind)" if row else "ok (not streaming)"

    def summary(self) -> list[str]:
        """What `make cluster` prints at the end: where to go, where everything is, how to log in."""
        lines = [
            f"balancer:  {self.balancer_url}/api/v1/health   (docs: {self.balancer_url}/api/v1/docs)",
            f"stats:     {self.stats_url}",
            "nodes:",
        ]
        for role in ROLES:
            port = f":{role.port}" if role.port else ""
            lines.append(f"  {role.name:<13} {self.address(role.name) + port:<19} netns {self.namespace(role.name)}")
        lines.append(f"logs:      {self.logs_dir}/<node>.log")
        logins = self.state.get("demo_logins") or []
        if logins:
            lines.append(f"demo logins (password for all: {self.state.get('demo_password', '?')}):")
            lines += [f"  {role:<7} {name}" for role, name in logins]
        lines.append(
            f"try:       curl -s {self.balancer_url}/api/v1/auth/token -H 'Content-Type: application/json' "
            f"""-d '{{"username": "client1", "password": "{self.state.get("demo_password", "...")}"}}'"""
        )
        lines.append("stop:      make cluster-stop")
        return lines
