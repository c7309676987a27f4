"""Read routing against a real streaming replica: the scenarios.

Not collected by the main run (no `test_` prefix): `test_read_replicas.py` starts the harness
(a primary and its hot standby, `replica_harness.py`) and runs this module in a child pytest whose
settings point at it: DATABASE_URL at the primary, DATABASE_REPLICA_URLS at the standby, Django's
psycopg pool on for both aliases, a 1 s lag threshold checked every 0.2 s. Data is written and
committed for real (no test transaction: a replica only sees what the primary committed), on a
database that exists only for this run.

Where a read went is asserted three ways: the statements each alias's connection ran (Django's
CaptureQueriesContext), what the server says about itself (`pg_is_in_recovery()`), and the
replica's own view of its sessions (`pg_stat_activity`). Between requests the tests do what the
app server does (`close_old_connections`, via request_started/request_finished), which the test
client leaves out.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connections, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from adapters.db import routing
from adapters.db.replicas import monitor
from adapters.orm.catalog.models import Category
from adapters.orm.identity.models import User
from tests.factories import PASSWORD, UserFactory
from tests.integration.replica_harness import ReplicaHarness

PRIMARY, REPLICA = "default", "replica_1"


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def harness() -> ReplicaHarness:
    raw = os.environ.get("FC_REPLICA_HARNESS")
    if not raw:
        pytest.fail("Run through tests/integration/test_read_replicas.py, which starts the replica harness.")
    return ReplicaHarness.from_json(raw)


@pytest.fixture(scope="session", autouse=True)
def _migrated(harness: ReplicaHarness, django_db_blocker: object) -> Iterator[None]:
    """Real database access for the whole session (no test transaction), on a migrated primary."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        call_command("migrate", interactive=False, verbosity=0)
        harness.wait_streaming()
        yield
        for alias in (PRIMARY, REPLICA):
            connections[alias].close()


@pytest.fixture(autouse=True)
def _replica_streaming(harness: ReplicaHarness) -> Iterator[None]:
    """Each scenario starts from a replica that streams, replays and is known healthy."""
    with harness.replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_resume()")
    harness.wait_streaming()
    wait_for_state("ok")
    yield
    close_old_connections()


def wait_for_state(status: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while (state := monitor.refresh()[0]).status != status:
        assert time.monotonic() < deadline, f"replica still {state.status} ({state.detail}), expected {status}"
        time.sleep(0.1)


def request(method: str, path: str, token: str | None = None, **body: object) -> object:
    """One request as the app server runs it: connections tidied at its start and end."""
    close_old_connections()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    client = Client()
    if method == "GET":
        response = client.get(path, **headers)
    else:
        response = client.generic(method, path, data=_json(body), content_type="application/json", **headers)
    close_old_connections()
    return response


def _json(body: dict[str, object]) -> str:
    import json

    return json.dumps(body)


def login(user: User) -> str:
    response = request("POST", "/api/v1/auth/token", username=user.username, password=PASSWORD)
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    return str(response.json()["access_token"])  # type: ignore[attr-defined]


def user(role: str = "admin") -> User:
    return UserFactory(username=f"{role}-{uuid.uuid4().hex[:10]}", role=role)  # type: ignore[no-any-return]


def captured(action: Callable[[], object]) -> tuple[object, list[str], list[str]]:
    """Run `action`; return its result and the SQL run on the primary's and the replica's connection."""
    with (
        CaptureQueriesContext(connections[PRIMARY]) as on_primary,
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
    ):
        result = action()
    return result, [q["sql"] for q in on_primary.captured_queries], [q["sql"] for q in on_replica.captured_queries]


def names(response: object) -> set[str]:
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    return {row["name"] for row in response.json()["data"]}  # type: ignore[attr-defined]


# --- scenarios ----------------------------------------------------------------------------------------
def test_aliases_point_at_a_pooled_primary_and_its_streaming_standby(harness: ReplicaHarness) -> None:
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), inet_server_port()")
        assert cursor.fetchone() == (False, harness.primary.port)
    with routing.read_cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), inet_server_port()")
        assert cursor.fetchone() == (True, harness.replica.port)
    # Django's psycopg pool serves both aliases, sized from DB_POOL_* (and a short wait for a replica).
    primary_pool, replica_pool = connections[PRIMARY].pool, connections[REPLICA].pool
    assert primary_pool is not None and replica_pool is not None
    assert (primary_pool.max_size, replica_pool.max_size) == (4, 4)
    assert replica_pool.timeout == 1.0 and primary_pool.timeout == 10


