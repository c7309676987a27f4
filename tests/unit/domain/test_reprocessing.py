"""Reprocessing on the in-memory ports: whatever the order payments are entered in, backdated or
reversed, the credit ends as if its standing payments had been allocated in date order from scratch.

The reference is independent of `domain.payments.replay`: a fresh credit with the same schedule and
the plain waterfall (`allocate_payment` + `Credit.apply_allocation`) applied payment by payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from domain.application import use_cases as svc
from domain.application.ports import Actor, Ports
from domain.credits.errors import CreditNotOpen
from domain.credits.model import Credit, CreditState
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms
from domain.ledger import accounts
from domain.ledger.book import balance_of
from domain.ledger.model import Source, TransactionType
from domain.payments.allocation import AllocationLine, allocate_payment
from domain.payments.errors import OverpaymentRefused
from domain.payments.model import MethodLine, Payment
from domain.payments.replay import replay
from domain.shared.money import USD, Money

from .builders import usd
from .fakes import FixedClock, SequentialIds, World

AGENT = Actor(user_id=3, source=Source.WEB)
ADMIN = Actor(user_id=1, source=Source.ADMIN, role="admin")
OPENED = date(2024, 1, 10)
CASH = 5


@dataclass(frozen=True)
class Pay:
    days_later: int  # the clock moves this far before the payment is entered
    backdate: int  # paid_on = the entry day minus this (never before the credit was opened)
    cents: int


@dataclass(frozen=True)
class Reverse:
    days_later: int
    pick: int  # which standing payment (modulo their number)


@dataclass(frozen=True)
class Nightly:
    days_later: int


def actions(with_fees: bool) -> st.SearchStrategy[list[object]]:
    pay = st.builds(Pay, st.integers(0, 40), st.integers(0, 60), st.integers(1, 30_000))
    reverse = st.builds(Reverse, st.integers(0, 20), st.integers(0, 50))
    kinds = [pay, pay, reverse] + ([st.builds(Nightly, st.integers(0, 30))] if with_fees else [])
    return st.lists(st.one_of(*kinds), min_size=1, max_size=12)


@dataclass
class Desk:
    """Where a script runs: the ports (fakes or PostgreSQL), a clock the script moves, who acts."""

    ports: Ports
    clock: FixedClock
    client_id: int = 7
    agent: Actor = AGENT
    admin: Actor = ADMIN
    cash: int = CASH

    @classmethod
    def of(cls, world: World) -> Desk:
        return cls(world.ports, world.clock)


def _open(desk: Desk, n: int, method: InterestMethod) -> Credit:
    desk.clock.set_date(OPENED)
    rate = Decimal("0.30") if method is InterestMethod.FRENCH else Decimal(0)
    return svc.open_credit(
        desk.ports,
        svc.OpenCredit(
            user_id=desk.client_id,
            agent_id=desk.agent.user_id,
            price=usd("1000"),
            cost=usd("600"),
            subcategory_id=None,
            periodicity=Periodicity.MONTHLY,
            installments=n,
            first_due_date=OPENED + timedelta(days=20),
            method=method,
            annual_rate=rate,
        ),
        desk.agent,
    )


def _run(desk: Desk, credit_id: object, script: list[object]) -> None:
    """Play the script through the use cases; refusals (overpayment, closed credit) are part of life."""
    for action in script:
        desk.clock.advance(action.days_later)  # type: ignore[attr-defined]
        desk.clock.current += timedelta(seconds=1)  # every booking at its own instant, as in life
        today = desk.clock.today()
        try:
            if isinstance(action, Pay):
                amount = Money.of(Decimal(action.cents) / 100, USD)
                svc.register_payment(
                    desk.ports,
                    svc.RegisterPayment(
                        credit_id=credit_id,  # type: ignore[arg-type]
                        amount=amount,
                        method_lines=(MethodLine(desk.cash, amount),),
                        idempotency_key=uuid4().hex,
                        paid_on=max(OPENED, today - timedelta(days=action.backdate)),
                        prepay=True,
                    ),
                    desk.agent,
                )
            elif isinstance(action, Reverse):
                standing = sorted(desk.ports.payments.posted_for_credit(credit_id), key=lambda p: p.id)  # type: ignore[arg-type]
                if standing:
                    svc.reverse_payment(desk.ports, standing[action.pick % len(standing)].id, "bounced", desk.admin)
            else:
                svc.charge_late_fees(desk.ports, credit_id, as_of=today)  # type: ignore[arg-type]
        except (OverpaymentRefused, CreditNotOpen):
            pass  # more than owed, or a paid credit: refused as such, nothing changed


def _standing(ports: Ports, credit_id: object) -> list[Payment]:
    return sorted(
        ports.payments.posted_for_credit(credit_id),  # type: ignore[arg-type]
        key=lambda p: (p.paid_on, p.received_at, p.id),
    )


def _from_scratch(
    credit: Credit, payments: list[Payment]
) -> tuple[list[tuple[Money, Money, Money]], dict[object, tuple[AllocationLine, ...]]]:
    """The same schedule, fresh, with the standing payments allocated one by one in date order."""
    fresh = Credit.open(
        id=credit.id,
        user_id=credit.user_id,
        agent_id=credit.agent_id,
        price=credit.price,
        cost=credit.cost,
        subcategory_id=None,
        terms=ScheduleTerms(
            credit.price,
            len(credit.installments),
            credit.periodicity,
            credit.installments[0].due_date,
            credit.interest_method,
            credit.annual_rate,
        ),
        opened_on=credit.opened_on,
        ids=SequentialIds(10**9),
    )
    fresh.activate(event_id=fresh.id, at=datetime(2024, 1, 10, tzinfo=UTC))
    by_number = {i.number: i for i in credit.installments}
    for inst in fresh.installments:  # same ids, so allocation lines compare
        inst.id = by_number[inst.number].id
    lines = {}
    for payment in payments:
        lines[payment.id] = allocate_payment(payment.amount, fresh.installments, as_of=payment.paid_on, prepay=True)
        fresh.apply_allocation(lines[payment.id])
    return [(i.paid_late_fee, i.paid_interest, i.paid_principal) for i in fresh.installments], lines


def _book_holds(ports: Ports, credit: Credit, payments: list[Payment]) -> None:
    # Money is conserved: what the installments hold is exactly what the standing payments brought,
    # and each payment's allocation adds up to its amount and to the installments' figures.
    held = sum((i.paid.amount for i in credit.installments), Decimal(0))
    assert held == sum((p.amount.amount for p in payments), Decimal(0))
    for p in payments:
        assert sum((line.amount.amount for line in p.allocations), Decimal(0)) == p.amount.amount
    for inst in credit.installments:
        lines = [line for p in payments for line in p.allocations if line.installment_id == inst.id]
        assert sum((x.late_fee.amount for x in lines), Decimal(0)) == inst.paid_late_fee.amount
        assert sum((x.interest.amount for x in lines), Decimal(0)) == inst.paid_interest.amount
        assert sum((x.principal.amount for x in lines), Decimal(0)) == inst.paid_principal.amount
    # The ledger balances, and the credit's receivable is what it owes.
    assert svc.verify_book(ports).problems == []
    transactions = list(ports.transactions.stream())
    receivable = balance_of(accounts.receivable(credit.id), USD, transactions)
    assert receivable == credit.pending
    assert credit.state is (CreditState.PAID if credit.outstanding.is_zero else credit.state)
    if not credit.outstanding.is_zero:
        assert credit.state.is_open


def check_date_order_from_scratch(desk: Desk, n: int, method: InterestMethod, script: list[object]) -> None:
    opened = _open(desk, n, method)
    _run(desk, opened.id, script)
    credit = desk.ports.credits.get(opened.id)
    assert credit is not None
    payments = _standing(desk.ports, opened.id)
    got = [(i.paid_late_fee, i.paid_interest, i.paid_principal) for i in credit.installments]
    figures, lines = _from_scratch(credit, payments)
    assert got == figures
    # Not only the totals (which the set of payments fixes): each payment pays what it would have.
    assert {p.id: p.allocations for p in payments} == lines
    _book_holds(desk.ports, credit, payments)


def check_fees_conserved_and_in_order_replays_to_itself(desk: Desk, n: int, script: list[object]) -> None:
    opened = _open(desk, n, InterestMethod.ZERO_INTEREST)
    for action in script:
        _run(desk, opened.id, [action])
        credit = desk.ports.credits.get(opened.id)
        assert credit is not None
        for inst in credit.installments:
            assert inst.late_fee >= inst.late_fee_waived + inst.paid_late_fee
    credit = desk.ports.credits.get(opened.id)
    assert credit is not None
    payments = _standing(desk.ports, opened.id)
    _book_holds(desk.ports, credit, payments)
    # Entered in date order with nothing reversed, the replay gives back exactly what the ordinary
    # path booked (so the fast path and the replay agree). After a reprocessing this is only true of
    # the totals: fee charges are booked per credit and night, not per installment, so a later
    # reprocessing may spread a night's charge over the installments differently (oldest first).
    nights = desk.ports.transactions.late_fee_nights(opened.id)
    again = replay(credit.installments, payments, currency=USD, fee_nights=nights, policy=desk.ports.policies.late_fees)
    in_order = not any(isinstance(a, Reverse) or (isinstance(a, Pay) and a.backdate) for a in script)
    if in_order:
        for inst in credit.installments:
            outcome = again.installments[inst.id]
            stored = (inst.late_fee, inst.paid_late_fee, inst.paid_interest, inst.paid_principal)
            assert (outcome.late_fee, outcome.paid_late_fee, outcome.paid_interest, outcome.paid_principal) == stored
        assert {p.id: p.allocations for p in payments} == again.allocations
    assert again.unallocated.is_zero
    assert sum((o.late_fee.amount for o in again.installments.values()), Decimal(0)) <= sum(
        (i.late_fee.amount for i in credit.installments), Decimal(0)
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 6),
    method=st.sampled_from([InterestMethod.ZERO_INTEREST, InterestMethod.FRENCH]),
    script=actions(with_fees=False),
)
def test_any_order_of_payments_and_reversals_ends_as_date_order_from_scratch(
    n: int, method: InterestMethod, script: list[object]
) -> None:
    note(f"n={n} method={method} script={script}")
    check_date_order_from_scratch(Desk.of(World()), n, method, script)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 5), script=actions(with_fees=True))
# Found against PostgreSQL: a fee night and a payment on the same day, in both orders; a reversal
# between two nights of one day (a night may add at most what it charged).
@example(n=1, script=[Pay(12, 0, 1), Pay(12, 0, 1), Nightly(0)])
@example(n=1, script=[Nightly(24), Pay(0, 0, 1)])
@example(n=1, script=[Pay(0, 0, 176), Nightly(24), Pay(0, 0, 666), Reverse(0, 0), Nightly(0)])
@example(n=2, script=[Pay(0, 0, 1021), Nightly(24), Nightly(30), Pay(0, 0, 2776), Reverse(0, 0), Nightly(0)])
def test_with_late_fees_money_is_conserved_and_in_order_replays_to_itself(n: int, script: list[object]) -> None:
    note(f"n={n} script={script}")
    check_fees_conserved_and_in_order_replays_to_itself(Desk.of(World()), n, script)


def test_a_payment_made_after_a_fee_night_pays_the_fee_first_when_reprocessed() -> None:
    world = World()
    desk = Desk.of(world)
    opened = _open(desk, 2, InterestMethod.ZERO_INTEREST)
    due = opened.installments[0].due_date
    world.clock.set_date(due + timedelta(days=10))
    (charge,) = svc.charge_late_fees(world.ports, opened.id)
    world.clock.set_date(due + timedelta(days=15))
    amount = opened.installments[0].amount
    svc.register_payment(
        world.ports,
        svc.RegisterPayment(
            opened.id, amount, (MethodLine(CASH, amount),), "after-the-fee", paid_on=due + timedelta(days=12)
        ),
        AGENT,
    )
    first = world.credit(opened.id).installments[0]
    # The fee was charged before the payment was made: the waterfall takes it first.
    assert first.late_fee == charge.amount == first.paid_late_fee
    assert first.principal_outstanding == charge.amount


def test_a_fee_charged_while_a_payment_was_not_yet_entered_is_taken_back_and_booked() -> None:
    world = World()
    opened = _open(Desk.of(world), 2, InterestMethod.ZERO_INTEREST)
    due = opened.installments[0].due_date
    world.clock.set_date(due + timedelta(days=20))
    (charge,) = svc.charge_late_fees(world.ports, opened.id)
    assert charge.installment_id == opened.installments[0].id
    amount = opened.installments[0].amount
    svc.register_payment(
        world.ports,
        svc.RegisterPayment(opened.id, amount, (MethodLine(CASH, amount),), "late-entry", paid_on=due),
        AGENT,
    )
    credit = world.credit(opened.id)
    assert credit.installments[0].late_fee.is_zero and credit.installments[0].is_settled
    (booking,) = [t for t in world.transactions.rows.values() if t.type is TransactionType.REALLOCATION]
    legs = {(p.account, p.side.value, p.amount) for p in booking.postings}
    assert legs == {
        (accounts.LATE_FEE_INCOME, "debit", charge.amount),
        (accounts.receivable(opened.id), "credit", charge.amount),
    }
    _book_holds(world.ports, credit, _standing(world.ports, opened.id))
