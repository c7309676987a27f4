"""Every use case on the in-memory fakes, plus property tests over random sequences of them."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.analytics.ports import CollectionsQuery, CreditFiguresQuery
from domain.application import use_cases as svc
from domain.application.figures import credit_figures
from domain.application.ports import SYSTEM, Actor, Policies
from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.errors import CannotActivate, CannotRefinance, CreditNotOpen
from domain.credits.model import Credit, CreditEventKind, CreditState
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger import accounts, entries
from domain.ledger.book import balance_of
from domain.ledger.model import Source, TransactionStatus, TransactionType
from domain.payments.errors import IdempotencyKeyReused, OverpaymentRefused, PaymentAlreadyReversed
from domain.payments.model import MethodLine, PaymentStatus, WaiverStatus
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound, WaiverRefused
from domain.shared.money import COP, USD, Money

from .builders import usd
from .fakes import InMemoryCollections, InMemoryCreditFigures, World

AGENT = Actor(user_id=3, source=Source.MOBILE)
ADMIN = Actor(user_id=1, source=Source.ADMIN)
TODAY = date(2024, 1, 10)


def open_cmd(price: str = "400", n: int = 4, **kw: object) -> svc.OpenCredit:
    base: dict[str, object] = {
        "user_id": 7,
        "agent_id": 3,
        "price": usd(price),
        "cost": usd(f"{Decimal(price) * 3 / 4:.2f}"),
        "subcategory_id": 1,
        "periodicity": Periodicity.MONTHLY,
        "installments": n,
        "first_due_date": date(2024, 2, 1),
        "method": InterestMethod.ZERO_INTEREST,
    }
    base.update(kw)
    return svc.OpenCredit(**base)  # type: ignore[arg-type]


def _rate_for(method: InterestMethod, rate: str) -> Decimal:
    """`rate`, or 0 for the zero-interest method (a rate there is refused)."""
    return Decimal(0) if method is InterestMethod.ZERO_INTEREST else Decimal(rate)


def pay_cmd(credit: Credit, amount: str, key: str = "k1", **kw: object) -> svc.RegisterPayment:
    return svc.RegisterPayment(
        credit_id=credit.id,
        amount=usd(amount),
        method_lines=kw.pop("lines", (MethodLine(1, usd(amount)),)),  # type: ignore[arg-type]
        idempotency_key=key,
        **kw,  # type: ignore[arg-type]
    )


def receivable(world: World, credit: Credit) -> Money:
    return balance_of(accounts.receivable(credit.id), credit.currency, world.transactions.stream())


def comparable(credit: Credit) -> Credit:
    """The credit without the repository's version counter."""
    return dataclasses.replace(credit, version=0)


@pytest.fixture
def world() -> World:
    return World()


