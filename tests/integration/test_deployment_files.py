"""docker-compose.yml cannot be run here (no Docker engine): check that it parses, that every command
it names exists in this project, that the PostgreSQL cluster's pieces (etcd, the Patroni nodes, dbproxy,
pgbouncer, pgBackRest) agree with one another, and run our services' commands in compose order against
a scratch PostgreSQL database (migrate, then the api answering /health, the worker and beat starting)."""

from __future__ import annotations

import configparser
import http.client
import importlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlparse
from zoneinfo import ZoneInfo

import psycopg
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from psycopg import sql

from adapters.db.partitioning import add_months, month_start, partition_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = COMPOSE["services"]
# Run by their images' own commands (official images; our Debian images: deploy/pgbouncer, deploy/patroni).
IMAGE_SERVICES = {"etcd-1", "etcd-2", "etcd-3", "pg-1", "pg-2", "dbproxy", "redis", "redis-cache-1", "redis-cache-2"}
IMAGE_SERVICES |= {"pgbouncer", "haproxy"}
# Pass-through services: here, a URL naming one points at what it fronts (PostgreSQL, through pgbouncer
# or dbproxy).
FRONTS = {"pgbouncer": "postgres", "dbproxy": "postgres"}
TEMPLATE_VARIABLE = re.compile(r"\$\{(\w+)\}")
# The PostgreSQL nodes: built from deploy/patroni; the etcd members: etcd's image.
PATRONI_NODES = sorted(name for name, service in SERVICES.items() if service.get("build") == "./deploy/patroni")
ETCD_MEMBERS = sorted(name for name, service in SERVICES.items() if "etcd" in service.get("image", ""))
PATRONI_DIR = ROOT / "deploy" / "patroni"


def _command(service: dict) -> list[str]:
    command = service.get("command")
    assert command, "every service of ours names its command"
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_expected_services_are_present() -> None:
    assert {"redis", "api", "worker", "beat", "migrate"} <= set(SERVICES)
    assert {"haproxy", "pgbouncer", "redis-cache-1", "redis-cache-2"} <= set(SERVICES)
    assert PATRONI_NODES == ["pg-1", "pg-2"] and ETCD_MEMBERS == ["etcd-1", "etcd-2", "etcd-3"]
    assert "dbproxy" in SERVICES


def test_the_balancer_is_the_one_door_and_names_every_api_replica() -> None:
    """HAProxy publishes the API's port; the replicas publish nothing; its servers APP_1..N are the
    replicas' container names (the project's name, the service, the index)."""
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"haproxy"}, published
    replicas = SERVICES["api"]["deploy"]["replicas"]
    assert replicas >= 2
    servers = {k: v for k, v in SERVICES["haproxy"]["environment"].items() if re.fullmatch(r"APP_\d+", k)}
    assert servers == {f"APP_{n}": f"{COMPOSE['name']}-api-{n}:8000" for n in range(1, replicas + 1)}


def _mounted_template(service: str) -> tuple[str, str]:
    """(the template a service mounts from deploy/, its path in the container)."""
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./deploy/") and source.endswith((".cfg", ".ini")):
            return (ROOT / source).read_text(), target
    pytest.fail(f"{service} mounts no template from deploy/")


def test_the_templates_get_every_variable_they_use() -> None:
    """The files `make cluster` fills are filled in compose from each service's environment (HAProxy
    expands them itself, in front of the app and as dbproxy; pgbouncer's start script with envsubst,
    adding its auth file and admin). pgbackrest.conf: test_the_patroni_start_script_*."""
    for balancer in ("haproxy", "dbproxy"):
        template, _ = _mounted_template(balancer)
        used = set(TEMPLATE_VARIABLE.findall(template))
        assert used and used <= set(SERVICES[balancer]["environment"]), (balancer, used)
    pgbouncer, target = _mounted_template("pgbouncer")
    start = (ROOT / "deploy" / "pgbouncer" / "start.sh").read_text()
    assert target in start
    exported = set(re.findall(r"export ((?:\w+=\S+ ?)+)", start)[0].replace("=", " ").split()[::2])
    assert set(TEMPLATE_VARIABLE.findall(pgbouncer)) <= set(SERVICES["pgbouncer"]["environment"]) | exported


