"""Parallel threads on one credit, each with its own database connection: the credit row lock and
the version check must leave no lost update and no overpayment; one idempotency key, one effect."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections

from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.payments.model import MethodLine
from domain.shared.errors import DomainError
from domain.shared.money import Money
from tests.factories import PaymentAccountFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def _run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.fixture
def credit() -> dict:
    agent = UserFactory(role="agent")
    client = UserFactory(role="client")
    account = PaymentAccountFactory(currency_id="COP")
    ports = build_ports()
    opened = use_cases.open_credit(
        ports,
        use_cases.OpenCredit(
            user_id=client.id,
            agent_id=agent.id,
            price=Money.of("1000.00", "COP"),
            cost=Money.of("600.00", "COP"),
            subcategory_id=None,
            periodicity=Periodicity.MONTHLY,
            installments=4,
            first_due_date=ports.clock.today() + timedelta(days=30),
            method=InterestMethod.ZERO_INTEREST,
        ),
        Actor(agent.id, Source.WEB),
    )
    return {"id": opened.id, "agent": agent, "account": account.id, "client": client}


def test_parallel_payments_never_overpay_nor_lose_an_update(credit: dict) -> None:
    """12 payments of 100.00 with prepay race for a credit owing 1000.00: exactly 10 may pass."""

    def pay(index: int) -> object:
        ports = build_ports()
        return use_cases.register_payment(
            ports,
            use_cases.RegisterPayment(
                credit_id=credit["id"],
                amount=Money.of("100.00", "COP"),
                method_lines=(MethodLine(credit["account"], Money.of("100.00", "COP")),),
                idempotency_key=f"race-{index}",
                prepay=True,
            ),
            Actor(credit["agent"].id, Source.WEB),
        )

    results = _run_in_threads(12, pay)
    succeeded = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(succeeded) == 10, results
    assert all(isinstance(r, DomainError) for r in refused), refused
    after = build_ports().credits.get(credit["id"])
    assert after.pending.is_zero
    assert after.state.value == "paid"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(amount) FROM payments_payment WHERE credit_id = %s", [credit["id"]])
        assert cursor.fetchone() == (10, Decimal("1000.0000"))
        cursor.execute("SELECT sum(paid_principal) FROM credits_installment WHERE credit_id = %s", [credit["id"]])
        assert cursor.fetchone()[0] == Decimal("1000.0000")
    assert use_cases.verify_book(build_ports()).problems == []


def test_twenty_requests_with_one_idempotency_key_make_one_payment(credit: dict, django_user_model: object) -> None:
    from django.test import Client

    from tests.factories import PASSWORD

    token_response = Client().post(
        "/api/v1/auth/token",
        {"username": credit["agent"].username, "password": PASSWORD},
        content_type="application/json",
    )
    token = token_response.json()["access_token"]
    body = {
        "amount": {"amount": "50.00", "currency": "COP"},
        "lines": [{"payment_account_id": credit["account"], "amount": {"amount": "50.00", "currency": "COP"}}],
    }
    key = uuid.uuid4().hex

    def post(index: int) -> object:
        response = Client().post(
            f"/api/v1/credits/{credit['id']}/payments",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        return response.status_code, response.json()

    results = _run_in_threads(20, post)
    statuses = [r[0] for r in results]  # type: ignore[index]
    assert statuses == [201] * 20, results
    assert len({r[1]["id"] for r in results}) == 1  # type: ignore[index]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM payments_payment WHERE credit_id = %s", [credit["id"]])
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT count(*) FROM ledger_transaction WHERE credit_id = %s", [credit["id"]])
        assert cursor.fetchone()[0] == 2  # the disbursement and the one payment


def test_a_stale_version_is_a_conflict(credit: dict) -> None:
    """The version check backs the row lock up: a save from an outdated copy is refused, when its
    deferred write reaches the database (adapters.sql.batch), and nothing of the unit of work stays."""
    from django.db import connection

    from domain.shared.errors import Conflict

    def version() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version FROM credits_credit WHERE id = %s", [credit["id"]])
            return cursor.fetchone()[0]

    def save_both_copies() -> None:
        ports = build_ports()
        with ports.uow:
            stale = ports.credits.get(credit["id"])
            fresh = ports.credits.get(credit["id"], for_update=True)
            fresh.refresh_delinquency(
                ports.clock.today(), ports.policies.delinquency, event_id=uuid.uuid4(), at=ports.clock.now()
            )
            ports.credits.save(fresh)
            stale.refresh_delinquency(
                ports.clock.today(), ports.policies.delinquency, event_id=uuid.uuid4(), at=ports.clock.now()
            )
            ports.credits.save(stale)
            ports.uow.commit()

    first = version()
    with pytest.raises(Conflict):
        save_both_copies()
    assert version() == first
