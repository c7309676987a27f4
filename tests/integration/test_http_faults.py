"""The PostgreSQL primary goes away under a running app (granian, production mode, a stack of its
own: stress/stack.py): the API answers a clean 503 with Retry-After (it answered 500s before `make
stress` found it), and once the primary is back a payment retried with its Idempotency-Key goes
through exactly once, within seconds. Redis down is covered by test_read_cache.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from stress.client import Api
from stress.core import Context
from stress.scenarios.concurrency import Desk
from stress.stack import Stack

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(web_workers=1, blocking_threads=2, with_worker=False) as running:
        yield running


def _context(stack: Stack) -> Context:
    """The demo book's users on this stack (what `make stress` hands its scenarios)."""
    return Context(
        base_url=stack.base_url,
        database_url=stack.database_url,
        password="demo-pass-2026",
        admin="admin",
        agents=("agent1", "agent2"),
        clients=("client1", "client2", "client3", "client4"),
        control=stack,
    )


def test_primary_down_is_a_clean_503_and_a_retried_payment_lands_once(stack: Stack) -> None:
    ctx = _context(stack)
    api = Api(stack.base_url)
    desk = Desk.open(ctx, api)
    credit = desk.open_credit("500.00", 2)
    key = uuid.uuid4().hex

    stack.stop("primary")
    try:
        down = desk.pay(credit["id"], "100.00", desk.agent, key=key)
        assert down.status == 503, down
        assert down.headers.get("retry-after") == "1"
        assert down.body["error"]["code"] == "unavailable"
        assert "Traceback" not in str(down.body) and "psycopg" not in str(down.body)
    finally:
        stack.start("primary")

    restarted = time.monotonic()
    while (answer := desk.pay(credit["id"], "100.00", desk.agent, key=key)).status == 503:
        assert time.monotonic() - restarted < 15, "the app did not recover within 15 s"
        time.sleep(0.1)
    assert answer.status == 201, answer
    replay = desk.pay(credit["id"], "100.00", desk.agent, key=key)
    assert (replay.status, replay.body["id"]) == (201, answer.body["id"])
    with psycopg.connect(stack.database_url) as db:
        rows = db.execute("SELECT count(*) FROM payments_payment WHERE credit_id = %s", [credit["id"]]).fetchone()[0]
    assert rows == 1
    assert desk.api_pending(credit["id"]) == "400.00"


def test_a_payment_made_while_the_app_is_cut_off_from_redis_is_never_hidden_by_the_cache(stack: Stack) -> None:
    """Redis stays up with what it cached, but the app cannot reach it while a payment is made (the
    invalidation is lost): once the link is back, no read shows the balance from before the payment."""
    ctx = _context(stack)
    api = Api(stack.base_url)
    desk = Desk.open(ctx, api)
    client = api.login("client1", ctx.password)
    credit = desk.open_credit("500.00", 2)  # client1's
    assert desk.pay(credit["id"], "100.00", desk.agent).status == 201

    def pending(token: str) -> str:
        return str(api.get(f"/api/v1/credits/{credit['id']}", token).body["pending"]["amount"])

    assert pending(desk.agent) == pending(client) == "400.00"  # now cached under the current versions
    stack.cut("redis")
    try:
        assert desk.pay(credit["id"], "100.00", desk.agent).status == 201
        assert pending(desk.agent) == pending(client) == "300.00"  # from the database, Redis unreachable
    finally:
        stack.heal_link("redis")
    assert pending(desk.agent) == pending(client) == "300.00"
