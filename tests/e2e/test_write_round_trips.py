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
from tests.builders import Caller, open_credit, pay, payment_account
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def test_a_credit_with_installments_and_events_loads_in_one_round_trip() -> None:
    agent = UserFactory(role="agent")
    credit = open_credit(UserFactory(role="client"), agent, installments=6)
    pay(credit, "150.00")
    with CaptureQueriesContext(connection) as queries:
        loaded = DjangoCreditRepository(OrmSession()).get(credit.id, for_update=True)
    assert len(queries) == 1
    assert loaded is not None and len(loaded.installments) == 6 and loaded.events
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
    # The idempotency claim, the credit (one, locked), the accounts, the ledger transaction with its
    # postings (one), the payment with its lines and allocation (one), credit update, installments
    # update, audit, the idempotency answer: 9, plus the unit of work's savepoint and release
    # (BEGIN/COMMIT outside a test). Was 19: the claim and the use case share one unit of work (no
    # inner savepoint); authorization runs on the locked credit (no look-up of its own); the answer's
    # figures come from the use case (no reload); the claim is the only idempotency look-up (no
    # search of the payments by key); new rows go in with their children in one statement.
    assert len(queries) == 11, [q["sql"][:60] for q in queries]
