"""The stress suite's concurrency scenarios (stress/scenarios/concurrency.py), over real HTTP, in
`make test`: pytest-django's live server (a threaded WSGI server, one database connection per
thread) on the test database with the demo book, smaller counts than `make stress`. Each scenario
checks its own invariants (no lost payment, no overpayment, one effect per key, balanced ledger,
pending = due - paid) and runs `check_book` over the whole book."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from stress.core import Context, Result
from stress.scenarios import concurrency

from tests.connections import database_url
from tools.bookgen.management.commands.load_demo import DEMO_PASSWORD

# The flush after a transactional test takes the migrations' catalogs with it; tests/conftest.py puts
# them back on the flush's post_migrate.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


class NoFaults:
    """This test injects no faults: the live server is not ours to stop."""

    def stop(self, service: str) -> None:
        raise NotImplementedError(service)

    start = kill = stop


@pytest.fixture
def ctx(live_server: object) -> Context:
    call_command("load_demo", stdout=io.StringIO())
    url = database_url()
    return Context(
        base_url=live_server.url,  # type: ignore[attr-defined]
        database_url=url,
        password=DEMO_PASSWORD,
        admin="admin",
        agents=("agent1", "agent2"),
        clients=("client1", "client2", "client3", "client4"),
        control=NoFaults(),
        manage_env={"DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "CELERY_BROKER_URL": ""},
    )


def _assert_ok(result: Result) -> None:
    assert result.checks_passed > 0
    assert result.ok, "\n".join([result.name, *result.details])


def test_racing_payments_on_one_credit(ctx: Context) -> None:
    result = concurrency.racing_payments(ctx, payers=16, price="300.00", amount="40.00")
    _assert_ok(result)
    assert any("7 accepted" in line for line in result.details), result.details


def test_one_idempotency_key_from_many_threads(ctx: Context) -> None:
    _assert_ok(concurrency.one_key(ctx, copies=12))


def test_reversals_racing_a_payment_and_each_other(ctx: Context) -> None:
    _assert_ok(concurrency.reversal_races(ctx, credits=3))


def test_two_staff_paying_the_same_installment(ctx: Context) -> None:
    _assert_ok(concurrency.same_installment(ctx, credits=3))