def _env(service: str) -> dict[str, str]:
    """A service's environment as compose gives it (the operator's .env interpolated)."""
    return {k: interpolate(str(v), OPERATOR_ENV) for k, v in SERVICES[service].get("environment", {}).items()}


def _port(address: str) -> int:
    """The port of "host:port", ":port" or a URL."""
    return int((urlparse(address).port if "://" in address else address.rsplit(":", 1)[1]) or 0)


def test_the_app_goes_through_pgbouncer_and_migrations_do_not() -> None:
    """The app through pgbouncer's transaction pooling; migrate (DDL) to the primary, by dbproxy."""
    api = _env("api")
    assert urlparse(api["DATABASE_URL"]).hostname == "pgbouncer" and api["DB_PGBOUNCER"] == "1"
    assert all(urlparse(url).hostname == "pgbouncer" for url in api["DATABASE_REPLICA_URLS"].split(","))
    migrate = _env("migrate")
    target = urlparse(migrate["DATABASE_URL"])
    assert target.hostname == "dbproxy" and migrate["DB_PGBOUNCER"] == "0"
    assert target.port == _port(_env("dbproxy")["DBPROXY_PRIMARY_BIND"])


@pytest.mark.parametrize("name", sorted(set(SERVICES) - IMAGE_SERVICES))
def test_every_command_exists(name: str) -> None:
    argv = _command(SERVICES[name])
    program = argv[0]
    if program == "python":
        assert argv[1] == "manage.py" and (ROOT / "manage.py").exists()
        assert argv[2] in get_commands(), f"no management command {argv[2]}"
    elif program == "granian":
        # Installed with the project's dependencies, next to the interpreter running the tests.
        assert shutil.which("granian", path=str(Path(sys.executable).parent)) or shutil.which("granian")
        module, attribute = argv[-1].split(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    elif program == "celery":
        assert argv[1] == "-A"
        app = importlib.import_module(argv[2]).app
        assert argv[3] in {"worker", "beat"}
        assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    elif program == "bash":
        script = argv[1].replace("/deploy/", "deploy/")
        assert (ROOT / script).exists(), script
    else:
        pytest.fail(f"unexpected program {program!r} in service {name}")


def test_mounted_files_exist() -> None:
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_dockerfile_command_is_the_api_command() -> None:
    assert "config.wsgi:application" in DOCKERFILE
    assert "config.wsgi:application" in SERVICES["api"]["command"]


# --- The PostgreSQL cluster: etcd, the Patroni nodes, dbproxy, pgbouncer, pgBackRest ----------------


def _volumes(service: str) -> dict[str, str]:
    """A service's volumes as {source: target}."""
    return dict(volume.split(":")[:2] for volume in SERVICES[service].get("volumes", []))


def _names_a_host(value: str, host: str) -> bool:
    return re.search(rf"(?<![\w.-]){re.escape(host)}(?![\w.-])", value) is not None


def test_the_patroni_settings_keep_every_commit_and_archive_the_wal() -> None:
    patroni = yaml.safe_load((PATRONI_DIR / "patroni.yml").read_text())
    dcs = patroni["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True
    assert dcs["postgresql"]["parameters"]["archive_mode"] in ("on", True)


@pytest.mark.parametrize("node", PATRONI_NODES)
def test_the_patroni_nodes_mount_the_shared_settings_where_their_start_script_reads_them(node: str) -> None:
    """patroni.yml and the pgbackrest.conf template, mounted read-only at the paths start.sh reads; the
    backup repository one volume shared by every node, at the path start.sh gives pgBackRest; the data
    directory inside a volume of the node's own."""
    start = (PATRONI_DIR / "start.sh").read_text()
    mounts = {volume.split(":")[0]: volume.split(":")[1:] for volume in SERVICES[node]["volumes"]}
    for source in ("./deploy/patroni/patroni.yml", "./deploy/backup/pgbackrest.conf"):
        target, mode = mounts[source]
        assert mode == "ro" and f":-{target}}}" in start, (source, target)
    named = {source: target for source, (target, *_) in mounts.items() if not source.startswith("./")}
    shared = {source: target for source, target in named.items() if all(source in _volumes(n) for n in PATRONI_NODES)}
    assert len(shared) == 1 and set(shared) <= set(COMPOSE["volumes"]), shared
    assert f"BACKUP_REPO:-{next(iter(shared.values()))}}}" in start
    own = set(named) - set(shared)
    data_dir = _env(node)["PATRONI_POSTGRESQL_DATA_DIR"]
    assert [s for s in own if data_dir.startswith(named[s] + "/")], (own, data_dir)
    assert not own & {s for other in PATRONI_NODES if other != node for s in _volumes(other)}


@pytest.mark.parametrize("node", PATRONI_NODES)
def test_the_patroni_start_script_archives_into_the_stanza_it_configures(node: str, tmp_path: Path) -> None:
    """start.sh run with the node's compose environment and a stand-in `patroni` (the mounted files at
    their repository paths, its output under tmp_path): the configuration Patroni would read merges
    patroni.yml with the node's own file; its archive_command names the pgBackRest configuration
    start.sh filled and a stanza that configuration has, for this node's data directory, port and
    socket, and the repository on the shared volume."""
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "patroni").write_text(f'#!/bin/sh\nprintf %s "$*" > {tmp_path}/patroni-args\n')
    (stand_in / "patroni").chmod(0o755)
    backup_config = tmp_path / "pgbackrest.conf"
    env = {
        **_env(node),
        "PATH": f"{stand_in}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "SHARED_CONFIG": str(PATRONI_DIR / "patroni.yml"),
        "BACKUP_CONFIG_TEMPLATE": str(ROOT / "deploy" / "backup" / "pgbackrest.conf"),
        "PGBACKREST_CONFIG": str(backup_config),
    }
    run = subprocess.run(["bash", str(PATRONI_DIR / "start.sh")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

    config_dir = Path((tmp_path / "patroni-args").read_text())
    config: dict = {}
    for path in sorted(config_dir.glob("*.y*ml")):  # as Patroni reads a directory: merged in name order
        _merge(config, yaml.safe_load(path.read_text()))
    assert config["bootstrap"]["dcs"]["synchronous_mode"] is True  # the shared file is in
    parameters = config["postgresql"]["parameters"]
    archive = shlex.split(parameters["archive_command"])
    options = dict(arg[2:].split("=", 1) for arg in archive if arg.startswith("--") and "=" in arg)
    assert archive[0] == "pgbackrest" and archive[-2:] == ["archive-push", "%p"], archive
    assert options["config"] == str(backup_config)

    rendered = backup_config.read_text()
    assert "${" not in rendered
    backup = configparser.ConfigParser(interpolation=None)
    backup.read_string(rendered)
    stanza = backup[options["stanza"]]
    node_env = _env(node)
    assert stanza["pg1-path"] == node_env["PATRONI_POSTGRESQL_DATA_DIR"]
    assert int(stanza["pg1-port"]) == _port(node_env["PATRONI_POSTGRESQL_LISTEN"])
    assert stanza["pg1-socket-path"] == parameters["unix_socket_directories"]
    assert f"BACKUP_REPO:-{backup['global']['repo1-path']}}}" in (PATRONI_DIR / "start.sh").read_text()

    # Peer on the socket (Patroni, pgBackRest), passwords over TCP, replication for Patroni's role only.
    hba = [line.split() for line in config["postgresql"]["pg_hba"]]
    assert ["local", "all", "all", "peer"] in hba and config["postgresql"]["use_unix_socket"] is True
    replication = [line for line in hba if line[1] == "replication"]
    assert [line[2] for line in replication] == [node_env["PATRONI_REPLICATION_USERNAME"]]


def _merge(into: dict, patch: dict) -> None:
    """Patroni's patch_config, for dicts: nested mappings merged, anything else replaced."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def test_the_patroni_image_runs_the_start_and_bootstrap_scripts_and_holds_no_secret() -> None:
    """The image copies start.sh (its command) and post-bootstrap.sh (Patroni's post_bootstrap, named
    by start.sh); the bootstrap script's required variables are set on every node; no password in
    the image."""
    dockerfile = (PATRONI_DIR / "Dockerfile").read_text()
    copies = dict(re.findall(r"^COPY (\S+) (\S+)$", dockerfile, re.MULTILINE))
    assert copies["start.sh"] in json.loads(re.search(r"^CMD (.+)$", dockerfile, re.MULTILINE)[1])
    start = (PATRONI_DIR / "start.sh").read_text()
    assert re.search(rf"post_bootstrap: (bash )?{re.escape(copies['post-bootstrap.sh'])}$", start, re.MULTILINE)
    bootstrap = (PATRONI_DIR / "post-bootstrap.sh").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", bootstrap))
    assert required and all(required <= set(_env(node)) for node in PATRONI_NODES), required
    assert "stanza-create" in bootstrap
    instructions = dockerfile.replace("\\\n", " ")  # continued lines joined
    assert not re.search(r"^(ENV|ARG) .*PASSWORD", instructions, re.MULTILINE | re.IGNORECASE)


def test_the_etcd_members_form_one_cluster() -> None:
    """A static three-member cluster: each member is named after its service, and every member's
    initial cluster lists them all at their advertised peer URLs."""
    assert len(ETCD_MEMBERS) == 3
    peers = {name: _env(name)["ETCD_INITIAL_ADVERTISE_PEER_URLS"] for name in ETCD_MEMBERS}
    for name in ETCD_MEMBERS:
        env = _env(name)
        assert env["ETCD_NAME"] == name and urlparse(peers[name]).hostname == name
        initial = dict(member.split("=", 1) for member in env["ETCD_INITIAL_CLUSTER"].split(","))
        assert initial == peers, (name, initial)
        assert env["ETCD_INITIAL_CLUSTER_STATE"] == "new"
        assert urlparse(env["ETCD_ADVERTISE_CLIENT_URLS"]).hostname == name
    data = [_volumes(name).keys() for name in ETCD_MEMBERS]
    assert all(data) and len(set().union(*data)) == sum(map(len, data)), "a data volume each"


@pytest.mark.parametrize("node", PATRONI_NODES)
def test_each_patroni_node_knows_every_etcd_member_and_starts_after_them(node: str) -> None:
    hosts = _env(node)["PATRONI_ETCD3_HOSTS"].split(",")
    clients = {name: _port(_env(name)["ETCD_ADVERTISE_CLIENT_URLS"]) for name in ETCD_MEMBERS}
    assert {host.rsplit(":", 1)[0]: _port(host) for host in hosts} == clients
    assert set(ETCD_MEMBERS) <= set(dependencies(SERVICES[node]))


def test_only_dbproxy_reaches_the_postgresql_nodes() -> None:
    """dbproxy's servers are the Patroni nodes, checked on their REST API's port; pgbouncer's servers
    are dbproxy's ports (the primary's, the replicas'); no other service names a node."""
    dbproxy = _env("dbproxy")
    servers = {value for key, value in dbproxy.items() if re.fullmatch(r"PG_\d+", key)}
    assert servers == {_env(node)["PATRONI_POSTGRESQL_CONNECT_ADDRESS"] for node in PATRONI_NODES}
    assert {address.rsplit(":", 1)[0] for address in servers} == set(PATRONI_NODES)
    config, _ = _mounted_template("dbproxy")
    check_ports = {int(port) for port in re.findall(r"check port (\d+)", config)}
    assert check_ports == {_port(_env(node)["PATRONI_RESTAPI_LISTEN"]) for node in PATRONI_NODES}
    for node in PATRONI_NODES:
        assert _port(_env(node)["PATRONI_RESTAPI_CONNECT_ADDRESS"]) in check_ports
    assert set(PATRONI_NODES) <= set(dependencies(SERVICES["dbproxy"]))

    pgbouncer = _env("pgbouncer")
    assert pgbouncer["PG_PRIMARY_HOST"] == pgbouncer["PG_REPLICA_HOST"] == "dbproxy"
    assert int(pgbouncer["PG_PRIMARY_PORT"]) == _port(dbproxy["DBPROXY_PRIMARY_BIND"])
    assert int(pgbouncer["PG_REPLICA_PORT"]) == _port(dbproxy["DBPROXY_REPLICA_BIND"])
    assert "dbproxy" in dependencies(SERVICES["pgbouncer"])

    for name, service in SERVICES.items():
        if name == "dbproxy" or name in PATRONI_NODES:
            continue
        words = [*_env(name).values(), json.dumps(service.get("command", ""))]
        named = {node for node in PATRONI_NODES for word in words if _names_a_host(word, node)}
        assert not named, f"{name} reaches {named} directly"


def test_migrate_waits_for_a_primary_behind_dbproxy() -> None:
    """dbproxy is healthy once its primary backend has a server up (its stats CSV, on its stats port):
    migrate waits for that, the first start's bootstrap included. The Patroni nodes are healthy on
    their REST API's /health."""
    assert dependencies(SERVICES["migrate"]).get("dbproxy") == "service_healthy"
    check = " ".join(SERVICES["dbproxy"]["healthcheck"]["test"])
    config, _ = _mounted_template("dbproxy")
    section = re.search(r'^listen (\S+)\n(?:    .*\n)*?    bind "\$\{DBPROXY_PRIMARY_BIND\}"$', config, re.MULTILINE)
    assert section, "no listen section binds the primary's port"
    assert f"^{section[1]},BACKEND," in check and ",UP," in check
    assert f"/dev/tcp/127.0.0.1/{_port(_env('dbproxy')['DBPROXY_STATS_BIND'])} " in check
    for node in PATRONI_NODES:
        test = " ".join(SERVICES[node]["healthcheck"]["test"])
        assert f"127.0.0.1:{_port(_env(node)['PATRONI_RESTAPI_LISTEN'])}/health" in test


# --- The deployment run in compose order, without Docker --------------------------------------------
# The images' services are stood in for by what the tests already use: a scratch database on the test
# PostgreSQL server (what pgbouncer and dbproxy front: the Patroni nodes) and the test Redis db. Ours run their
# compose command with their compose environment, in compose order: a service starts once its
# depends_on conditions hold (a one-shot `service_completed_successfully` dependency has exited 0).

# What an operator's .env supplies: the variables compose refuses to run without. ALLOWED_HOSTS is left
# to the compose default on purpose.
OPERATOR_ENV = {
    "SECRET_KEY": "compose-order-test-secret-key-0123456789abcdef",
    "JWT_SIGNING_KEY": "compose-order-test-jwt-signing-key-0123456789",
    "POSTGRES_PASSWORD": "unused-here",
    "REPLICATION_PASSWORD": "unused-here",
    "SUPERUSER_PASSWORD": "unused-here",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}|\$\$")
_READY = {"worker": re.compile(r"celery@\S+ ready\."), "beat": re.compile(r"beat: Starting")}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        if env.get(name):
            return env[name]
        if operator == "?":
            pytest.fail(f"docker-compose.yml needs {name}: {argument}")
        return argument if operator == "-" else ""

    return _VARIABLE.sub(substitute, value)


def dependencies(service: dict) -> dict[str, str]:
    """depends_on as {service: condition}, whether written as a list or a mapping."""
    declared = service.get("depends_on", {})
    if isinstance(declared, list):
        return dict.fromkeys(declared, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in declared.items()}


def compose_order(services: dict[str, dict]) -> list[str]:
    """An order that starts every service after its dependencies (compose refuses cycles, so do we)."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on cycle: {' -> '.join((*path, name))}"
        if name not in order:
            for dependency in dependencies(services[name]):
                visit(dependency, (*path, name))
            order.append(name)

    for name in services:
        visit(name, ())
    return order


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class ScratchDatabase:
    """An empty database on the server the tests use (Django's configured connection, not an assumed
    host or port), named per run and dropped afterwards."""

    def __init__(self) -> None:
        config = settings.DATABASES["default"]
        self.params = {
            "host": config["HOST"] or config.get("OPTIONS", {}).get("host"),
            "port": config["PORT"] or None,
            "user": config["USER"] or None,
            "password": config["PASSWORD"] or None,
        }
        self.name = f"compose_{uuid.uuid4().hex[:12]}"
        self._admin("CREATE DATABASE {}")

    def _admin(self, statement: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **self.params) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(self.name)))

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(dbname=self.name, **self.params)

    @property
    def url(self) -> str:
        auth = quote(self.params["user"] or "", safe="")
        if self.params["password"]:
            auth += ":" + quote(self.params["password"], safe="")
        host = quote(self.params["host"] or "127.0.0.1", safe="")  # a socket directory, percent-encoded
        return f"postgresql://{auth}@{host}:{self.params['port'] or 5432}/{self.name}"

    def drop(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")


class ComposeRun:
    """Our services' commands, run as compose would run them here (see the section's comment)."""

    def __init__(self, database: ScratchDatabase, workdir: Path) -> None:
        self.database = database
        self.workdir = workdir  # the image's WORKDIR: manage.py, and whatever the services write
        (workdir / "manage.py").symlink_to(ROOT / "manage.py")
        self.started: list[str] = []  # ours, in the order they were started
        self.provided: list[str] = []  # the images' services, stood in for
        self.processes: dict[str, subprocess.Popen] = {}
        self.api_port = _free_port()

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _local(self, value: str) -> str:
        """A URL naming a compose service, pointed at the stand-in for that service's image."""
        items = []
        for item in value.split(","):
            host = urlparse(item).hostname if "://" in item else None
            image = FRONTS.get(host or "") or SERVICES.get(host or "", {}).get("image", "")
            if image.startswith("postgres"):
                item = self.database.url
            elif image.startswith("redis"):
                # The test Redis and its db number, never compose's db 0/1 of a shared server.
                item = settings.REDIS_URL
            items.append(item)
        return ",".join(items)

    def _environment(self, service: dict) -> dict[str, str]:
        image_env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV (.+)$", DOCKERFILE, re.MULTILINE))))
        compose_env = {
            name: self._local(interpolate(str(value), OPERATOR_ENV)) for name, value in service["environment"].items()
        }
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",  # what `pip install .` gives the image
            **image_env,
            **compose_env,
        }

    def _argv(self, name: str) -> list[str]:
        argv = _command(SERVICES[name])
        program = (
            sys.executable if argv[0] == "python" else shutil.which(argv[0], path=str(Path(sys.executable).parent))
        )
        argv = [program or argv[0], *argv[1:]]
        if argv[0].endswith("granian"):  # on this machine: a free port, and not on every interface
            argv[argv.index("--port") + 1] = str(self.api_port)
            argv[argv.index("--host") + 1] = "127.0.0.1"
        return argv

    def up(self, name: str) -> None:
        for dependency, condition in dependencies(SERVICES[name]).items():
            if condition == "service_completed_successfully":
                self.wait(dependency)
            assert dependency in self.started or dependency in self.provided, (name, dependency)
        if SERVICES[name].get("build") != ".":
            self.provided.append(name)  # an image's service (see the section's comment)
            return
        with (self.workdir / f"{name}.log").open("w") as out:
            self.processes[name] = subprocess.Popen(
                self._argv(name),
                cwd=self.workdir,
                env=self._environment(SERVICES[name]),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
        self.started.append(name)
        if name == "api":
            self._until(name, self._answers)
        elif name in _READY:
            self._until(name, lambda: bool(_READY[name].search(self.log(name))))

    def _answers(self) -> bool:
        try:
            return _get(self.api_port, "/api/v1/health", f"127.0.0.1:{self.api_port}")[0] < 500
        except OSError:
            return False

    def _until(self, name: str, ready: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start:\n{self.log(name)[-3000:]}")
            time.sleep(0.2)

    def wait(self, name: str, timeout: float = 600) -> None:
        """A one-shot service must exit 0 before what depends on it starts."""
        process = self.processes[name]
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} did not finish in {timeout} s:\n{self.log(name)[-3000:]}")
        assert code == 0, f"{name} exited {code}:\n{self.log(name)[-3000:]}"

    def down(self) -> None:
        for name in reversed(self.started):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeRun]:
    database = ScratchDatabase()
    run = ComposeRun(database, tmp_path_factory.mktemp("compose"))
    try:
        for name in compose_order(SERVICES):
            run.up(name)
        yield run
    finally:
        run.down()
        database.drop()


def test_the_app_waits_for_migrate_to_complete() -> None:
    for name in ("api", "worker", "beat"):
        assert dependencies(SERVICES[name]).get("migrate") == "service_completed_successfully", name
    order = compose_order(SERVICES)
    assert order.index("migrate") < min(order.index(name) for name in ("api", "worker", "beat"))


@pytest.mark.integration
def test_compose_services_run_in_order_against_postgresql(compose: ComposeRun) -> None:
    # migrate ran to completion first; the api, the worker and beat then started and stayed up.
    assert compose.started.index("migrate") < min(compose.started.index(n) for n in ("api", "worker", "beat"))
    assert compose.processes["migrate"].returncode == 0
    assert all(compose.processes[name].poll() is None for name in ("api", "worker", "beat"))
    status, body = _get(compose.api_port, "/api/v1/health", f"127.0.0.1:{compose.api_port}")
    checks = {check["name"]: check["status"] for check in json.loads(body)["checks"]}
    assert status == 200 and checks["database"] == "ok" and checks["partitions"] == "ok", body


@pytest.mark.integration
def test_the_compose_api_answers_on_this_machines_names_only(compose: ComposeRun) -> None:
    port = compose.api_port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.1", "localhost"):
        assert _get(port, "/api/v1/health", host)[0] == 200, host
    for host in ("evil.example", f"evil.example:{port}", f"10.0.0.1:{port}"):
        assert _get(port, "/api/v1/health", host)[0] == 400, host


@pytest.mark.integration
def test_after_the_compose_migrate_rows_land_in_month_partitions(compose: ComposeRun) -> None:
    """Rows of the oldest date the app accepts (a new database: today, its month's first day), of
    today and 12 months ahead each land in a month partition, none in the DEFAULT one."""
    utc = datetime.now(UTC).date()
    local = datetime.now(ZoneInfo(settings.BUSINESS_TIME_ZONE)).date()
    first = month_start(min(utc, local))
    ahead = add_months(month_start(max(utc, local)), 13) - timedelta(days=1)  # the 12th month's last day
    inserts = {
        "ledger_transaction": "INSERT INTO ledger_transaction (id, occurred_on, type, status, source, memo,"
        " recorded_at) VALUES (gen_random_uuid(), %s, 'repayment', 'confirmed', 'web', '', now())",
        "ledger_posting": "INSERT INTO ledger_posting (occurred_on, transaction_id, account, side, amount,"
        " currency) VALUES (%s, gen_random_uuid(), 'cash', 'debit', 1, 'COP')",
        # Its foreign keys are deferred to the commit, which never comes: the transaction is rolled back.
        "payments_line": "INSERT INTO payments_line (paid_on, transaction_id, amount, currency, credit_id,"
        " payment_id, payment_account_id)"
        " VALUES (%s, gen_random_uuid(), 1, 'COP', gen_random_uuid(), gen_random_uuid(), 1)",
    }
    landed = {}
    with compose.database.connect() as conn:
        for table, insert in inserts.items():
            for day in (first, min(utc, local), ahead):
                landed[(table, day)] = conn.execute(insert + " RETURNING tableoid::regclass::text", [day]).fetchone()[0]
        conn.rollback()
    assert landed == {(table, day): partition_name(table, month_start(day)) for table, day in landed}
