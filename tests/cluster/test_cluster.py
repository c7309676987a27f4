"""`python -m deploy.cluster` (what `make cluster` runs) for real: the whole topology, one network
namespace per node, brought up in a state dir of its own (.data/cluster-test, so a developer's
`make cluster` keeps running), used through HAProxy, then torn down.

Needs root (namespaces, veths, a bridge) and haproxy + pgbouncer installed: without them the test
fails saying so (`make cluster` installs both), it is never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deploy.cluster import APPS, PGS, Cluster, prerequisites
from deploy.cluster.net import leftovers
from tests.live import ROOT

pytestmark = [pytest.mark.integration]

STATE_DIR = ROOT / ".data" / "cluster-test"
DEMO_PASSWORD = "demo-pass-2026"  # what load_demo prints


def _module(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m deploy.cluster --state-dir .data/cluster-test <command>`, as `make cluster` runs it."""
    env = {k: v for k, v in os.environ.items() if k != "FC_CLUSTER_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "deploy.cluster", "--state-dir", str(STATE_DIR), command],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    missing = prerequisites()
    if missing:
        pytest.fail("the cluster cannot run on this machine:\n  - " + "\n  - ".join(missing), pytrace=False)
    started = time.monotonic()
    up = _module("up", timeout=300)
    try:
        assert up.returncode == 0, f"up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}"
        print(f"cluster healthy in {time.monotonic() - started:.1f} s")
        yield Cluster(STATE_DIR)
    finally:
        _module("down", timeout=120)  # a no-op once test_down_leaves_nothing_behind has run
        # The pgBackRest repository outlives `down` on purpose (docs/operations.md); a test's does not.
        shutil.rmtree(STATE_DIR.with_name(STATE_DIR.name + "-backup"), ignore_errors=True)


class Answer:
    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw

    def json(self) -> Any:
        return json.loads(self.raw)


def call(cluster: Cluster, method: str, path: str, body: Any = None, token: str = "", key: str = "") -> Answer:
    """One request through the balancer, a new connection each time (so HAProxy picks a node per call)."""
    request = urllib.request.Request(  # noqa: S310 - the cluster's own http:// address
        cluster.balancer_url + path, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def login(cluster: Cluster, username: str) -> str:
    answer = call(cluster, "POST", "/api/v1/auth/token", {"username": username, "password": DEMO_PASSWORD})
    assert answer.status == 200, answer.raw
    return str(answer.json()["access_token"])


def test_health_through_the_balancer_is_ok(cluster: Cluster) -> None:
    status, body, problems = cluster.health()
    assert status == 200, body
    assert problems == [], body
    checks = {check["name"]: check for check in body["checks"]}
    assert {"database", "replica_1", "redis", "broker", "workers"} <= set(checks)
    # Every check ok: the database through pgbouncer, the replica, both cache shards, the broker and
    # the worker (health used to say the sharded cache was down, and miss the worker: fixed in the app).
    assert body["status"] == "ok" and all(check["status"] == "ok" for check in checks.values()), body
    assert checks["redis"]["detail"] == "2 shards", body
    assert checks["workers"]["detail"].startswith("cluster-worker@"), body
    assert checks["replica_1"]["status"] == "ok", body


def test_a_demo_client_logs_in_and_reads_its_summary(cluster: Cluster) -> None:
    token = login(cluster, "client1")
    summary = call(cluster, "GET", "/api/v1/me/credit-summary", token=token)
    assert summary.status == 200, summary.raw
    assert summary.json()["credits"] >= 1
    assert summary.headers["x-served-by"] in APPS


def test_reads_are_spread_over_the_three_app_nodes(cluster: Cluster) -> None:
    token = login(cluster, "client1")
    answers = [call(cluster, "GET", "/api/v1/me/credit-summary", token=token) for _ in range(30)]
    assert {a.status for a in answers} == {200}
    spread = Counter(a.headers["x-served-by"] for a in answers)
    assert set(spread) == set(APPS), spread
    assert min(spread.values()) >= 5, spread  # round robin: about a third each
    assert len({a.raw for a in answers}) == 1  # every node answers the same


def test_a_payment_through_the_balancer_and_its_replay(cluster: Cluster) -> None:
    agent = login(cluster, "agent1")
    credits = call(cluster, "GET", "/api/v1/credits?status=active", token=agent).json()["data"]
    credit = next(
        c for c in credits if c["state"] == "active" and c["currency"] == "COP" and Decimal(c["pending"]["amount"]) > 10
    )
    accounts = call(cluster, "GET", "/api/v1/payment-accounts?currency=COP", token=agent).json()["data"]
    account = next(a["id"] for a in accounts if a["active"])
    body = {
        "amount": {"amount": "10.00", "currency": "COP"},
        "lines": [{"payment_account_id": account, "amount": {"amount": "10.00", "currency": "COP"}}],
    }
    key = f"cluster-test-{uuid.uuid4().hex}"
    path = f"/api/v1/credits/{credit['id']}/payments"
    first = call(cluster, "POST", path, body, token=agent, key=key)
    assert first.status == 201, first.raw
    assert "idempotent-replayed" not in first.headers
    replay = call(cluster, "POST", path, body, token=agent, key=key)
    assert replay.status == 201, replay.raw
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.raw == first.raw  # the same payment, the same answer, byte for byte
    payment = first.json()["id"]
    with cluster.connect() as db:  # the current leader
        rows = db.execute("SELECT count(*) FROM payments_payment WHERE credit_id = %s", [credit["id"]]).fetchone()
        ours = db.execute("SELECT count(*) FROM payments_payment WHERE id = %s", [payment]).fetchone()
    assert ours == (1,)
    assert rows is not None and rows[0] >= 1
    # The replica has it too, once it has replayed that far.
    deadline = time.monotonic() + 10
    while True:
        with cluster.connect(_standby(cluster)) as replica:
            seen = replica.execute("SELECT count(*) FROM payments_payment WHERE id = %s", [payment]).fetchone()
        if seen == (1,) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert seen == (1,), "the payment never reached the replica"


def test_the_app_nodes_reach_postgresql_only_through_pgbouncer(cluster: Cluster) -> None:
    config = {row["key"]: row["value"] for row in cluster.pgbouncer_admin("SHOW CONFIG")}
    assert config["pool_mode"] == "transaction"
    clients = cluster.pgbouncer_admin("SHOW CLIENTS")
    by_database: dict[str, set[str]] = {}
    for client in clients:
        by_database.setdefault(client["database"], set()).add(str(client["addr"]))
    apps = {cluster.address(app) for app in APPS}
    # Every node has connections to both pools: the primary's, and the replica's (reads, lag checks).
    assert apps <= by_database.get("fintech", set()), clients
    assert apps <= by_database.get("fintech_replica", set()), clients
    pools = {row["database"]: row for row in cluster.pgbouncer_admin("SHOW POOLS")}
    assert pools["fintech"]["cl_active"] + pools["fintech"]["cl_waiting"] >= len(apps), pools
    # pgbouncer's servers are dbproxy's two ports (the primary's, the replicas'), never a database host...
    servers = {(row["database"], str(row["addr"]), int(row["port"])) for row in cluster.pgbouncer_admin("SHOW SERVERS")}
    assert {(db, addr) for db, addr, _ in servers} <= {
        ("fintech", cluster.address("dbproxy")),
        ("fintech_replica", cluster.address("dbproxy")),
    }, servers
    assert {port for db, _, port in servers if db == "fintech"} == {5000}, servers
    # ...and on the servers, the app's role comes from dbproxy's address only.
    for node in PGS:
        with cluster.connect(node, "postgres", superuser=True) as db:
            rows = db.execute(
                "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE usename = 'fintech'"
            ).fetchall()
        assert {row[0] for row in rows} <= {cluster.address("dbproxy")}, (node, rows)


def _standby(cluster: Cluster) -> str:
    leader = cluster.leader()
    assert leader is not None, cluster.members()
    return next(pg for pg in PGS if pg != leader)


def test_patroni_keeps_a_synchronous_standby_and_dbproxy_finds_the_leader(cluster: Cluster) -> None:
    members = {m["name"]: m for m in cluster.members()}
    assert sorted(m["role"] for m in members.values()) == ["leader", "sync_standby"], members
    leader, standby = cluster.leader(), _standby(cluster)
    assert cluster.dbproxy_servers() == {
        ("primary", leader): "UP",
        ("primary", standby): "DOWN",
        ("replicas", leader): "DOWN",
        ("replicas", standby): "UP",
    }
    with cluster.connect(leader, "postgres", superuser=True) as primary:
        rows = primary.execute("SELECT host(client_addr), state, sync_state FROM pg_stat_replication").fetchall()
        archiving = primary.execute(
            "SELECT current_setting('archive_mode'), archived_count > 0, failed_count FROM pg_stat_archiver"
        ).fetchone()
    assert rows == [(cluster.address(standby), "streaming", "sync")]
    # The leader archives its WAL with pgBackRest (its archive_command), none failed.
    assert archiving == ("on", True, 0)
    # Through dbproxy: the primary's port is the writable leader, the replicas' port a standby.
    with psycopg.connect(cluster.database_url(), connect_timeout=3) as db:
        assert db.execute("SELECT pg_is_in_recovery(), inet_server_addr()::text").fetchone() == (
            False, f"{cluster.address(leader)}/32",
        )  # fmt: skip
    with psycopg.connect(cluster.database_url(replica=True), connect_timeout=3) as db:
        assert db.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)


def test_the_replica_streams_from_the_primary(cluster: Cluster) -> None:
    with cluster.connect(_standby(cluster), "postgres", superuser=True) as replica:
        row = replica.execute(
            "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver), current_setting('hot_standby')"
        ).fetchone()
    assert row == (True, "streaming", "on")


def test_the_nightly_run_through_pgbouncer_leaves_no_lock_behind(cluster: Cluster) -> None:
    """The nightly job's one-run-at-a-time lock through transaction pooling: two runs in a row, as the
    worker makes them (through pgbouncer), both go through and no advisory lock stays on a pooled
    server connection (a session lock did: it is held by a transaction of its own now)."""
    env = cluster.app_env("worker")
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "nightly"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    with cluster.connect(superuser=True) as primary:
        held = primary.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
    assert held == (0,)


def test_the_cache_shards_and_the_broker_are_three_redis_nodes(cluster: Cluster) -> None:
    import redis

    shards = {node: redis.Redis(host=cluster.address(node), port=6379, db=1) for node in ("redis-1", "redis-2")}
    keys = {node: client.dbsize() for node, client in shards.items()}
    assert sum(keys.values()) > 0, keys  # the reads above went through the sharded cache
    broker = redis.Redis(host=cluster.address("redis-broker"), port=6379, db=0)
    assert any(b"workers" in key for key in broker.keys("fintech-credits:*")), "no worker heartbeat in the broker"
    assert broker.dbsize() > 0 and all(client.ping() for client in shards.values())


def test_a_killed_app_node_costs_no_read_and_payments_are_never_replayed(cluster: Cluster) -> None:
    """SIGKILL to app-2 under a stream of reads: HAProxy resends the ones it loses to another node and
    takes app-2 out; started again, it is back in the spread. POSTs are never resent once sent (the
    client retries them with their Idempotency-Key): what the configuration says, checked here."""
    config = (cluster.node_dir("haproxy") / "haproxy.cfg").read_text()
    assert "http-request disable-l7-retry if METH_POST" in config
    token = login(cluster, "client2")
    answers: list[Answer] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            answers.append(call(cluster, "GET", "/api/v1/me/credit-summary", token=token))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        time.sleep(0.5)
        cluster.kill("app-2")
        deadline = time.monotonic() + 10
        while cluster.haproxy_servers().get("app-2") != "DOWN" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.haproxy_servers()["app-2"] == "DOWN"
        while_down = len(answers)
        time.sleep(1)
        down_spread = Counter(a.headers.get("x-served-by") for a in answers[while_down:])
        cluster.start("app-2")
        deadline = time.monotonic() + 10
        while cluster.haproxy_servers().get("app-2") != "UP" and time.monotonic() < deadline:
            time.sleep(0.1)
        back = len(answers)
        time.sleep(1)
    finally:
        stop.set()
        for reader in readers:
            reader.join(20)
    assert Counter(a.status for a in answers) == Counter({200: len(answers)})
    assert set(down_spread) == {"app-1", "app-3"}, down_spread
    assert "app-2" in {a.headers.get("x-served-by") for a in answers[back:]}


def test_with_no_node_in_the_pool_the_balancer_answers_the_apis_503(cluster: Cluster) -> None:
    """Found by `make stress-cluster` (pgbouncer restarted: every node's health said down): HAProxy's
    own 503 was its HTML page without Retry-After. Now it is the API's envelope, with Retry-After."""
    try:
        for app in APPS:
            cluster.haproxy_admin(f"set server api_nodes/{app} state maint")
        answer = call(cluster, "GET", "/api/v1/me/credit-summary")
        assert answer.status == 503, answer.raw
        assert answer.headers["retry-after"] == "1" and answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] == "unavailable"
    finally:
        for app in APPS:
            cluster.haproxy_admin(f"set server api_nodes/{app} state ready")
    deadline = time.monotonic() + 30
    while set(cluster.haproxy_servers().values()) != {"UP"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(cluster.haproxy_servers().values()) == {"UP"}


def test_up_brings_back_a_lost_standby_and_etcd_member(cluster: Cluster) -> None:
    """`make cluster` on a cluster that lost nodes starts just those: the standby's Patroni (its
    PostgreSQL rejoins from its own data, as the synchronous standby again) and an etcd member."""
    leader, standby = cluster.leader(), _standby(cluster)
    cluster.kill(standby)
    cluster.kill("etcd-3")
    again = _module("up", timeout=240)
    assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
    assert "starting what is missing" in again.stdout
    healed = Cluster(STATE_DIR)
    assert healed.running(standby) and healed.running("etcd-3")
    assert healed.wait_sync(90) == leader  # the leader never moved; the standby is synchronous again
    assert healed.etcd_leader() is not None


def test_up_on_a_running_cluster_changes_nothing(cluster: Cluster) -> None:
    pids = {role: cluster.proc(role) for role in ("haproxy", *APPS)}
    again = _module("up", timeout=60)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert {role: Cluster(STATE_DIR).proc(role) for role in pids} == pids


def test_down_leaves_nothing_behind(cluster: Cluster) -> None:
    procs = [proc for proc in (cluster.proc(role) for role in cluster.state["nodes"]) if proc is not None]
    assert len(procs) == len(cluster.state["nodes"])
    pg_data = Path(cluster.state["pg_root"])
    down = _module("down", timeout=120)
    assert down.returncode == 0, f"{down.stdout}\n{down.stderr}"
    assert leftovers(cluster.prefix) == []
    assert [proc.pid for proc in procs if proc.alive()] == []
    mentions = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(STATE_DIR).encode() in (entry / "cmdline").read_bytes():
                    mentions.append(entry.name)
            except OSError:
                continue
    assert mentions == [], "processes still running from the cluster's state dir"
    assert not STATE_DIR.exists() and not pg_data.exists()
    again = _module("down", timeout=60)
    assert again.returncode == 0 and "nothing to stop" in again.stdout