def test_orm_reads_go_to_the_replica_and_writes_to_the_primary(harness: ReplicaHarness) -> None:
    name = f"routing-{uuid.uuid4().hex[:8]}"
    _, on_primary, on_replica = captured(lambda: Category.objects.create(name=name))
    assert any("INSERT" in sql for sql in on_primary) and not on_replica
    harness.wait_streaming()

    found, on_primary, on_replica = captured(lambda: Category.objects.filter(name=name).exists())
    assert not on_primary and any("catalog_category" in sql for sql in on_replica)
    assert found

    raw = Category.objects.raw(
        "SELECT id, pg_is_in_recovery() AS in_recovery FROM catalog_category WHERE name = %s", [name]
    )
    assert [row.in_recovery for row in raw] == [True]


def test_reads_inside_a_transaction_stay_on_the_primary() -> None:
    with transaction.atomic():
        assert routing.read_alias() == PRIMARY
        _, on_primary, on_replica = captured(lambda: list(Category.objects.values_list("name")))
        assert on_primary and not on_replica
        with routing.read_cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone() == (False,)
    with routing.use_primary():
        assert routing.read_alias() == PRIMARY
    assert routing.read_alias() == REPLICA


def test_http_reads_land_on_the_replica_by_its_own_account(harness: ReplicaHarness) -> None:
    token = login(user("client"))
    response, on_primary, on_replica = captured(lambda: request("GET", "/api/v1/categories", token))
    assert names(response)
    assert not any("catalog_category" in sql for sql in on_primary)
    assert any("catalog_category" in sql for sql in on_replica)
    # The standby itself saw the statement: one of its client sessions last ran it.
    with harness.replica.connect() as conn:
        seen = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND query LIKE %s",
            ['%FROM "catalog_category"%'],
        ).fetchone()[0]
    assert seen >= 1

    # The lean read path (raw SQL through read_cursor) too.
    response, on_primary, on_replica = captured(lambda: request("GET", "/api/v1/credits", token))
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    assert any("credits_credit" in sql for sql in on_replica) and not on_primary


def test_the_writer_reads_the_primary_for_a_while_and_others_the_replica(harness: ReplicaHarness) -> None:
    writer, other = user(), user()
    writer_token, other_token = login(writer), login(other)
    name = f"ryw-{uuid.uuid4().hex[:8]}"
    # Replay paused: the replica visibly lacks the write; a generous lag limit keeps it in use.
    with override_settings(READ_YOUR_WRITES_SECONDS=2, REPLICA_MAX_LAG_SECONDS=60), harness.replica.connect() as rep:
        rep.execute("SELECT pg_wal_replay_pause()")
        try:
            created = request("POST", "/api/v1/categories", writer_token, name=name)
            wrote_at = time.monotonic()
            assert created.status_code == 201, created.content  # type: ignore[attr-defined]

            # As another app node would: only the shared cache (Redis) knows that the writer wrote.
            routing._local_writes._until.clear()
            response, on_primary, on_replica = captured(lambda: request("GET", "/api/v1/categories", writer_token))
            assert name in names(response)
            assert any("catalog_category" in sql for sql in on_primary) and not on_replica

            response, on_primary, on_replica = captured(lambda: request("GET", "/api/v1/categories", other_token))
            assert name not in names(response)
            assert any("catalog_category" in sql for sql in on_replica) and not on_primary

            time.sleep(max(0.0, wrote_at + 2.2 - time.monotonic()))
            response, on_primary, on_replica = captured(lambda: request("GET", "/api/v1/categories", writer_token))
            assert name not in names(response), "after READ_YOUR_WRITES_SECONDS the writer reads the replica again"
            assert on_replica and not any("catalog_category" in sql for sql in on_primary)
        finally:
            rep.execute("SELECT pg_wal_replay_resume()")


def test_an_idle_primary_is_not_mistaken_for_lag(harness: ReplicaHarness) -> None:
    time.sleep(1.5)  # longer than REPLICA_MAX_LAG_SECONDS, with nothing committed
    with harness.replica.connect() as conn:
        replay_age = conn.execute("SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())").fetchone()[0]
    state = monitor.refresh()[0]
    assert float(replay_age) > 1.0, "the naive measure would call this replica lagging"
    assert (state.status, state.lag_seconds, state.lag_bytes) == ("ok", 0.0, 0)


