"""Round trips of the write path, counted exactly (each one costs more CPU here than its SQL): a
credit loads in one, and a payment over HTTP takes a fixed number whatever the credit's size."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from adapters.sql.credits import DjangoCreditRepository
from adapters.sql.session import OrmSession
from domain.shared.money import Money
from tests import wire
from tests.builders import Caller, open_credit, pay, payment_account
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def test_a_credit_with_its_installments_loads_in_one_round_trip_without_its_history() -> None:
    agent = UserFactory(role="agent")
    credit = open_credit(UserFactory(role="client"), agent, installments=6)
    pay(credit, "150.00")
    with CaptureQueriesContext(connection) as queries:
        loaded = DjangoCreditRepository(OrmSession()).get(credit.id, for_update=True)
    assert len(queries) == 1
    # Two statements, the credit and its installments; the events (its history) are not read.
    assert "credits_event" not in queries[0]["sql"] and queries[0]["sql"].count("SELECT") == 2
    assert loaded is not None and len(loaded.installments) == 6 and loaded.events == []
    assert loaded.pending == credit.pending - Money.of("150.00", "COP")
    assert DjangoCreditRepository(OrmSession()).get(agent.public_id) is None  # no such credit


@pytest.mark.parametrize("installments", [3, 24])
def test_a_payment_takes_the_same_round_trips_whatever_the_credit(
    client: Client, login: Callable[..., dict], installments: int
) -> None:
    agent = UserFactory(role="agent")
    credit = open_credit(UserFactory(role="client"), agent, installments=installments)
    cash = payment_account(credit.currency.code, kind="cash")
    caller = Caller(client, login(agent.username)["access_token"])
    body = {
        "amount": {"amount": "10.00", "currency": "COP"},
        "lines": [{"payment_account_id": cash.id, "amount": {"amount": "10.00", "currency": "COP"}}],
    }
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/credits/{credit.id}/payments",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {caller.token}",
            HTTP_IDEMPOTENCY_KEY=f"rt-{installments}",
        )
    assert response.status_code == 201, response.content
    # The idempotency claim and the accounts asked ahead, with the credit's lock and load; every
    # write (ledger, payment, credit, installments, audit, the stored answer) in one batch before
    # COMMIT; plus the unit of work's savepoint and release (BEGIN/COMMIT outside a test). Was 19,
    # then 11 (issue 13), then 5 (issue 14: adapters.sql.batch), now 4 (the claim rides the lock).
    assert len(queries) == 4, [q["sql"][:60] for q in queries]
    assert queries[1]["sql"].startswith("INSERT INTO idempotency_record"), queries[1]["sql"][:60]
    assert "FOR UPDATE" in queries[1]["sql"]
    writes = queries[-2]["sql"]
    for table in (
        "ledger_transaction",
        "payments_payment",
        "credits_credit",
        "credits_installment",
        "audit_entry",
        "idempotency_record",
    ):
        assert table in writes


@pytest.mark.django_db(transaction=True)
def test_a_payment_crosses_the_wire_twice_with_begin_and_commit(client: Client, login: Callable[..., dict]) -> None:
    """Counted on the wire (libpq's trace of the protocol): each round trip ends in one
    ReadyForQuery, BEGIN and COMMIT included, as in production."""
    agent = UserFactory(role="agent")
    credit = open_credit(UserFactory(role="client"), agent, installments=12)
    cash = payment_account(credit.currency.code, kind="cash")
    token = login(agent.username)["access_token"]
    body = {
        "amount": {"amount": "10.00", "currency": "COP"},
        "lines": [{"payment_account_id": cash.id, "amount": {"amount": "10.00", "currency": "COP"}}],
    }
    response, round_trips = wire.round_trips(
        lambda: client.post(
            f"/api/v1/credits/{credit.id}/payments",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="on-the-wire",
        )
    )
    assert response.status_code == 201, response.content
    # BEGIN with the claim and the accounts asked ahead, the credit's lock and load (psycopg alone
    # sends BEGIN and waits for it: the batch sends it first in its own pipeline); every write with
    # COMMIT (their guards run in PostgreSQL: nothing is left to check in Python before COMMIT).
    assert len(round_trips) == 2, round_trips
    assert round_trips[0][0] == "BEGIN" and wire.statements(round_trips[-1])[-1] == "COMMIT", round_trips
    claim_and_lock = wire.statements(round_trips[0])[1:]
    assert claim_and_lock[0].startswith("INSERT INTO idempotency_record"), round_trips
    assert claim_and_lock[1].startswith("SELECT id FROM catalog_payment_account"), round_trips
