"""Reprocessing against PostgreSQL: the unit suite's properties through the real repositories, and a
reversal racing a payment on the same credit (threads, own connections) ends as date order says."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.credits.schedule import InterestMethod
from domain.ledger.model import Source
from domain.payments.model import MethodLine
from domain.shared.money import Money
from tests.factories import PaymentAccountFactory, UserFactory
from tests.unit.domain.fakes import FixedClock
from tests.unit.domain.test_reprocessing import (
    Desk,
    _book_holds,
    _from_scratch,
    _open,
    _standing,
    actions,
    check_date_order_from_scratch,
    check_fees_conserved_and_in_order_replays_to_itself,
)

pytestmark = [pytest.mark.integration]
# Examples share the test's database (each makes its own users and credit).
SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def _desk() -> Desk:
    agent = UserFactory(role="agent")
    admin = UserFactory(role="admin")
    client = UserFactory(role="client")
    cash = PaymentAccountFactory(currency_id="USD")
    clock = FixedClock()
    return Desk(
        ports=dataclasses.replace(build_ports(), clock=clock),
        clock=clock,
        client_id=client.id,
        agent=Actor(agent.id, Source.WEB),
        admin=Actor(admin.id, Source.ADMIN, role="admin"),
        cash=cash.id,
    )


@pytest.mark.django_db
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 5),
    method=st.sampled_from([InterestMethod.ZERO_INTEREST, InterestMethod.FRENCH]),
    script=actions(with_fees=False),
)
def test_any_order_of_payments_and_reversals_ends_as_date_order_from_scratch(
    n: int, method: InterestMethod, script: list[object]
) -> None:
    note(f"n={n} method={method} script={script}")
    check_date_order_from_scratch(_desk(), n, method, script)


@pytest.mark.django_db
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 4), script=actions(with_fees=True))
def test_with_late_fees_money_is_conserved_and_in_order_replays_to_itself(n: int, script: list[object]) -> None:
    note(f"n={n} script={script}")
    check_fees_conserved_and_in_order_replays_to_itself(_desk(), n, script)


def _in_threads(work: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work[index]()
        except Exception as exc:  # asserted on below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_a_reversal_racing_a_backdated_payment_ends_as_date_order_says(round_: int) -> None:
    """The oldest payment is reversed while a payment dated between it and the next is entered:
    whichever takes the credit's lock first, the standing payments end allocated in date order."""
    desk = _desk()
    credit = _open(desk, 4, InterestMethod.ZERO_INTEREST)
    due = credit.installments[0].due_date
    desk.clock.set_date(due + timedelta(days=70))
    quarter = Money.of(Decimal("250.00"), credit.currency)

    def pay(key: str, days: int) -> object:
        return use_cases.register_payment(
            desk.ports,
            use_cases.RegisterPayment(
                credit.id,
                quarter,
                (MethodLine(desk.cash, quarter),),
                f"{key}-{round_}-{credit.id}",
                paid_on=due + timedelta(days=days),
                prepay=True,
            ),
            desk.agent,
        )

    oldest = pay("oldest", 0)
    pay("newest", 40)
    results = _in_threads(
        [
            lambda: use_cases.reverse_payment(desk.ports, oldest.id, "bounced", desk.admin),  # type: ignore[attr-defined]
            lambda: pay("between", 20),
        ]
    )
    assert not any(isinstance(r, Exception) for r in results), results
    after = desk.ports.credits.get(credit.id)
    assert after is not None
    payments = _standing(desk.ports, credit.id)
    assert len(payments) == 2
    figures, lines = _from_scratch(after, payments)
    assert [(i.paid_late_fee, i.paid_interest, i.paid_principal) for i in after.installments] == figures
    assert {p.id: p.allocations for p in payments} == lines
    _book_holds(desk.ports, after, payments)