def test_a_lagging_replica_is_skipped_and_health_says_so(harness: ReplicaHarness) -> None:
    with harness.replica.connect() as rep:
        rep.execute("SELECT pg_wal_replay_pause()")
        try:
            Category.objects.create(name=f"lag-{uuid.uuid4().hex[:8]}")
            wait_for_state("lagging")
            state = monitor.states()[0]
            assert state.lag_seconds is not None and state.lag_seconds > 1.0 and state.lag_bytes
            assert "replay paused" in state.detail
            assert routing.read_alias() == PRIMARY
            _, on_primary, on_replica = captured(lambda: Category.objects.count())
            assert on_primary and not on_replica

            health = request("GET", "/api/v1/health")
            body = health.json()  # type: ignore[attr-defined]
            assert health.status_code == 200 and body["status"] == "degraded"  # type: ignore[attr-defined]
            check = next(c for c in body["checks"] if c["name"] == REPLICA)
            assert check["status"] == "lagging" and check["lag_seconds"] > 1.0
        finally:
            rep.execute("SELECT pg_wal_replay_resume()")
    wait_for_state("ok")
    assert routing.read_alias() == REPLICA
    body = request("GET", "/api/v1/health").json()  # type: ignore[attr-defined]
    assert body["status"] == "ok"
    # Not exactly 0: the primary may write (autovacuum, checkpoints) while the replica catches up,
    # and the health check samples that moment; under the threshold is what "ok" promises.
    check = next(c for c in body["checks"] if c["name"] == REPLICA)
    assert check["status"] == "ok" and 0.0 <= check["lag_seconds"] <= float(settings.REPLICA_MAX_LAG_SECONDS)


@contextlib.contextmanager
def replica_stopped(harness: ReplicaHarness) -> Iterator[None]:
    """The replica killed (`pg_ctl stop -m immediate`) while the monitor still believes it healthy
    (no background check for the duration), then restarted; reads must return to it."""
    assert monitor.refresh()[0].status == "ok"
    with override_settings(REPLICA_CHECK_INTERVAL_SECONDS=30):
        harness.stop_node(harness.replica, "immediate")
        try:
            yield
        finally:
            harness.start_node(harness.replica)
    harness.wait_streaming()
    wait_for_state("ok")
    deadline = time.monotonic() + 15
    while routing.read_alias() != REPLICA:
        assert time.monotonic() < deadline, "reads did not return to the restarted replica"
        time.sleep(0.2)
    _, on_primary, on_replica = captured(lambda: Category.objects.count())
    assert on_replica and not on_primary


def test_requests_survive_a_stopped_replica_with_no_error(harness: ReplicaHarness) -> None:
    token = login(user("client"))
    expected = names(request("GET", "/api/v1/categories", token))
    with replica_stopped(harness):
        # No check has noticed: the first request finds out itself, marks the replica down, reads the primary.
        for _ in range(5):
            assert names(request("GET", "/api/v1/categories", token)) == expected
            assert Category.objects.count() == len(expected)
        state = monitor.states()[0]
        assert state.status == "down" and "OperationalError" in state.detail
        assert routing.read_alias() == PRIMARY

        health = request("GET", "/api/v1/health")
        body = health.json()  # type: ignore[attr-defined]
        assert health.status_code == 200 and body["status"] == "degraded"  # type: ignore[attr-defined]
        checks = {c["name"]: c for c in body["checks"]}
        assert checks["database"]["status"] == "ok"
        assert checks[REPLICA]["status"] == "down" and checks[REPLICA]["lag_seconds"] is None


def test_a_read_whose_replica_dies_under_it_is_rerun_on_the_primary(harness: ReplicaHarness) -> None:
    count = Category.objects.using(PRIMARY).count()
    with routing.read_cursor() as cursor:  # this thread now holds a live connection to the replica
        cursor.execute("SELECT 1")
    with replica_stopped(harness):
        assert routing.read_alias() == REPLICA  # nobody knows yet
        with routing.read_cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), count(*) FROM catalog_category")
            assert cursor.fetchone() == (False, count)
            assert cursor.alias == PRIMARY
        assert monitor.states()[0].status == "down"
