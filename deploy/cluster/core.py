"""The production topology on one machine, each node in a network namespace of its own (issues 16, 17).

    etcd-1/2/3   one etcd cluster (Debian's etcd-server): Patroni's consensus store
    pg-1, pg-2   PostgreSQL under Patroni (Debian's patroni): one leader, one synchronous standby,
                 automatic failover, pg_rewind for an old primary rejoining; the leader archives its
                 WAL with pgBackRest (deploy/backup); settings in deploy/patroni/patroni.yml
    dbproxy      HAProxy in front of them: :5000 the current primary, :5001 a replica, each found
                 through Patroni's REST API (GET /primary, GET /replica), checked every second
    pgbouncer    transaction pooling: database `fintech` -> dbproxy:5000, `fintech_replica` -> :5001
    redis-1/2    the sharded read cache (REDIS_URLS)
    redis-broker the Celery broker, apart from the cache shards
    app-1/2/3    the API under granian, connected only through pgbouncer
    worker       one Celery worker
    haproxy      the balancer in front of the three app nodes, health-checked every second

`Cluster.up()` builds it all and returns once it is healthy, leaving the processes running on their
own; `Cluster.down()` stops them and removes namespaces, interfaces and data. Everything the
cluster knows about itself (addresses, pids, logs) is in `<state dir>/state.json`, so a later
process (`status`, `down`, a stress scenario, a failover drill) picks it up from there. The
node-level controls (`start`, `stop`, `kill`, `pause`, `resume`, `disconnect`, `reload_haproxy`,
`haproxy_admin`, `pgbouncer_admin`) and Patroni's view (`members`, `leader`, `wait_sync`) are what
fault scenarios and the failover drills (deploy/ha) need.
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
import yaml
from psycopg import sql

from deploy.cluster import net
from deploy.cluster.proc import Proc, kill_pids, reap, signal_one, spawn, wait_gone

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ROOT / ".data" / "cluster"
TEMPLATES = Path(__file__).resolve().parent
PATRONI_SETTINGS = ROOT / "deploy" / "patroni" / "patroni.yml"  # shared with docker-compose
VENV_BIN = Path(sys.executable).parent

DATABASE = "fintech"  # the database on the servers, and pgbouncer's name for the primary's pool
REPLICA_DATABASE = "fintech_replica"  # pgbouncer's name for the replica's pool
APP_ROLE = "fintech"
REPLICATION_ROLE = "replicator"
PGBOUNCER_ADMIN = "pgbouncer_admin"
HAPROXY_PORT = 8080
STATS_PORT = 8404
DBPROXY_PRIMARY_PORT = 5000  # dbproxy: the current primary
DBPROXY_REPLICA_PORT = 5001  # dbproxy: a streaming replica
DBPROXY_STATS_PORT = 7000
PATRONI_PORT = 8008  # Patroni's REST API (dbproxy.cfg checks it there)
DEMO_PASSWORD_LINE = "password for all:"  # noqa: S105 - what load_demo prints before it

# Every wait has a bound: a node that is not ready by then fails `up`, which names it and its log.
READY_TIMEOUT = {
    "etcd": 30.0, "redis": 15.0, "patroni": 120.0, "dbproxy": 30.0, "pgbouncer": 15.0, "app": 90.0, "worker": 90.0,
    "haproxy": 30.0,
}  # fmt: skip
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
    kind: str  # etcd | redis | patroni | dbproxy | pgbouncer | app | worker | haproxy


# In start order: what a node depends on comes before it.
ROLES: tuple[Role, ...] = (
    Role("etcd-1", "etcd1", 61, 2379, "etcd"),
    Role("etcd-2", "etcd2", 62, 2379, "etcd"),
    Role("etcd-3", "etcd3", 63, 2379, "etcd"),
    Role("redis-1", "redis1", 21, 6379, "redis"),
    Role("redis-2", "redis2", 22, 6379, "redis"),
    Role("redis-broker", "broker", 23, 6379, "redis"),
    Role("pg-1", "pg1", 11, 5432, "patroni"),
    Role("pg-2", "pg2", 12, 5432, "patroni"),
    Role("dbproxy", "dbproxy", 14, DBPROXY_PRIMARY_PORT, "dbproxy"),
    Role("pgbouncer", "pgbnc", 13, 6432, "pgbouncer"),
    Role("worker", "worker", 51, 0, "worker"),
    Role("app-1", "app1", 31, 8000, "app"),
    Role("app-2", "app2", 32, 8000, "app"),
    Role("app-3", "app3", 33, 8000, "app"),
    Role("haproxy", "haproxy", 41, HAPROXY_PORT, "haproxy"),
)
ROLE = {role.name: role for role in ROLES}
APPS = tuple(role.name for role in ROLES if role.kind == "app")
PGS = tuple(role.name for role in ROLES if role.kind == "patroni")
ETCDS = tuple(role.name for role in ROLES if role.kind == "etcd")
# Stopping: what takes requests first, then what they depend on (each group in parallel).
STOP_GROUPS = (
    ("haproxy", *APPS, "worker"),
    ("pgbouncer", "dbproxy"),
    PGS,
    ("redis-1", "redis-2", "redis-broker", *ETCDS),
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
    absent = [name for name in ("haproxy", "pgbouncer", "pgbackrest", "patroni", "etcd") if executable(name) is None]
    if absent:
        missing.append(
            f"{' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} not installed: `make cluster` installs "
            f"{'it' if len(absent) == 1 else 'them'} "
            f"(apt-get install -y {' '.join('etcd-server' if name == 'etcd' else name for name in absent)})"
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


def _http(url: str, timeout: float = 3.0, *, method: str = "GET", body: Any = None) -> tuple[int, dict[str, str], Any]:
    """One request (JSON `body`, if any): (status, lower-cased headers, parsed JSON or text); status 0
    when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own http:// URL
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    except (OSError, ValueError):
        return 0, {}, None
    text = raw.decode(errors="replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return status, {k.lower(): v for k, v in headers.items()}, parsed


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
        """A node's own folder; the server user's nodes (etcd, Patroni) under pg_root, which it can reach."""
        if node in ROLE and ROLE[node].kind in ("patroni", "etcd"):
            return Path(self.state["pg_root"]) / node
        return self.state_dir / "nodes" / node

    def pg_data(self, node: str) -> Path:
        return self.node_dir(node) / "data"

    def patroni_config(self, node: str) -> Path:
        return self.node_dir(node) / "patroni.yml"

    def patroni_url(self, node: str) -> str:
        return f"http://{self.address(node)}:{PATRONI_PORT}"

    @property
    def balancer_url(self) -> str:
        return f"http://{self.address('haproxy')}:{HAPROXY_PORT}"

    @property
    def stats_url(self) -> str:
        return f"http://{self.address('haproxy')}:{STATS_PORT}/"

    def database_url(self, *, direct: bool = True, replica: bool = False) -> str:
        """The app role's URL: a session of its own on the current primary or a replica through dbproxy
        (`direct`), else through pgbouncer's pool (which goes through dbproxy too)."""
        password = self.secrets["app_password"]
        if direct:
            port = DBPROXY_REPLICA_PORT if replica else DBPROXY_PRIMARY_PORT
            url = f"postgresql://{APP_ROLE}:{password}@{self.address('dbproxy')}:{port}/{DATABASE}"
            # Patroni's GET /primary answers 200 as soon as its node holds the leader key, a moment
            # before the promotion has made the server writable: libpq then refuses that server instead
            # of a migration meeting "cannot execute ... in a read-only transaction".
            return url if replica else url + "?target_session_attrs=read-write"
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
        """For `manage.py` against the cluster (check_book, a shell): the primary, not through pgbouncer."""
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
                "data": str(self.pg_data(role.name) if role.kind == "patroni" else self.node_dir(role.name)),
                "pid": None,
                "started": None,
            }
            self.node_dir(role.name).mkdir(parents=True, exist_ok=True)
            if role.kind in ("patroni", "etcd"):
                self._chown_to_server_user(self.node_dir(role.name))
        self._save()

        self.out(f"network {subnet}: bridge {self.bridge} ({subnet.network_address + 1}), {len(ROLES)} namespaces")
        net.create_bridge(self.bridge, IPv4Interface(f"{subnet.network_address + 1}/{subnet.prefixlen}"))
        for role in ROLES:
            address = IPv4Interface(f"{self.address(role.name)}/{subnet.prefixlen}")
            net.add_namespace(self.namespace(role.name), self.namespace(role.name), self.bridge, address)

        self.out("etcd-1, etcd-2, etcd-3 (one etcd cluster); redis-1, redis-2 (cache shards), redis-broker")
        first = (*ETCDS, "redis-1", "redis-2", "redis-broker")
        for name in first:
            self._spawn(name)
        for name in first:
            self._wait_ready(name)
        self._check_bridge()

        self.out("pg-1: Patroni bootstraps the first leader (initdb)")
        for node in PGS:
            self._write_patroni_config(node)
        self._spawn("pg-1")
        self._wait_ready("pg-1")
        # "running" comes a moment before the bootstrap is done: PostgreSQL runs, still in recovery,
        # until Patroni has taken the leader key and promoted it (CI's loaded machine met that window).
        self._wait_primary("pg-1", READY_TIMEOUT["patroni"])
        self._bootstrap_roles("pg-1")
        self._create_backup_stanza()
        self.out("pg-2: Patroni clones the leader (pg_basebackup) and streams from it, synchronously")
        self._spawn("pg-2")
        self._wait_ready("pg-2")
        self.wait_sync(READY_TIMEOUT["patroni"])

        self.out("dbproxy (HAProxy: :5000 primary, :5001 replica, by Patroni's REST API); pgbouncer on it")
        self._configure_dbproxy()
        self._spawn("dbproxy")
        self._wait_ready("dbproxy")
        self._configure_pgbouncer()
        self._spawn("pgbouncer")
        self._wait_ready("pgbouncer")

        self.out("migrate, partitions, static files, demo book")
        self._prepare_database()
        self._wait_replayed()

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

    # --- PostgreSQL under Patroni --------------------------------------------------------------------------
    def _chown_to_server_user(self, *paths: Path) -> None:
        entry = pwd.getpwnam(self.state["pg_user"])
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)

    def _create_backup_stanza(self) -> None:
        """The pgBackRest stanza the primary archives its WAL into (deploy/backup/ops.py), and
        pgBackRest's `check`: a WAL segment switched on the primary is found in the repository."""
        from deploy.backup.ops import create_stanza
        from deploy.backup.repo import BackupError

        try:
            repo = create_stanza(self)
        except BackupError as exc:
            raise NodeFailed("pg-1", f"WAL archiving with pgBackRest: {exc}", self.log("pg-1")) from exc
        self.out(f"pg-1: archiving WAL into {repo.path} (pgBackRest stanza {repo.stanza})")

    def _write_patroni_config(self, node: str) -> None:
        """deploy/patroni/patroni.yml (what every node shares, docker-compose's too) with this node's
        own settings: its name and addresses, the etcd members, its data, passwords and archive_command."""
        keys = self.secrets
        here = self.node_dir(node)
        address = self.address(node)
        config = yaml.safe_load(PATRONI_SETTINGS.read_text())
        from deploy.backup.ops import config_path
        from deploy.backup.repo import STANZA

        # Each node archives with its own data directory (pgBackRest reads its pg_control), into the
        # one repository; only the leader archives (archive_mode on, not always).
        archive = f"pgbackrest --config={config_path(self)} --stanza={STANZA} --pg1-path={self.pg_data(node)} "
        archive += "archive-push %p"
        config.update(
            {
                "name": node,
                "restapi": {"listen": f"{address}:{PATRONI_PORT}", "connect_address": f"{address}:{PATRONI_PORT}"},
                "etcd3": {"hosts": [f"{self.address(e)}:2379" for e in ETCDS]},
            }
        )
        postgresql = config.setdefault("postgresql", {})
        postgresql.update(
            {
                "listen": f"{address}:5432",
                "connect_address": f"{address}:5432",
                "data_dir": str(self.pg_data(node)),
                "bin_dir": self.state["bindir"],
                "pgpass": str(here / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": keys["postgres_password"]},
                    "replication": {"username": REPLICATION_ROLE, "password": keys["replication_password"]},
                },
                # Passwords (SCRAM) from the cluster's subnet only; on the node's socket, peer (pgBackRest).
                "pg_hba": [
                    "local all all peer",
                    f"host all all {self.state['subnet']} scram-sha-256",
                    f"host replication {REPLICATION_ROLE} {self.state['subnet']} scram-sha-256",
                ],
            }
        )
        postgresql.setdefault("parameters", {}).update(
            {"unix_socket_directories": str(here), "archive_command": archive}
        )
        write_private(self.patroni_config(node), json.dumps(config, indent=2), owner=self.state["pg_user"])

    def patroni(self, node: str) -> dict[str, Any]:
        """Patroni's own view of its node (GET /patroni): role, state, timeline...; {} when it is down."""
        status, _, body = _http(f"{self.patroni_url(node)}/patroni", timeout=2.0)
        return body if status in (200, 503) and isinstance(body, dict) else {}

    def members(self) -> list[dict[str, Any]]:
        """The PostgreSQL nodes as Patroni sees them in etcd (GET /cluster on whichever node answers)."""
        for node in PGS:
            status, _, body = _http(f"{self.patroni_url(node)}/cluster", timeout=2.0)
            if status == 200 and isinstance(body, dict):
                return list(body.get("members", []))
        return []

    def leader(self) -> str | None:
        leaders = [m["name"] for m in self.members() if m.get("role") == "leader"]
        return str(leaders[0]) if len(leaders) == 1 else None

    def etcd_leader(self) -> str | None:
        """The etcd member that is Raft's leader (the v3 gateway's maintenance status), if one answers."""
        for node in ETCDS:
            url = f"http://{self.address(node)}:2379/v3/maintenance/status"
            status, _, body = _http(url, timeout=2.0, method="POST", body={})
            if not (status == 200 and isinstance(body, dict)):
                continue
            if body.get("header", {}).get("member_id") == body.get("leader"):
                return node
        return None

    def wait_sync(self, timeout: float = 60.0) -> str:
        """Until there is exactly one leader and a streaming synchronous standby; returns the leader."""
        deadline = time.monotonic() + timeout
        members: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            members = self.members()
            roles = sorted(str(m.get("role")) for m in members)
            if roles == ["leader", "sync_standby"] and all(m.get("state") in ("running", "streaming") for m in members):
                return next(str(m["name"]) for m in members if m.get("role") == "leader")
            time.sleep(0.3)
        raise ClusterError(f"no leader with a synchronous standby after {timeout:.0f} s: {members}")

    def _wait_primary(self, node: str, timeout: float) -> None:
        """Until `node` holds the leader key and its Patroni says it runs as the primary."""
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = self.patroni(node)
            if seen.get("role") in ("master", "primary") and seen.get("state") == "running" and self.leader() == node:
                return
            time.sleep(0.2)
        raise NodeFailed(node, f"not the running primary after {timeout:.0f} s (Patroni: {seen})", self.log(node))

    def wait_one_leader(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        members: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            members = self.members()
            leaders = [m for m in members if m.get("role") == "leader" and m.get("state") == "running"]
            if len(leaders) == 1:
                return str(leaders[0]["name"])
            time.sleep(0.3)
        raise ClusterError(f"no single running leader after {timeout:.0f} s: {members}")

    def set_dynamic(self, **settings: Any) -> None:
        """Change Patroni's dynamic configuration in etcd (PATCH /config, what `patronictl edit-config` does)."""
        status, body = 0, None
        for node in PGS:
            status, _, body = _http(f"{self.patroni_url(node)}/config", timeout=5.0, method="PATCH", body=settings)
            if status == 200:
                return
        raise ClusterError(f"PATCH /config {settings} refused by every Patroni node ({status}: {body})")

    def connect(
        self, node: str | None = None, dbname: str = DATABASE, *, superuser: bool = False
    ) -> psycopg.Connection:
        """A connection straight to a server (autocommit), as the app's role or as postgres; `node`
        None: the current leader."""
        if node is None:
            node = self.leader()
            if node is None:
                raise ClusterError(f"no PostgreSQL leader now (Patroni: {self.members()})")
        keys = self.secrets
        user, password = ("postgres", keys["postgres_password"]) if superuser else (APP_ROLE, keys["app_password"])
        return psycopg.connect(
            host=self.address(node), port=5432, user=user, password=password, dbname=dbname,
            autocommit=True, connect_timeout=3,
        )  # fmt: skip

    def _bootstrap_roles(self, leader: str) -> None:
        keys = self.secrets
        with self.connect(leader, "postgres", superuser=True) as conn:
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
        with self.connect(leader, DATABASE, superuser=True) as conn:
            # The migrations create them too (both are trusted extensions); here the app's role
            # needs no privilege beyond owning its database.
            conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def _wait_replayed(self, timeout: float = 60.0) -> None:
        """Until the standby streams and has replayed everything the leader has flushed (synchronous
        mode waits for its flush, not its replay: reads on it right after `up` must see the demo book)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                leader = self.leader()
                standby = next((pg for pg in PGS if pg != leader), None)
                if leader is not None and standby is not None:
                    with (
                        self.connect(leader, superuser=True) as primary,
                        self.connect(standby, superuser=True) as replica,
                    ):
                        target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
                        row = replica.execute(
                            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                            "EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')",
                            [target[0] if target else None],
                        ).fetchone()
                    if row == (True, True, True):
                        return
                    last = f"{standby}: in recovery, caught up, streaming: {row}"
            except psycopg.Error as exc:
                last = str(exc).strip()
            time.sleep(0.1)
        raise NodeFailed("pg-2", f"the standby has not replayed the leader's WAL after {timeout:.0f} s ({last})", None)

    def local_sql(self, node: str, query: str, *, database: str = "postgres", timeout: float = 3.0) -> tuple[str, str]:
        """`psql -c query` as the superuser from inside the node's own namespace, on its own address:
        what a client on that machine sees, also while the node is cut off. ("ok", output), ("error",
        what the server or libpq said) or ("no answer", ...) when nothing came back within `timeout`
        (psql is then killed: a commit left waiting for a synchronous standby is never acknowledged)."""
        conninfo = f"host={self.address(node)} port=5432 user=postgres dbname={database} connect_timeout=2"
        psql = str(Path(self.state["bindir"]) / "psql")
        env = {**self._base_env(), "PGPASSWORD": self.secrets["postgres_password"]}
        try:
            done = subprocess.run(  # noqa: S603
                [net.system_tool("ip"), "netns", "exec", self.namespace(node), psql, "-XAtq", "-v", "ON_ERROR_STOP=1",
                 "-d", conninfo, "-c", query],
                env=env, capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return "no answer", f"nothing within {timeout:.0f} s"
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            return "error", said[-1] if said else f"psql exited with {done.returncode}"
        return "ok", done.stdout.strip()

    def local_patroni(self, node: str, timeout: float = 5.0) -> dict[str, Any]:
        """Patroni's view of its node (GET /patroni) asked from inside the node's namespace: answers
        while the node is cut off from the others; {} when it does not."""
        url = f"{self.patroni_url(node)}/patroni"
        code = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n    body = urllib.request.urlopen(sys.argv[1], timeout=3).read()\n"
            "except urllib.error.HTTPError as e:\n    body = e.read()\n"
            "sys.stdout.write(body.decode())\n"
        )
        try:
            done = subprocess.run(  # noqa: S603
                [net.system_tool("ip"), "netns", "exec", self.namespace(node), sys.executable, "-c", code, url],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
            body = json.loads(done.stdout)
        except (subprocess.TimeoutExpired, ValueError):
            return {}
        return body if isinstance(body, dict) else {}

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
            "PG_PRIMARY_HOST": self.address("dbproxy"),
            "PG_PRIMARY_PORT": str(DBPROXY_PRIMARY_PORT),
            "PG_REPLICA_HOST": self.address("dbproxy"),
            "PG_REPLICA_PORT": str(DBPROXY_REPLICA_PORT),
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

    def _configure_dbproxy(self) -> None:
        here = self.node_dir("dbproxy")
        values = {
            "DBPROXY_PRIMARY_BIND": f"{self.address('dbproxy')}:{DBPROXY_PRIMARY_PORT}",
            "DBPROXY_REPLICA_BIND": f"{self.address('dbproxy')}:{DBPROXY_REPLICA_PORT}",
            "DBPROXY_STATS_BIND": f"{self.address('dbproxy')}:{DBPROXY_STATS_PORT}",
            "DBPROXY_ADMIN_SOCKET": str(here / "admin.sock"),
            **{f"PG_{n}": f"{self.address(pg)}:5432" for n, pg in enumerate(PGS, start=1)},
        }
        write_private(here / "haproxy.cfg", _render("dbproxy.cfg", values))

    def dbproxy_servers(self) -> dict[tuple[str, str], str]:
        """{(listener, node): UP/DOWN...} of dbproxy's `primary` and `replicas` listeners."""
        return {
            (proxy, server): state
            for (proxy, server), state in self._haproxy_stat("dbproxy").items()
            if proxy in ("primary", "replicas")
        }

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

    def haproxy_admin(self, command: str, *, master: bool = False, timeout: float = 5.0, node: str = "haproxy") -> str:
        """A command on HAProxy's admin socket (`show stat`, `disable server api_nodes/app-1`, `set
        server api_nodes/app-2 state drain`...), or on the master's (`show proc`, `reload`); `node`
        "dbproxy" for the database's HAProxy."""
        path = self.node_dir(node) / ("master.sock" if master else "admin.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)  # the end of the commands: the master's CLI answers only then
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def _haproxy_stat(self, node: str) -> dict[tuple[str, str], str]:
        """{(proxy, server): status} from `show stat` of the HAProxy `node` (servers only)."""
        lines = self.haproxy_admin("show stat", node=node).splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        servers = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("svname") not in (None, "FRONTEND", "BACKEND"):
                servers[(row.get("pxname", ""), row["svname"])] = row.get("status", "")
        return servers

    def haproxy_servers(self) -> dict[str, str]:
        """Each app node's state as the balancer sees it (UP, DOWN, MAINT, DRAIN...)."""
        servers = self._haproxy_stat("haproxy").items()
        return {server: state for (proxy, server), state in servers if proxy == "api_nodes"}

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
        if role.kind == "etcd":
            members = ",".join(f"{e}=http://{self.address(e)}:2380" for e in ETCDS)
            argv = [
                executable("etcd") or "etcd", "--name", node, "--data-dir", str(here / "data"),
                "--listen-client-urls", f"http://{address}:2379", "--advertise-client-urls", f"http://{address}:2379",
                "--listen-peer-urls", f"http://{address}:2380", "--initial-advertise-peer-urls", f"http://{address}:2380",
                "--initial-cluster", members, "--initial-cluster-token", self.prefix, "--initial-cluster-state", "new",
                "--heartbeat-interval", "100", "--election-timeout", "1000", "--log-level", "warn",
            ]  # fmt: skip
            return argv, {**self._base_env(), "HOME": str(here)}, self.state["pg_user"]
        if role.kind == "patroni":
            env = {**self._base_env(), "HOME": str(here), "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
            return [executable("patroni") or "patroni", str(self.patroni_config(node))], env, self.state["pg_user"]
        if role.kind == "pgbouncer":
            env = {**self._base_env(), "HOME": str(here)}
            return [executable("pgbouncer") or "pgbouncer", str(here / "pgbouncer.ini")], env, self.state["pg_user"]
        if role.kind in ("haproxy", "dbproxy"):
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
        if role.kind == "etcd":
            status, _, body = _http(f"http://{address}:2379/health", timeout=1.0)
            return status == 200 and isinstance(body, dict) and body.get("health") == "true", f"/health: {body}"
        if role.kind == "patroni":
            patroni = self.patroni(node)
            return patroni.get("state") == "running", f"Patroni: {patroni.get('role')} {patroni.get('state')}"
        if role.kind == "dbproxy":
            try:
                behind = self.dbproxy_servers()
            except OSError as exc:
                return False, f"admin socket: {exc}"
            primaries = [s for (proxy, s), state in behind.items() if proxy == "primary" and state == "UP"]
            return len(primaries) == 1, f"servers {behind}"
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
    def start(self, node: str, *, wait: bool = True) -> None:
        """Start a stopped node again (its data and configuration stay as they were) and, with `wait`,
        until it is ready."""
        if self.running(node):
            return
        self._spawn(node)
        if wait:
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
        if kind == "haproxy" or kind == "dbproxy":
            signal_one(proc, signal.SIGUSR1)  # soft stop: the requests in flight finish
        elif kind == "pgbouncer":
            signal_one(proc, signal.SIGINT)  # safe shutdown: the queries in flight finish
        else:
            # granian's graceful stop, Celery's warm shutdown, Patroni's (PostgreSQL's fast shutdown,
            # the leader key released: the standby takes over at once), etcd's
            signal_one(proc, signal.SIGTERM)

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
        members = {str(m.get("name")): m for m in self.members()} if self.state else {}
        for role in ROLES:
            node = role.name
            proc = self.proc(node)
            alive = proc is not None and proc.alive()
            detail = ""
            if alive:
                with contextlib.suppress(Exception):
                    ok, detail = self._ready(node)
                    detail = ("ok" if ok else "not ready") + (f" ({detail})" if detail and not ok else "")
            if node in members:
                member = members[node]
                lag = member.get("lag")
                detail += f" [{member.get('role')}, {member.get('state')}, timeline {member.get('timeline')}"
                detail += f", lag {lag}]" if lag is not None else "]"
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

    def summary(self) -> list[str]:
        """What `make cluster` prints at the end: where to go, where everything is, how to log in."""
        lines = [
            f"balancer:  {self.balancer_url}/api/v1/health   (docs: {self.balancer_url}/api/v1/docs)",
            f"stats:     {self.stats_url}",
            f"database:  primary {self.address('dbproxy')}:{DBPROXY_PRIMARY_PORT}, replicas "
            f"{self.address('dbproxy')}:{DBPROXY_REPLICA_PORT} (dbproxy's stats "
            f"http://{self.address('dbproxy')}:{DBPROXY_STATS_PORT}/), pgbouncer {self.address('pgbouncer')}:6432",
            f"Patroni:   {', '.join(self.patroni_url(pg) + '/cluster' for pg in PGS)}",
            f"           patronictl -c {self.patroni_config('pg-1')} list",
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
        lines.append("drills:    make failover-drill    (python -m deploy.ha partition-drill | sync-cost)")
        lines.append("stop:      make cluster-stop")
        return lines
