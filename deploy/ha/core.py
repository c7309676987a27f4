"""Automatic failover on one machine (issue 17): Patroni + etcd, each node in a network namespace.

    etcd-1/2/3   one etcd cluster (Debian's etcd-server), Patroni's DCS (etcd3 API)
    pg-1, pg-2   PostgreSQL managed by Patroni (Debian's patroni): one leader, one synchronous standby,
                 pg_rewind for an old primary rejoining, data checksums
    dbproxy      HAProxy in front of the database: :5000 the primary, :5001 a replica, each found through
                 Patroni's REST API (GET /primary, GET /replica on :8008), checked every second
    app-1        the API under granian; DATABASE_URL -> dbproxy:5000, DATABASE_REPLICA_URLS -> dbproxy:5001

A module of its own beside `deploy/cluster` (which has no failover manager), reusing its network and
process helpers. No Redis and no Celery worker here (REDIS_URL=none: a local-memory cache, tasks in
process): the topology is about the database. `HaCluster.up()` returns once everything is healthy
and the standby is synchronous; `down()` stops every process and removes namespaces, interfaces and
data. What the cluster knows about itself is in `<state dir>/state.json`.
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
from typing import Any

import psycopg
from psycopg import sql

from deploy.cluster import net
from deploy.cluster.core import executable, pg_tools, write_private
from deploy.cluster.proc import Proc, kill_pids, reap, signal_one, spawn, wait_gone

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ROOT / ".data" / "ha"
VENV_BIN = Path(sys.executable).parent

SCOPE = "fintech-ha"  # Patroni's cluster name (its keys in etcd: /service/fintech-ha/...)
DATABASE = "fintech"
APP_ROLE = "fintech"
REPLICATION_ROLE = "replicator"
PRIMARY_PORT = 5000  # dbproxy: the current primary
REPLICA_PORT = 5001  # dbproxy: a streaming replica
STATS_PORT = 7000
PATRONI_PORT = 8008
APP_PORT = 8000
DEMO_PASSWORD_LINE = "password for all:"  # noqa: S105 - what load_demo prints before it
SECRET_NAMES = ("secret_key", "jwt_signing_key", "postgres_password", "app_password", "replication_password")

# Patroni's timing (in etcd, /config): the leader key lives `ttl` seconds unless renewed; each node
# runs its loop every `loop_wait`; a DCS or PostgreSQL call is retried for `retry_timeout`. Patroni
# wants ttl >= loop_wait + 2 * retry_timeout. A dead leader is replaced after at most about
# ttl + loop_wait (its key expires, the next loop of the standby takes it and promotes).
TTL = 10
LOOP_WAIT = 1
RETRY_TIMEOUT = 4

READY_TIMEOUT = {"etcd": 30.0, "patroni": 120.0, "haproxy": 30.0, "app": 90.0}
MANAGE_TIMEOUT = 600.0


@dataclass(frozen=True)
class Role:
    name: str
    short: str  # namespace and host-side veth: "<prefix>-<short>", at most 15 characters
    host: int  # last octet of its address
    port: int
    kind: str  # etcd | patroni | haproxy | app


ROLES: tuple[Role, ...] = (
    Role("etcd-1", "etcd1", 11, 2379, "etcd"),
    Role("etcd-2", "etcd2", 12, 2379, "etcd"),
    Role("etcd-3", "etcd3", 13, 2379, "etcd"),
    Role("pg-1", "pg1", 21, 5432, "patroni"),
    Role("pg-2", "pg2", 22, 5432, "patroni"),
    Role("dbproxy", "dbproxy", 31, PRIMARY_PORT, "haproxy"),
    Role("app-1", "app1", 41, APP_PORT, "app"),
)
ROLE = {role.name: role for role in ROLES}
ETCDS = tuple(r.name for r in ROLES if r.kind == "etcd")
PGS = tuple(r.name for r in ROLES if r.kind == "patroni")
STOP_GROUPS = (("app-1", "dbproxy"), PGS, ETCDS)


class HaError(RuntimeError):
    """The HA cluster cannot do what was asked; the message says why."""


class NodeFailed(HaError):
    def __init__(self, node: str, reason: str, log: Path | None) -> None:
        self.node, self.reason, self.log = node, reason, log
        tail = ""
        if log is not None and log.exists():
            tail = "\n".join(f"    {line}" for line in log.read_text(errors="replace").splitlines()[-25:])
        where = f"\n  its log: {log}" if log is not None else ""
        super().__init__(f"{node} failed: {reason}{where}" + (f"\n  last lines:\n{tail}" if tail else ""))


def say(message: str) -> None:
    print(f"[ha {time.strftime('%H:%M:%S')}] {message}", flush=True)


def prerequisites() -> list[str]:
    """What this machine lacks for `up`, one line each."""
    missing = []
    if os.geteuid() != 0:
        missing.append("the HA cluster needs root: network namespaces, veth pairs, a bridge (run `sudo make ha`)")
    absent = [(tool, package) for tool, package in (("patroni", "patroni"), ("etcd", "etcd-server"),
              ("haproxy", "haproxy")) if executable(tool) is None]  # fmt: skip
    if absent:
        packages = " ".join(package for _, package in absent)
        missing.append(
            f"{', '.join(tool for tool, _ in absent)} not installed: `make ha` installs them "
            f"(apt-get install -y {packages}, with services kept from starting)"
        )
    for name, package in (("ip", "iproute2"), ("setpriv", "util-linux")):
        if executable(name) is None:
            missing.append(f"{name} is not installed (Debian: apt-get install {package})")
    if not (VENV_BIN / "granian").exists():
        missing.append(f"{VENV_BIN / 'granian'} is missing (make .venv/.installed)")
    return missing


def http_json(url: str, *, method: str = "GET", body: Any = None, timeout: float = 2.0) -> tuple[int, Any]:
    """(status, parsed JSON or text); status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own http:// URL
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (OSError, ValueError):
        return 0, None
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class HaCluster:
    """The HA topology whose state lives in `state_dir` (`.data/ha` by default)."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, *, out: Callable[[str], None] = say) -> None:
        self.state_dir = state_dir.resolve()
        self.out = out
        self.key = net.cluster_key(self.state_dir)
        # "ha" + 4 hex digits: `make cluster`'s names start with "fc", so the two never share one.
        self.prefix = "ha" + self.key[:4]
        self.bridge = f"{self.prefix}-br"
        self.state_file = self.state_dir / "state.json"
        self.secrets_file = self.state_dir / "secrets.json"
        self.logs_dir = self.state_dir / "logs"
        self.kept_logs = self.state_dir.with_name(self.state_dir.name + "-logs")
        self.state: dict[str, Any] = self._load()

    # --- what is known ------------------------------------------------------------------------------
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
        return Path(self.state["pg_root"]) / node if ROLE[node].kind == "patroni" else self.state_dir / "nodes" / node

    def pg_data(self, node: str) -> Path:
        return self.node_dir(node) / "data"

    def patroni_config(self, node: str) -> Path:
        return self.node_dir(node) / "patroni.yml"

    def patroni_url(self, node: str) -> str:
        return f"http://{self.address(node)}:{PATRONI_PORT}"

    @property
    def api_url(self) -> str:
        return f"http://{self.address('app-1')}:{APP_PORT}"

    @property
    def stats_url(self) -> str:
        return f"http://{self.address('dbproxy')}:{STATS_PORT}/"

    def database_url(self, *, replica: bool = False, host: str | None = None) -> str:
        """The app role's URL through dbproxy (the primary's port, or the replicas'), or straight to `host`."""
        password = self.secrets["app_password"]
        if host is not None:
            return f"postgresql://{APP_ROLE}:{password}@{host}:5432/{DATABASE}"
        if replica:
            return f"postgresql://{APP_ROLE}:{password}@{self.address('dbproxy')}:{REPLICA_PORT}/{DATABASE}"
        # Patroni's GET /primary answers 200 as soon as its node holds the leader key, a moment before
        # the promotion has made the server writable: HAProxy may hand a new connection to a server
        # still in recovery. libpq then refuses it (the app answers 503 and the client retries) instead
        # of the app meeting "cannot execute INSERT in a read-only transaction" (a 500) on its first write.
        return (
            f"postgresql://{APP_ROLE}:{password}@{self.address('dbproxy')}:{PRIMARY_PORT}/{DATABASE}"
            "?target_session_attrs=read-write"
        )

    def proc(self, node: str) -> Proc | None:
        entry = self.state.get("nodes", {}).get(node, {})
        return Proc(entry["pid"], entry["started"]) if entry.get("pid") else None

    def running(self, node: str) -> bool:
        proc = self.proc(node)
        return proc is not None and proc.alive()

    def is_up(self) -> bool:
        return self.state.get("phase") == "running" and all(self.running(r.name) for r in ROLES)

    # --- environments -------------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "LANG", "TZ") if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        return env

    def app_env(self, *, production: bool = True, direct: str | None = None) -> dict[str, str]:
        """The API node's environment; `direct` (a server's address) is manage.py's: that server only."""
        keys = self.secrets
        env = self._base_env()
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
                "APP_ENV": "production" if production else "development",
                "DEBUG": "0",
                "SECRET_KEY": keys["secret_key"],
                "JWT_SIGNING_KEY": keys["jwt_signing_key"],
                "ALLOWED_HOSTS": f"{self.address('app-1')},127.0.0.1,localhost",
                "APP_INSTANCE": "fintech-credits-ha",
                "REDIS_URL": "none",  # no Redis here: a local-memory cache, tasks in process
                "LOG_LEVEL": "WARNING",
                "PROMETHEUS_MULTIPROC_DIR": str(self.node_dir("app-1") / "prometheus"),
            }
        )
        if direct is not None:
            env["DATABASE_URL"] = self.database_url(host=direct)
        else:
            env["DATABASE_URL"] = self.database_url()
            env["DATABASE_REPLICA_URLS"] = self.database_url(replica=True)
        return env

    def manage_env(self) -> dict[str, str]:
        """For manage.py against the current primary (through dbproxy's primary port)."""
        env = self.app_env(production=False)
        env.pop("DATABASE_REPLICA_URLS")
        env.pop("PROMETHEUS_MULTIPROC_DIR")
        return env

    # --- up -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, timeout: float = 300.0) -> Iterator[None]:
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
                        raise HaError(f"another `up` or `down` holds {lock_path} for {timeout:.0f} s") from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def up(self) -> None:
        missing = prerequisites()
        if missing:
            raise HaError("cannot start the HA cluster:\n  - " + "\n  - ".join(missing))
        with self._locked():
            self.state = self._load()
            if self.is_up():
                self.out(f"the HA cluster is already running ({self.state_dir}); nothing to do")
                return
            if self.state or self.state_dir.exists() or net.leftovers(self.prefix):
                self.out("a previous HA cluster was left behind: removing it first")
                self._teardown(quiet=True)
            started = time.monotonic()
            try:
                self._build()
            except BaseException as exc:
                self.out("start failed: tearing down what was started")
                with contextlib.suppress(Exception):
                    self._teardown(quiet=True)
                if isinstance(exc, NodeFailed) and exc.log is not None:
                    raise NodeFailed(exc.node, exc.reason, self.kept_logs / exc.log.name) from exc
                raise
            self.out(f"healthy in {time.monotonic() - started:.0f} s")

    def _build(self) -> None:
        bindir, pg_user = pg_tools()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o755)
        self.logs_dir.mkdir(exist_ok=True)
        subnet = net.choose_subnet(self.key, self.bridge)
        self.state = {
            "version": 1,
            "phase": "starting",
            "prefix": self.prefix,
            "subnet": str(subnet),
            "bindir": str(bindir),
            "pg_user": pg_user,
            "pg_root": str(self._pg_root(pg_user)),
            "nodes": {r.name: {"pid": None, "started": None} for r in ROLES},
        }
        self._save()
        write_private(self.secrets_file, json.dumps({n: secrets.token_urlsafe(32) for n in SECRET_NAMES}, indent=2))
        for role in ROLES:
            self.node_dir(role.name).mkdir(parents=True, exist_ok=True)
        self.out(f"network {subnet}: bridge {self.bridge}, {len(ROLES)} namespaces")
        net.create_bridge(self.bridge, IPv4Interface(f"{subnet.network_address + 1}/{subnet.prefixlen}"))
        for role in ROLES:
            address = IPv4Interface(f"{self.address(role.name)}/{subnet.prefixlen}")
            net.add_namespace(self.namespace(role.name), self.namespace(role.name), self.bridge, address)

        self.out("etcd-1, etcd-2, etcd-3 (one etcd cluster)")
        for node in ETCDS:
            self._chown(self.node_dir(node))
            self._spawn(node)
        for node in ETCDS:
            self._wait_ready(node)

        self.out("pg-1: Patroni bootstraps the first leader")
        for node in PGS:
            self._chown(self.node_dir(node))
            self._write_patroni_config(node)
        self._spawn("pg-1")
        self._wait_ready("pg-1")
        self._wait_role("pg-1", "master", READY_TIMEOUT["patroni"])
        self._bootstrap_roles("pg-1")
        self.out("pg-2: Patroni clones the leader (pg_basebackup) and streams from it")
        self._spawn("pg-2")
        self._wait_ready("pg-2")
        self.wait_sync(READY_TIMEOUT["patroni"])

        self.out("dbproxy (HAProxy: :5000 primary, :5001 replica, by Patroni's REST API)")
        self._write_haproxy_config()
        self._spawn("dbproxy")
        self._wait_ready("dbproxy")

        self.out("migrate, partitions, demo book (straight to the leader)")
        self._prepare_database(self.address("pg-1"))

        self.out("app-1 (granian) on dbproxy")
        self._spawn("app-1")
        self._wait_ready("app-1")
        self.state["phase"] = "running"
        self._save()

    def _pg_root(self, pg_user: str) -> Path:
        here = self.state_dir / "nodes"
        here.mkdir(parents=True, exist_ok=True)
        reachable = subprocess.run(  # noqa: S603
            [net.system_tool("setpriv"), f"--reuid={pg_user}", f"--regid={pg_user}", "--init-groups", "--",
             "test", "-x", str(here)],
            check=False, timeout=10,
        )  # fmt: skip
        if reachable.returncode == 0:
            return here
        return Path(tempfile.gettempdir()) / f"{self.prefix}-ha"

    def _chown(self, path: Path) -> None:
        entry = pwd.getpwnam(self.state["pg_user"])
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    # --- configuration ----------------------------------------------------------------------------------
    def _write_patroni_config(self, node: str) -> None:
        """Patroni's configuration (JSON, which is YAML): DCS etcd3 on the three members; bootstrap's
        dynamic settings go into etcd once, by the first node (change them with `patronictl edit-config`)."""
        keys = self.secrets
        subnet = self.state["subnet"]
        here = self.node_dir(node)
        address = self.address(node)
        config = {
            "scope": SCOPE,
            "namespace": "/service/",
            "name": node,
            "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
            "restapi": {"listen": f"{address}:{PATRONI_PORT}", "connect_address": f"{address}:{PATRONI_PORT}"},
            "etcd3": {"hosts": [f"{self.address(e)}:2379" for e in ETCDS]},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    # A commit is acknowledged once the synchronous standby has flushed it; only that
                    # standby may be promoted. Not strict: with the standby gone the primary goes on
                    # alone (asynchronously) rather than refusing every write (docs/operations.md).
                    "synchronous_mode": True,
                    "synchronous_mode_strict": False,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_connections": 100,
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "256MB",
                            "synchronous_commit": "on",
                            "hot_standby_feedback": "on",
                            "wal_receiver_status_interval": "1s",
                        },
                    },
                },
                "initdb": [
                    {"encoding": "UTF8"},
                    {"locale": "C"},
                    "data-checksums",  # pg_rewind needs them or wal_log_hints (on too)
                    {"auth-local": "peer"},
                    {"auth-host": "scram-sha-256"},
                ],
            },
            "postgresql": {
                "listen": f"{address}:5432",
                "connect_address": f"{address}:5432",
                "data_dir": str(self.pg_data(node)),
                "bin_dir": self.state["bindir"],
                "pgpass": str(here / "pgpass"),
                # A standby's clone starts with an immediate checkpoint, not a spread one (minutes).
                "basebackup": [{"checkpoint": "fast"}],
                "authentication": {
                    "superuser": {"username": "postgres", "password": keys["postgres_password"]},
                    "replication": {"username": REPLICATION_ROLE, "password": keys["replication_password"]},
                },
                "parameters": {
                    "unix_socket_directories": str(here),
                    "password_encryption": "scram-sha-256",
                    "shared_buffers": "128MB",
                    "timezone": "UTC",
                    "log_timezone": "UTC",
                    "log_min_messages": "warning",
                    "log_line_prefix": "%m [%p] %q%u@%d ",
                },
                "pg_hba": [
                    "local all all peer",
                    f"host all all {subnet} scram-sha-256",
                    f"host replication {REPLICATION_ROLE} {subnet} scram-sha-256",
                ],
            },
            "watchdog": {"mode": "off"},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }
        write_private(self.patroni_config(node), json.dumps(config, indent=2), owner=self.state["pg_user"])

    def _write_haproxy_config(self) -> None:
        here = self.node_dir("dbproxy")
        servers = "\n".join(f"    server {pg} {self.address(pg)}:5432 check port {PATRONI_PORT}" for pg in PGS)
        text = f"""# dbproxy: the database's entry point; written by deploy/ha (python -m deploy.ha up).
global
    master-worker
    stats socket {here / "admin.sock"} mode 600 level admin
    hard-stop-after 10s
    log stdout format raw local0 notice

defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
    # Each server is checked on Patroni's REST API every second; one failed check takes it out and
    # cuts its sessions, so no client keeps talking to a demoted or dead primary.
    default-server inter 1s fastinter 500ms downinter 1s fall 1 rise 1 on-marked-down shutdown-sessions

listen primary
    bind {self.address("dbproxy")}:{PRIMARY_PORT}
    option httpchk
    http-check send meth GET uri /primary
    http-check expect status 200
{servers}

listen replicas
    bind {self.address("dbproxy")}:{REPLICA_PORT}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /replica
    http-check expect status 200
{servers}

frontend stats
    mode http
    bind {self.address("dbproxy")}:{STATS_PORT}
    stats enable
    stats uri /
    stats refresh 2s
"""
        write_private(here / "haproxy.cfg", text)

    # --- processes ----------------------------------------------------------------------------------------
    def _argv(self, node: str) -> tuple[list[str], dict[str, str], str | None]:
        role = ROLE[node]
        address = self.address(node)
        here = self.node_dir(node)
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
        if role.kind == "haproxy":
            argv = [
                executable("haproxy") or "haproxy", "-W", "-f", str(here / "haproxy.cfg"),
                "-p", str(here / "haproxy.pid"), "-S", f"{here / 'master.sock'},mode,600",
            ]  # fmt: skip
            return argv, self._base_env(), None
        argv = [
            str(VENV_BIN / "granian"), "--interface", "wsgi", "--host", address, "--port", str(role.port),
            "--workers", "2", "--blocking-threads", "4", "--workers-kill-timeout", "10", "--no-access-log",
            "config.wsgi:application",
        ]  # fmt: skip
        return argv, self.app_env(), None

    def _spawn(self, node: str) -> Proc:
        argv, env, user = self._argv(node)
        if ROLE[node].kind == "app":
            metrics = self.node_dir(node) / "prometheus"
            shutil.rmtree(metrics, ignore_errors=True)
            metrics.mkdir(parents=True)
        proc = spawn(self.namespace(node), argv, env=env, log=self.log(node), cwd=ROOT, user=user)
        self.state["nodes"][node] = {"pid": proc.pid, "started": proc.started}
        self._save()
        return proc

    def patroni(self, node: str) -> dict[str, Any]:
        """Patroni's own view of its node (GET /patroni): role, state, timeline...; {} when it is down."""
        status, body = http_json(f"{self.patroni_url(node)}/patroni", timeout=2.0)
        return body if status in (200, 503) and isinstance(body, dict) else {}

    def members(self) -> list[dict[str, Any]]:
        """The cluster as Patroni sees it in etcd (GET /cluster on whichever node answers)."""
        for node in PGS:
            status, body = http_json(f"{self.patroni_url(node)}/cluster", timeout=2.0)
            if status == 200 and isinstance(body, dict):
                return list(body.get("members", []))
        return []

    def etcd_leader(self) -> str | None:
        """The etcd member that is Raft's leader (the v3 gateway's maintenance status), if one answers."""
        for node in ETCDS:
            url = f"http://{self.address(node)}:2379/v3/maintenance/status"
            status, body = http_json(url, method="POST", body={}, timeout=2.0)
            if (
                status == 200
                and isinstance(body, dict)
                and body.get("header", {}).get("member_id") == body.get("leader")
            ):
                return node
        return None

    def leader(self) -> str | None:
        leaders = [m["name"] for m in self.members() if m.get("role") == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def _ready(self, node: str) -> tuple[bool, str]:
        role = ROLE[node]
        address = self.address(node)
        if role.kind == "etcd":
            status, body = http_json(f"http://{address}:2379/health", timeout=1.0)
            return status == 200 and isinstance(body, dict) and body.get("health") == "true", f"/health: {body}"
        if role.kind == "patroni":
            seen = self.patroni(node)
            return seen.get("state") == "running", f"Patroni: {seen.get('role')} {seen.get('state')}"
        if role.kind == "haproxy":
            try:
                servers = self.haproxy_servers()
            except OSError as exc:
                return False, f"admin socket: {exc}"
            primaries = [s for (proxy, s), state in servers.items() if proxy == "primary" and state == "UP"]
            return len(primaries) == 1, f"servers {servers}"
        status, body = http_json(f"{self.api_url}/api/v1/health", timeout=3.0)
        return status == 200, f"/api/v1/health: {status or 'no answer'} {body if status else ''}"

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

    def _wait_role(self, node: str, role: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = self.patroni(node)
            if seen.get("role") == role and seen.get("state") == "running":
                return
            time.sleep(0.2)
        raise NodeFailed(node, f"not a running {role} after {timeout:.0f} s (Patroni: {seen})", self.log(node))

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
        raise HaError(f"no leader with a synchronous standby after {timeout:.0f} s: {members}")

    def wait_one_leader(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        members: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            members = self.members()
            leaders = [m for m in members if m.get("role") == "leader" and m.get("state") == "running"]
            if len(leaders) == 1:
                return str(leaders[0]["name"])
            time.sleep(0.3)
        raise HaError(f"no single running leader after {timeout:.0f} s: {members}")

    def set_dynamic(self, **settings: Any) -> None:
        """Change Patroni's dynamic configuration in etcd (PATCH /config, what `patronictl edit-config` does)."""
        for node in PGS:
            status, body = http_json(f"{self.patroni_url(node)}/config", method="PATCH", body=settings, timeout=5.0)
            if status == 200:
                return
        raise HaError(f"PATCH /config {settings} refused by every Patroni node ({status}: {body})")

    # --- the database ----------------------------------------------------------------------------------
    def connect(self, node: str, dbname: str = DATABASE, *, superuser: bool = False) -> psycopg.Connection:
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
            conn.execute(sql.SQL("ALTER ROLE {} SET timezone = 'UTC'").format(sql.Identifier(APP_ROLE)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(APP_ROLE))
            )
        with self.connect(leader, DATABASE, superuser=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def manage(self, *args: str, direct: str | None = None, timeout: float = MANAGE_TIMEOUT) -> str:
        """`manage.py <args>` in development mode from app-1's namespace, on the primary (through
        dbproxy) or straight to `direct`; output appended to logs/manage.log."""
        env = self.app_env(production=False, direct=direct) if direct else self.manage_env()
        env.pop("DATABASE_REPLICA_URLS", None)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = self.logs_dir / "manage.log"
        done = subprocess.run(  # noqa: S603
            [net.system_tool("ip"), "netns", "exec", self.namespace("app-1"), sys.executable,
             str(ROOT / "manage.py"), *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        with log.open("a") as out:
            out.write(f"\n=== manage.py {' '.join(args)} (exit {done.returncode})\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise NodeFailed(f"manage.py {args[0]}", f"exited with {done.returncode}", log)
        return done.stdout

    def _prepare_database(self, leader_address: str) -> None:
        self.manage("migrate", "--no-input", "-v", "0", direct=leader_address)
        self.manage("pgpartition", "--yes", "--skip-delete", direct=leader_address)
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            self.manage("collectstatic", "--no-input", "-v", "0", direct=leader_address)
        lines = self.manage("load_demo", direct=leader_address).splitlines()
        start = next((i for i, line in enumerate(lines) if DEMO_PASSWORD_LINE in line), None)
        if start is not None:
            self.state["demo_password"] = lines[start].split(DEMO_PASSWORD_LINE)[1].strip(" ):")
            self.state["demo_logins"] = [line.split() for line in lines[start + 1 :] if len(line.split()) == 2]
        self._save()

    # --- HAProxy --------------------------------------------------------------------------------------------
    def haproxy_admin(self, command: str, timeout: float = 3.0) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.node_dir("dbproxy") / "admin.sock"))
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def haproxy_servers(self) -> dict[tuple[str, str], str]:
        """{(listener, server): UP/DOWN...} for the primary and replicas listeners."""
        lines = self.haproxy_admin("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        servers = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") in ("primary", "replicas") and row.get("svname") not in ("FRONTEND", "BACKEND"):
                servers[(row["pxname"], row["svname"])] = row.get("status", "")
        return servers

    # --- one node at a time --------------------------------------------------------------------------------
    def start(self, node: str, *, wait: bool = True) -> None:
        if self.running(node):
            return
        self._spawn(node)
        if wait:
            self._wait_ready(node)

    def stop(self, node: str, timeout: float = 15.0) -> None:
        """A clean stop (SIGTERM; HAProxy's soft stop); whatever is left after `timeout` is killed."""
        proc = self.proc(node)
        if proc is not None and proc.alive():
            signal_one(proc, signal.SIGUSR1 if ROLE[node].kind == "haproxy" else signal.SIGTERM)
        left = wait_gone(net.namespace_pids(self.namespace(node)), timeout)
        if left:
            kill_pids(left, signal.SIGKILL)
            wait_gone(left, 5)

    def kill(self, node: str) -> None:
        """SIGKILL to every process of the node (Patroni, the postmaster, its backends): a machine lost."""
        pids = net.namespace_pids(self.namespace(node))
        kill_pids(pids, signal.SIGKILL)
        left = wait_gone(pids, 10)
        if left:
            raise HaError(f"{node}: processes {left} survived SIGKILL for 10 s")

    # --- a network partition ---------------------------------------------------------------------------
    def disconnect(self, node: str) -> None:
        """A network partition: the node's link to the bridge goes down (the host side of its veth pair;
        its processes keep running and keep their state, packets both ways are lost, as on a cut cable)."""
        net.ip("link", "set", self.namespace(node), "down")

    def reconnect(self, node: str) -> None:
        net.ip("link", "set", self.namespace(node), "up")

    def connected(self, node: str) -> bool:
        return "state DOWN" not in net.ip("link", "show", self.namespace(node), check=False)

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

    # --- down ----------------------------------------------------------------------------------------------
    def down(self) -> bool:
        with self._locked():
            self.state = self._load()
            if not self.state and not self.state_dir.exists() and not net.leftovers(self.prefix):
                self.out("no HA cluster is running; nothing to stop")
                return False
            self._teardown()
            return True

    def _teardown(self, *, quiet: bool = False) -> None:
        report = (lambda _: None) if quiet else self.out
        ours = [ns for ns in net.namespaces() if ns.startswith(self.prefix + "-")]
        known = {node: self.proc(node) for node in self.state.get("nodes", {})}
        for group in STOP_GROUPS:
            pids = []
            for node in group:
                proc = known.get(node)
                if proc is not None and proc.alive():
                    signal_one(proc, signal.SIGUSR1 if ROLE[node].kind == "haproxy" else signal.SIGTERM)
                pids += net.namespace_pids(self.namespace(node))
            left = wait_gone(pids, 20)
            if left:
                report(f"{len(left)} process(es) of {', '.join(group)} did not stop in 20 s: killed")
                kill_pids(left, signal.SIGKILL)
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
            raise HaError(f"could not remove everything: processes {still}, {left_behind}")
        namespaces = sum(item.startswith("namespace") for item in removed)
        report(f"stopped; removed {namespaces} namespaces, the bridge and veth pairs, and {self.state_dir}")
        if self.kept_logs.exists():
            report(f"the logs are kept in {self.kept_logs}/")

    # --- status ----------------------------------------------------------------------------------------------
    def status(self) -> list[dict[str, str]]:
        rows = []
        members = {str(m.get("name")): m for m in self.members()} if self.state else {}
        for role in ROLES:
            node = role.name
            proc = self.proc(node)
            alive = proc is not None and proc.alive()
            detail = ""
            if alive:
                with contextlib.suppress(Exception):
                    ok, seen = self._ready(node)
                    detail = "ok" if ok else f"not ready ({seen})"
            if node in members:
                m = members[node]
                lag = m.get("lag")
                detail += f" [{m.get('role')}, {m.get('state')}, timeline {m.get('timeline')}"
                detail += f", lag {lag}]" if lag is not None else "]"
            rows.append(
                {
                    "node": node,
                    "namespace": self.namespace(node),
                    "address": f"{self.address(node)}:{role.port}",
                    "pid": str(proc.pid) if proc else "-",
                    "state": ("running" if alive else "stopped") + (f", {detail}" if detail else ""),
                }
            )
        return rows

    def summary(self) -> list[str]:
        lines = [
            f"API:       {self.api_url}/api/v1/health",
            f"database:  primary {self.address('dbproxy')}:{PRIMARY_PORT}, replicas "
            f"{self.address('dbproxy')}:{REPLICA_PORT} (HAProxy stats {self.stats_url})",
            f"Patroni:   {', '.join(self.patroni_url(pg) + '/cluster' for pg in PGS)}",
            f"           patronictl -c {self.patroni_config('pg-1')} list",
            "nodes:",
        ]
        for role in ROLES:
            lines.append(f"  {role.name:<8} {self.address(role.name)}:{role.port:<6} netns {self.namespace(role.name)}")
        lines.append(f"logs:      {self.logs_dir}/<node>.log")
        lines.append("drill:     python -m deploy.ha failover-drill     stop: make ha-stop")
        return lines