class TestOpenCredit:
    def test_opened_and_disbursed(self, world: World) -> None:
        credit = svc.open_credit(
            world.ports, open_cmd(method=InterestMethod.FRENCH, annual_rate=Decimal("0.12")), AGENT
        )
        stored = world.credit(credit.id)
        assert stored.state is CreditState.ACTIVE and stored.opened_on == TODAY
        (tx,) = world.transactions.rows.values()
        assert tx.type is TransactionType.DISBURSEMENT and tx.agent_id == 3 and tx.user_id == 7
        assert tx.source is Source.MOBILE and tx.reference_id == credit.id
        assert receivable(world, stored) == stored.pending == usd("400") + stored.total_interest
        assert world.uow.commits == 1

    def test_opened_pending_then_activated(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        assert world.credit(credit.id).state is CreditState.PENDING
        assert not world.transactions.rows
        svc.activate_credit(world.ports, credit.id, ADMIN)
        assert world.credit(credit.id).state is CreditState.ACTIVE
        assert receivable(world, credit) == usd("400")
        with pytest.raises(CannotActivate):
            svc.activate_credit(world.ports, credit.id, ADMIN)

    def test_cancel_a_pending_credit(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        svc.cancel_credit(world.ports, credit.id, "client changed their mind", ADMIN)
        assert world.credit(credit.id).state is CreditState.CANCELLED

    def test_daily_schedule_skips_the_holiday_port_dates(self) -> None:
        from domain.shared.calendar import FixedHolidays

        world = World(holidays=FixedHolidays([date(2024, 2, 2)]))
        cmd = open_cmd(
            "30",
            3,
            cost=usd("20"),
            periodicity=Periodicity.DAILY,
            skip_sundays=True,
            skip_holidays=True,
            first_due_date=date(2024, 2, 1),
        )
        credit = svc.open_credit(world.ports, cmd, AGENT)
        # Thu 1, (Fri 2 holiday), Sat 3, (Sun 4), Mon 5.
        assert [i.due_date for i in credit.installments] == [
            date(2024, 2, 1),
            date(2024, 2, 3),
            date(2024, 2, 5),
        ]

    def test_unknown_credit(self, world: World) -> None:
        with pytest.raises(NotFound):
            svc.activate_credit(world.ports, UUID(int=404), ADMIN)

    def test_invalid_terms_write_nothing(self, world: World) -> None:
        with pytest.raises(InvalidInput):
            svc.open_credit(world.ports, open_cmd(first_due_date=date(2024, 1, 1)), AGENT)
        assert not world.credits.rows and not world.transactions.rows and world.uow.rollbacks == 1


class TestRegisterPayment:
    def test_split_payment_is_allocated_and_booked(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        lines = (MethodLine(1, usd("80")), MethodLine(2, usd("70")))
        payment = svc.register_payment(world.ports, pay_cmd(credit, "150", lines=lines, prepay=True), AGENT)
        assert payment.agent_id == 3 and payment.paid_on == TODAY and payment.credit_state_before == "active"
        assert [(a.installment_id, a.principal) for a in payment.allocations] == [
            (credit.installments[0].id, usd("100")),
            (credit.installments[1].id, usd("50")),
        ]
        stored = world.credit(credit.id)
        assert stored.pending == usd("250") == receivable(world, stored)
        tx = world.transactions.get(payment.transaction_id)
        assert tx is not None and tx.type is TransactionType.REPAYMENT and tx.reference_id == payment.id
        assert balance_of("cash:2", USD, world.transactions.stream()) == usd("70")
        assert world.payments.get(payment.id) == payment

    def test_same_key_same_request_replays(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        first = svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        again = svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        assert again == first
        assert len(world.payments.rows) == 1 and len(world.transactions.rows) == 2
        assert world.credit(credit.id).pending == usd("300")

    def test_same_key_other_request_conflicts(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        with pytest.raises(IdempotencyKeyReused):
            svc.register_payment(world.ports, pay_cmd(credit, "90"), AGENT)

    def test_overpayment_refused_and_nothing_written(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        before = dict(world.transactions.rows)
        with pytest.raises(OverpaymentRefused):
            svc.register_payment(world.ports, pay_cmd(credit, "100.01"), AGENT)
        assert world.transactions.rows == before and not world.payments.rows
        assert world.credit(credit.id).pending == usd("400")

    def test_paying_everything_pays_the_credit(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.register_payment(world.ports, pay_cmd(credit, "400", prepay=True, agent_id=5), ADMIN)
        stored = world.credit(credit.id)
        assert stored.state is CreditState.PAID and receivable(world, stored) == usd("0")
        assert next(iter(world.payments.rows.values())).agent_id == 5

    @pytest.mark.parametrize(
        "change",
        [
            {"paid_on": TODAY + timedelta(days=1)},
            {"lines": (MethodLine(1, usd("50")),)},
        ],
    )
    def test_bad_requests(self, world: World, change: dict[str, object]) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        with pytest.raises(InvalidInput):
            svc.register_payment(world.ports, pay_cmd(credit, "100", **change), AGENT)

    def test_currency_must_be_the_credits(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        cmd = svc.RegisterPayment(credit.id, Money.of(100, COP), (MethodLine(1, Money.of(100, COP)),), "k")
        with pytest.raises(InvalidInput):
            svc.register_payment(world.ports, cmd, AGENT)

    def test_payment_on_a_pending_credit_refused(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        with pytest.raises(CreditNotOpen):
            svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)

    def test_backdated_payment_allocates_as_of_its_date(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(first_due_date=TODAY), AGENT)
        world.clock.set_date(date(2024, 2, 20))
        # Paid on Jan 10: only installment 1 (due that day) and 2 (the next) were payable.
        with pytest.raises(OverpaymentRefused):
            svc.register_payment(world.ports, pay_cmd(credit, "201", paid_on=TODAY), AGENT)
        payment = svc.register_payment(world.ports, pay_cmd(credit, "200", paid_on=TODAY), AGENT)
        assert world.transactions.get(payment.transaction_id).occurred_on == TODAY  # type: ignore[union-attr]

    def test_stale_credit_save_conflicts(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        stale = world.credit(credit.id)
        svc.register_payment(world.ports, pay_cmd(credit, "10"), AGENT)
        with pytest.raises(Conflict):
            world.credits.save(stale)


class TestReversePayment:
    def test_restores_the_credit_exactly_and_compensates_the_ledger(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd("100", 1), AGENT)
        world.clock.set_date(date(2024, 3, 1))
        svc.apply_late_fees(world.ports)
        svc.recompute_delinquency(world.ports)
        before = world.credit(credit.id)
        payment = svc.register_payment(world.ports, pay_cmd(credit, str(before.pending.amount)), AGENT)
        assert world.credit(credit.id).state is CreditState.PAID
        reversed_ = svc.reverse_payment(world.ports, payment.id, "cheque bounced", ADMIN)
        assert reversed_.status is PaymentStatus.REVERSED and reversed_.reversal is not None
        after = world.credit(credit.id)
        assert comparable(after) == comparable(before)
        assert receivable(world, after) == after.pending
        original = world.transactions.get(payment.transaction_id)
        assert original is not None and original.status is TransactionStatus.REVERSED
        assert svc.verify_book(world.ports).ok

    def test_twice_is_refused(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        payment = svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        svc.reverse_payment(world.ports, payment.id, "mistake", ADMIN)
        with pytest.raises(PaymentAlreadyReversed):
            svc.reverse_payment(world.ports, payment.id, "mistake", ADMIN)

    def test_needs_a_reason_and_a_known_payment(self, world: World) -> None:
        with pytest.raises(InvalidInput):
            svc.reverse_payment(world.ports, UUID(int=1), " ", ADMIN)
        with pytest.raises(NotFound):
            svc.reverse_payment(world.ports, UUID(int=1), "why", ADMIN)

    def test_missing_ledger_transaction(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        payment = svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        del world.transactions.rows[payment.transaction_id]
        with pytest.raises(NotFound):
            svc.reverse_payment(world.ports, payment.id, "why", ADMIN)

    def test_refused_once_the_credit_is_written_off(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        payment = svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        svc.write_off_credit(world.ports, credit.id, "fled", ADMIN)
        with pytest.raises(CreditNotOpen):
            svc.reverse_payment(world.ports, payment.id, "bounced", ADMIN)
        assert world.payments.get(payment.id).status is PaymentStatus.POSTED  # type: ignore[union-attr]


class TestLateFeesAndDelinquency:
    def test_nightly_fees_in_chunks_idempotent(self) -> None:
        world = World(policies=Policies(job_chunk=2))
        credits = [svc.open_credit(world.ports, open_cmd(), AGENT) for _ in range(3)]
        closed = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        world.clock.set_date(date(2024, 3, 2))  # installment 1 is 30 days late: 5 % of 100
        result = svc.apply_late_fees(world.ports)
        assert (result.visited, result.changed, result.charged) == (3, 3, {"USD": usd("15.00")})
        for c in credits:
            stored = world.credit(c.id)
            assert stored.installments[0].late_fee == usd("5.00")
            assert receivable(world, stored) == stored.pending == usd("405")
        assert world.credit(closed.id).installments[0].late_fee == usd("0")
        again = svc.apply_late_fees(world.ports)
        assert (again.visited, again.changed) == (3, 0)
        fee_txs = [t for t in world.transactions.rows.values() if t.type is TransactionType.LATE_FEE]
        assert len(fee_txs) == 3 and {t.source for t in fee_txs} == {Source.SYSTEM}

    def test_single_credit_fees(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        charges = svc.charge_late_fees(world.ports, credit.id, as_of=date(2024, 3, 2))
        assert [c.amount for c in charges] == [usd("5.00")]
        assert svc.charge_late_fees(world.ports, credit.id, as_of=date(2024, 3, 2)) == []
        pending = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        assert svc.charge_late_fees(world.ports, pending.id, as_of=date(2024, 3, 2)) == []

    def test_delinquency_moves_credits_to_defaulted_and_back(self) -> None:
        world = World(policies=Policies(delinquency=DelinquencyPolicy(default_after_days=30)))
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        world.clock.set_date(date(2024, 3, 5))
        result = svc.recompute_delinquency(world.ports)
        stored = world.credit(credit.id)
        assert (result.visited, result.changed) == (1, 1)
        assert stored.state is CreditState.DEFAULTED and stored.delinquency.days_past_due == 33
        assert stored.delinquency.is_in_default and stored.delinquency.morosidad_level == 2
        assert svc.recompute_delinquency(world.ports).changed == 0
        svc.register_payment(world.ports, pay_cmd(credit, "200"), AGENT)
        svc.recompute_delinquency(world.ports)
        assert world.credit(credit.id).state is CreditState.ACTIVE
        assert world.history(credit.id)[-1].kind is CreditEventKind.CURED

    def test_a_credit_closed_between_listing_and_loading_is_skipped(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)

        class Racing:
            def __getattr__(self, name: str) -> object:
                return getattr(world.credits, name)

            def open_credit_ids(self, *, after: UUID | None, limit: int) -> list[UUID]:
                return [] if after else [credit.id]

        svc.write_off_credit(world.ports, credit.id, "gone", ADMIN)
        ports = dataclasses.replace(world.ports, credits=Racing())  # type: ignore[arg-type]
        assert svc.apply_late_fees(ports, date(2024, 6, 1)).changed == 0


class TestWaivers:
    def setup_fee(self, world: World) -> Credit:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.charge_late_fees(world.ports, credit.id, as_of=date(2024, 3, 2))
        return credit

    def test_requested_by_an_agent_approved_by_an_admin(self, world: World) -> None:
        credit = self.setup_fee(world)
        inst = credit.installments[0].id
        waiver = svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, usd("3"), "hospitalised"), AGENT)
        assert waiver.status is WaiverStatus.REQUESTED and waiver.requested_by == 3
        assert world.credit(credit.id).installments[0].late_fee_outstanding == usd("5.00")
        decided = svc.decide_fee_waiver(world.ports, waiver.id, approve=True, note="ok", actor=ADMIN)
        assert decided.status is WaiverStatus.APPROVED and decided.decided_by == 1
        stored = world.credit(credit.id)
        assert stored.installments[0].late_fee_outstanding == usd("2.00")
        assert receivable(world, stored) == stored.pending
        tx = world.transactions.get(decided.transaction_id)  # type: ignore[arg-type]
        assert tx is not None and tx.type is TransactionType.FEE_WAIVER and tx.reference_id == waiver.id

    def test_rejected(self, world: World) -> None:
        credit = self.setup_fee(world)
        waiver = svc.request_fee_waiver(
            world.ports, svc.RequestWaiver(credit.installments[0].id, usd("3"), "reason"), AGENT
        )
        svc.decide_fee_waiver(world.ports, waiver.id, approve=False, note="no grounds", actor=ADMIN)
        assert world.waivers.get(waiver.id).status is WaiverStatus.REJECTED  # type: ignore[union-attr]
        assert world.credit(credit.id).installments[0].late_fee_outstanding == usd("5.00")

    def test_admin_waives_directly(self, world: World) -> None:
        credit = self.setup_fee(world)
        waiver = svc.waive_fee(world.ports, svc.RequestWaiver(credit.installments[0].id, usd("5"), "goodwill"), ADMIN)
        assert waiver.status is WaiverStatus.APPROVED and waiver.decision_note == "goodwill"
        assert world.credit(credit.id).installments[0].late_fee_outstanding == usd("0")

    def test_refusals(self, world: World) -> None:
        credit = self.setup_fee(world)
        inst = credit.installments[0].id
        with pytest.raises(WaiverRefused):
            svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, usd("5.01"), "too much"), AGENT)
        with pytest.raises(InvalidInput):
            svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, Money.of(1, COP), "peso"), AGENT)
        with pytest.raises(NotFound):
            svc.request_fee_waiver(world.ports, svc.RequestWaiver(UUID(int=10**9), usd("1"), "x"), AGENT)
        with pytest.raises(InvalidInput):
            svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, usd("1"), "x"), SYSTEM)
        with pytest.raises(NotFound):
            svc.decide_fee_waiver(world.ports, UUID(int=10**9), approve=True, note="", actor=ADMIN)
        assert not world.waivers.rows


class TestBookChanges:
    def test_adjust_both_ways(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.adjust_credit(world.ports, credit.id, usd("25"), "delivery", ADMIN)
        svc.adjust_credit(world.ports, credit.id, usd("-40"), "discount", ADMIN)
        stored = world.credit(credit.id)
        assert stored.pending == usd("385") == receivable(world, stored)
        assert [e.kind for e in world.history(credit.id)].count(CreditEventKind.ADJUSTMENT) == 2

    def test_write_off(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.register_payment(world.ports, pay_cmd(credit, "100"), AGENT)
        svc.write_off_credit(world.ports, credit.id, "uncollectable", ADMIN)
        stored = world.credit(credit.id)
        assert stored.state is CreditState.WRITTEN_OFF and receivable(world, stored) == usd("0")
        assert balance_of(accounts.WRITE_OFFS, USD, world.transactions.stream()) == usd("300")

    def test_refinance_into_a_new_credit(self, world: World) -> None:
        old = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.register_payment(world.ports, pay_cmd(old, "100"), AGENT)
        cmd = svc.Refinance(
            old.id,
            6,
            Periodicity.MONTHLY,
            date(2024, 3, 1),
            InterestMethod.FRENCH,
            Decimal("0.24"),
            "hardship",
        )
        new = svc.refinance_credit(world.ports, cmd, ADMIN).credit
        stored_old, stored_new = world.credit(old.id), world.credit(new.id)
        assert stored_old.state is CreditState.REFINANCED
        assert world.history(old.id)[-1].related_credit_id == new.id
        assert stored_new.state is CreditState.ACTIVE and stored_new.refinanced_from_id == old.id
        assert stored_new.price == usd("300") and stored_new.earnings == usd("0")
        assert receivable(world, stored_old) == usd("0")
        assert receivable(world, stored_new) == stored_new.pending == usd("300") + stored_new.total_interest
        assert svc.verify_book(world.ports).ok

    def test_refinance_refused_for_a_closed_credit(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        cmd = svc.Refinance(
            credit.id, 2, Periodicity.MONTHLY, date(2024, 3, 1), InterestMethod.ZERO_INTEREST, Decimal(0), "x"
        )
        with pytest.raises(CannotRefinance):
            svc.refinance_credit(world.ports, cmd, ADMIN)
        with pytest.raises(InvalidInput):
            svc.refinance_credit(world.ports, dataclasses.replace(cmd, reason=""), ADMIN)

    def test_ledger_only_bookings(self, world: World) -> None:
        meta = entries.Meta(id=UUID(int=900), source=Source.ADMIN, occurred_on=TODAY, recorded_at=world.clock.now())
        svc.record_transactions(world.ports, [entries.income(meta, cash_account_id=1, amount=usd("12"))])
        assert balance_of("cash:1", USD, world.transactions.stream()) == usd("12")


class TestReadModels:
    def test_figures_and_collections_from_credits(self, world: World) -> None:
        a = svc.open_credit(world.ports, open_cmd(), AGENT)
        b = svc.open_credit(world.ports, open_cmd(agent_id=4), AGENT)
        svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
        svc.register_payment(world.ports, pay_cmd(b, "400", prepay=True), AGENT)
        query: CreditFiguresQuery = InMemoryCreditFigures(world.credits)
        as_of = date(2024, 3, 5)
        rows = {r.credit_id: r for r in query.for_user(7, as_of)}
        assert rows[a.id].overdue == usd("200") and rows[a.id].days_past_due == 33
        assert rows[a.id].next_due_date == date(2024, 2, 1) and rows[a.id].next_due_amount == usd("100")
        assert rows[b.id].state == "paid" and rows[b.id].pending == usd("0") and rows[b.id].next_due_date is None
        assert query.count() == 3
        first = query.chunk(after=None, limit=2, as_of=as_of)
        rest = query.chunk(after=first[-1].credit_id, limit=2, as_of=as_of)
        assert len(first) == 2 and len(rest) == 1
        collections: CollectionsQuery = InMemoryCollections(world.credits)
        due = collections.unsettled_for_agent(3, due_until=as_of)
        assert [(d.credit_id, d.number) for d in due] == [(a.id, 1), (a.id, 2)]

    def test_closed_credit_figures(self, world: World) -> None:
        credit = svc.open_credit(world.ports, open_cmd(), AGENT)
        svc.write_off_credit(world.ports, credit.id, "gone", ADMIN)
        row = credit_figures(world.credit(credit.id), date(2024, 6, 1), DelinquencyPolicy())
        assert (row.pending, row.overdue, row.days_past_due, row.is_in_default) == (
            usd("0"),
            usd("0"),
            0,
            False,
        )


# --- properties ----------------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 100), st.booleans()),
        st.tuples(st.just("reverse"), st.integers(0, 5), st.just(False)),
        st.tuples(st.just("days"), st.integers(1, 45), st.just(False)),
        st.tuples(st.just("adjust"), st.integers(-150, 150), st.just(False)),
        st.tuples(st.just("waive"), st.integers(1, 100), st.just(False)),
        st.tuples(st.just("write_off"), st.just(0), st.just(False)),
    ),
    max_size=12,
)


def run(world: World, credits: list[Credit], ops: list[tuple[str, int, bool]]) -> None:
    payments: list[UUID] = []
    for step, (op, value, flag) in enumerate(ops):
        credit = world.credit(credits[step % len(credits)].id)
        try:
            if op == "pay" and credit.state.is_open:
                # A share (in %) of what is owed; flag asks for prepayment.
                units = max(1, credit.pending.minor * value // 100)
                p = svc.register_payment(
                    world.ports,
                    svc.RegisterPayment(
                        credit.id,
                        Money.from_minor(units, USD),
                        (MethodLine(1 + step % 2, Money.from_minor(units, USD)),),
                        f"k{step}",
                        prepay=flag,
                    ),
                    AGENT,
                )
                payments.append(p.id)
            elif op == "reverse" and payments:
                svc.reverse_payment(world.ports, payments[value % len(payments)], "reversal", ADMIN)
            elif op == "days":
                world.clock.advance(value)
                svc.apply_late_fees(world.ports)
                svc.recompute_delinquency(world.ports)
            elif op == "adjust" and value:
                svc.adjust_credit(world.ports, credit.id, usd(str(value)), "adjustment", ADMIN)
            elif op == "waive":
                inst = next((i for i in credit.installments if i.late_fee_outstanding.is_positive), None)
                if inst is not None:
                    amount = Money.from_minor(max(1, inst.late_fee_outstanding.minor * value // 100), USD)
                    svc.waive_fee(world.ports, svc.RequestWaiver(inst.id, amount, "goodwill"), ADMIN)
            elif op == "write_off":
                svc.write_off_credit(world.ports, credit.id, "gone", ADMIN)
        except DomainError:
            pass  # refused operations must leave everything as it was; the invariants below check it


class TestProperties:
    @settings(max_examples=25)
    @given(ops=operations, method=st.sampled_from(list(InterestMethod)))
    def test_a_book_of_random_operations_stays_balanced(
        self, ops: list[tuple[str, int, bool]], method: InterestMethod
    ) -> None:
        world = World()
        credits = [
            svc.open_credit(world.ports, open_cmd(method=method, annual_rate=_rate_for(method, "0.3")), AGENT),
            svc.open_credit(world.ports, open_cmd("250", 3, periodicity=Periodicity.WEEKLY), AGENT),
        ]
        run(world, credits, ops)
        assert svc.verify_book(world.ports).ok
        for c in credits:
            stored = world.credit(c.id)
            assert receivable(world, stored) == stored.pending
            assert not stored.pending.is_negative
            for i in stored.installments:
                assert not i.principal_outstanding.is_negative
                assert not i.interest_outstanding.is_negative
                assert not i.late_fee_outstanding.is_negative
            assert (stored.state is CreditState.PAID) == (
                stored.outstanding.is_zero
                and stored.state is not CreditState.WRITTEN_OFF
                and stored.state is not CreditState.REFINANCED
            )

    @settings(max_examples=25)
    @given(ops=operations, share=st.integers(1, 100), prepay=st.booleans(), extra_days=st.integers(0, 90))
    def test_payment_then_reversal_restores_the_previous_state(
        self, ops: list[tuple[str, int, bool]], share: int, prepay: bool, extra_days: int
    ) -> None:
        world = World()
        credit = svc.open_credit(
            world.ports, open_cmd(method=InterestMethod.FRENCH, annual_rate=Decimal("0.24")), AGENT
        )
        run(world, [credit], [op for op in ops if op[0] != "write_off"])
        world.clock.advance(extra_days)
        before = world.credit(credit.id)
        if not before.state.is_open:
            return
        units = max(1, before.pending.minor * share // 100)
        amount = Money.from_minor(units, USD)
        try:
            payment = svc.register_payment(
                world.ports,
                svc.RegisterPayment(credit.id, amount, (MethodLine(1, amount),), "final", prepay=prepay),
                AGENT,
            )
        except OverpaymentRefused:
            assert not prepay
            return
        svc.reverse_payment(world.ports, payment.id, "undo", ADMIN)
        after = world.credit(credit.id)
        assert comparable(after) == comparable(before)
        assert receivable(world, after) == after.pending
