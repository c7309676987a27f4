from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.credits.delinquency import CLEAR, DelinquencyPolicy
from domain.credits.errors import (
    AdjustmentRefused,
    CannotActivate,
    CannotCancel,
    CannotCure,
    CannotDefault,
    CannotMarkPaid,
    CannotRefinance,
    CannotReopen,
    CannotWriteOff,
    CostAbovePrice,
    CreditNotOpen,
    DatedBeforeOpening,
    EmptyInstallment,
    IllegalTransition,
    RateContradictsMethod,
)
from domain.credits.model import Credit, CreditEventKind, CreditState
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms
from domain.shared.aging import AgingBucket
from domain.shared.errors import AmountTooLarge, InvalidInput, NotFound, RuleViolated, WaiverRefused
from domain.shared.money import COP, USD, Money

from .builders import AT, FIRST_DUE, OPENED, eid, new_credit, usd
from .fakes import SequentialIds

S = CreditState


@dataclass(frozen=True)
class Part:
    installment_id: UUID
    late_fee: Money
    interest: Money
    principal: Money


def pay(credit: Credit, number: int, principal: str, interest: str = "0", fee: str = "0") -> Part:
    return Part(credit.installments[number - 1].id, usd(fee), usd(interest), usd(principal))


class TestOpening:
    def test_a_new_credit_is_pending_with_its_schedule(self) -> None:
        credit = new_credit("1000", 4, method=InterestMethod.FRENCH, rate="0.12", active=False)
        assert credit.state is S.PENDING
        assert [i.number for i in credit.installments] == [1, 2, 3, 4]
        assert [i.due_date for i in credit.installments] == [
            date(2024, 2, 1),
            date(2024, 3, 1),
            date(2024, 4, 1),
            date(2024, 5, 1),
        ]
        assert all(i.credit_id == credit.id for i in credit.installments)
        assert len({i.id for i in credit.installments}) == 4
        assert credit.total_due == usd("1000") + credit.total_interest
        assert credit.total_interest == usd("25.13")  # 10.00 + 7.54 + 5.05 + 2.54
        assert credit.earnings == usd("250")
        assert credit.currency is USD
        assert credit.pending == usd("0")  # not disbursed yet

    def _open(self, **overrides: object) -> Credit:
        kw: dict[str, object] = {
            "id": UUID(int=1),
            "user_id": 1,
            "agent_id": None,
            "price": usd("100"),
            "cost": usd("80"),
            "subcategory_id": None,
            "terms": ScheduleTerms(usd("100"), 2, Periodicity.MONTHLY, FIRST_DUE, InterestMethod.ZERO_INTEREST),
            "opened_on": OPENED,
            "ids": SequentialIds(),
        }
        kw.update(overrides)
        return Credit.open(**kw)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "overrides",
        [
            {"price": usd("99")},
            {"cost": Money.of(80, COP)},
            {"cost": usd("-1")},
            {"opened_on": date(2024, 2, 2)},
        ],
    )
    def test_refused(self, overrides: dict[str, object]) -> None:
        with pytest.raises(InvalidInput):
            self._open(**overrides)

    def test_cost_above_price_needs_allow_loss(self) -> None:
        with pytest.raises(CostAbovePrice) as refused:
            self._open(cost=usd("120"))
        assert refused.value.details == {"price": "100.00", "cost": "120.00"}
        loss_leader = self._open(cost=usd("120"), allow_loss=True)
        assert loss_leader.earnings == usd("-20") and loss_leader.allow_loss
        assert not self._open(cost=usd("100")).allow_loss  # cost == price: no loss, nothing to say

    @pytest.mark.parametrize(
        ("method", "rate"),
        [(InterestMethod.ZERO_INTEREST, "0.24"), (InterestMethod.ZERO_INTEREST, "10")],
    )
    def test_a_rate_the_method_cannot_mean_is_refused(self, method: InterestMethod, rate: str) -> None:
        terms = ScheduleTerms(usd("100"), 2, Periodicity.MONTHLY, FIRST_DUE, method, Decimal(rate))
        with pytest.raises(RateContradictsMethod):
            self._open(terms=terms)

    @pytest.mark.parametrize(
        ("method", "rate"),
        [
            (InterestMethod.ZERO_INTEREST, "0"),
            (InterestMethod.FLAT_MARKUP, "0"),  # the markup is inside the price (the seed's way)
            (InterestMethod.FLAT_MARKUP, "0.24"),
            (InterestMethod.FRENCH, "0.24"),
            (InterestMethod.FRENCH, "0"),  # the declining-balance methods' limit case: no interest
            (InterestMethod.EQUAL_PRINCIPAL, "0.24"),
            (InterestMethod.EQUAL_PRINCIPAL, "0"),
        ],
    )
    def test_rates_each_method_means(self, method: InterestMethod, rate: str) -> None:
        terms = ScheduleTerms(usd("100"), 2, Periodicity.MONTHLY, FIRST_DUE, method, Decimal(rate))
        assert self._open(terms=terms).annual_rate == Decimal(rate)

    def test_a_schedule_with_installments_of_zero_is_refused(self) -> None:
        # Found: 0.36 USD at 999 %/yr, daily x36 left installments 28-36 at 0.00.
        terms = ScheduleTerms(usd("0.36"), 36, Periodicity.DAILY, OPENED, InterestMethod.FRENCH, Decimal("9.99"))
        with pytest.raises(EmptyInstallment) as refused:
            self._open(price=usd("0.36"), cost=usd("0.10"), terms=terms)
        assert refused.value.details["first_empty"] > 1
        assert "0 USD" in refused.value.message

    def test_amounts_above_the_storable_maximum_are_refused(self) -> None:
        big = usd("1000000000000.00")
        terms = ScheduleTerms(big, 2, Periodicity.MONTHLY, FIRST_DUE, InterestMethod.ZERO_INTEREST)
        with pytest.raises(AmountTooLarge) as refused:
            self._open(price=big, cost=usd("1"), terms=terms)
        assert refused.value.details == {"max_amount": "999999999999.99", "currency": "USD"}


class TestTransitions:
    ALLOWED = {
        (S.PENDING, S.ACTIVE),
        (S.PENDING, S.CANCELLED),
        (S.ACTIVE, S.PAID),
        (S.ACTIVE, S.DEFAULTED),
        (S.ACTIVE, S.WRITTEN_OFF),
        (S.ACTIVE, S.REFINANCED),
        (S.DEFAULTED, S.PAID),
        (S.DEFAULTED, S.WRITTEN_OFF),
        (S.DEFAULTED, S.REFINANCED),
    }
    ERRORS = {
        S.ACTIVE: CannotActivate,
        S.PAID: CannotMarkPaid,
        S.DEFAULTED: CannotDefault,
        S.WRITTEN_OFF: CannotWriteOff,
        S.CANCELLED: CannotCancel,
        S.REFINANCED: CannotRefinance,
    }

    @pytest.mark.parametrize("source", list(S))
    @pytest.mark.parametrize("target", [t for t in S if t is not S.PENDING])
    def test_the_whole_matrix(self, source: CreditState, target: CreditState) -> None:
        credit = new_credit(active=False)
        credit.state = source
        if (source, target) in self.ALLOWED:
            credit._move(target)
            assert credit.state is target
        else:
            with pytest.raises(self.ERRORS[target]) as info:
                credit._move(target)
            assert isinstance(info.value, IllegalTransition)
            assert info.value.details == {"from": source.value, "to": target.value}
            assert credit.state is source

    def test_activate_records_an_event(self) -> None:
        credit = new_credit(active=False)
        credit.activate(event_id=eid(1), at=AT, actor_id=9)
        assert credit.state is S.ACTIVE
        assert [(e.kind, e.amount, e.actor_id) for e in credit.events] == [(CreditEventKind.ACTIVATED, usd("400"), 9)]
        with pytest.raises(CannotActivate):
            credit.activate(event_id=eid(2), at=AT)

    def test_cancel_only_pending_and_with_a_reason(self) -> None:
        credit = new_credit(active=False)
        with pytest.raises(InvalidInput):
            credit.cancel(event_id=eid(1), reason="  ", at=AT)
        credit.cancel(event_id=eid(1), reason="client withdrew", at=AT)
        assert credit.state is S.CANCELLED
        assert credit.events[-1].kind is CreditEventKind.CANCELLATION
        with pytest.raises(CannotCancel):
            new_credit().cancel(event_id=eid(2), reason="late", at=AT)

    def test_write_off_books_the_outstanding(self) -> None:
        credit = new_credit()
        credit.apply_allocation([pay(credit, 1, "100")])
        assert credit.write_off(event_id=eid(1), reason="uncollectable", at=AT, on=OPENED) == usd("300")
        assert credit.state is S.WRITTEN_OFF
        assert credit.pending == usd("0") and credit.outstanding == usd("300")
        assert credit.events[-1].amount == usd("300")
        with pytest.raises(CannotWriteOff):
            credit.write_off(event_id=eid(2), reason="again", at=AT, on=OPENED)
        with pytest.raises(InvalidInput):
            new_credit().write_off(event_id=eid(3), reason="", at=AT, on=OPENED)

    def test_no_money_moves_with_a_date_before_the_opening(self) -> None:
        credit = new_credit()
        day_before = date(2023, 12, 31)
        moves = [
            lambda: credit.adjust(event_id=eid(1), amount=usd("5"), reason="fee", at=AT, on=day_before),
            lambda: credit.write_off(event_id=eid(2), reason="gone", at=AT, on=day_before),
            lambda: credit.mark_refinanced(
                event_id=eid(3), new_credit_id=UUID(int=99), reason="longer", at=AT, on=day_before
            ),
            lambda: credit.refinance_balance(day_before),
        ]
        for move in moves:
            with pytest.raises(DatedBeforeOpening) as refused:
                move()
            assert refused.value.details == {"date": "2023-12-31", "earliest_allowed": "2024-01-01"}
        assert credit.state is S.ACTIVE and len(credit.events) == 1
        assert all(i.adjustment.is_zero for i in credit.installments)

    def test_refinanced_records_the_new_credit(self) -> None:
        credit = new_credit()
        new_id = UUID(int=99)
        carried = credit.mark_refinanced(
            event_id=eid(1), new_credit_id=new_id, reason="longer term", at=AT, on=OPENED
        ).carried
        assert carried == usd("400") == credit.events[-1].amount
        assert credit.state is S.REFINANCED
        assert credit.events[-1].related_credit_id == new_id
        with pytest.raises(CannotRefinance):
            credit.mark_refinanced(event_id=eid(2), new_credit_id=new_id, reason="again", at=AT, on=OPENED)

    def test_default_and_cure(self) -> None:
        credit = new_credit()
        credit.declare_default(event_id=eid(1), at=AT, reason="fled", actor_id=1)
        assert credit.state is S.DEFAULTED
        with pytest.raises(CannotDefault):
            credit.declare_default(event_id=eid(2), at=AT)
        credit.cure(event_id=eid(3), at=AT)
        assert credit.state is S.ACTIVE
        assert [e.kind for e in credit.events[-2:]] == [CreditEventKind.DEFAULTED, CreditEventKind.CURED]
        with pytest.raises(CannotCure):
            credit.cure(event_id=eid(4), at=AT)

    def test_states_classify(self) -> None:
        assert {s for s in S if s.is_open} == {S.ACTIVE, S.DEFAULTED}
        assert {s for s in S if s.is_terminal} == {S.WRITTEN_OFF, S.CANCELLED, S.REFINANCED}


class TestMoney:
    def test_partial_then_full_payment_pays_the_credit(self) -> None:
        credit = new_credit("200", 2)
        before = credit.apply_allocation([pay(credit, 1, "60")])
        assert before is S.ACTIVE
        first = credit.installments[0]
        assert first.paid_principal == usd("60") and first.outstanding == usd("40") and not first.is_settled
        assert credit.pending == usd("140")
        credit.apply_allocation([pay(credit, 1, "40"), pay(credit, 2, "100")])
        assert credit.state is S.PAID
        assert credit.pending == usd("0") and credit.total_paid == usd("200")
        assert credit.next_due() is None

    def test_allocation_refused_on_a_closed_or_pending_credit(self) -> None:
        credit = new_credit(active=False)
        with pytest.raises(CreditNotOpen):
            credit.apply_allocation([pay(credit, 1, "1")])

    @pytest.mark.parametrize(
        ("principal", "interest", "fee", "error"),
        [
            ("101", "0", "0", RuleViolated),
            ("0", "1", "0", RuleViolated),
            ("0", "0", "1", RuleViolated),
            ("-1", "0", "0", InvalidInput),
        ],
    )
    def test_allocation_cannot_exceed_or_go_negative(
        self, principal: str, interest: str, fee: str, error: type[Exception]
    ) -> None:
        credit = new_credit()
        with pytest.raises(error):
            credit.apply_allocation([pay(credit, 1, principal, interest, fee)])

    def test_unknown_installment(self) -> None:
        credit = new_credit()
        with pytest.raises(NotFound):
            credit.apply_allocation([Part(UUID(int=5), usd("0"), usd("0"), usd("1"))])

    def test_reversal_reopens_a_paid_credit_in_its_former_state(self) -> None:
        credit = new_credit("100", 1)
        credit.declare_default(event_id=eid(1), at=AT)
        part = pay(credit, 1, "100")
        before = credit.apply_allocation([part])
        assert credit.state is S.PAID
        credit.reverse_allocation([part], state_before=before)
        assert credit.state is S.DEFAULTED
        assert credit.pending == usd("100")

    def test_reversal_of_a_partial_payment_keeps_the_state(self) -> None:
        credit = new_credit()
        part = pay(credit, 1, "50")
        credit.apply_allocation([part])
        credit.reverse_allocation([part], state_before=S.ACTIVE)
        assert credit.state is S.ACTIVE and credit.pending == usd("400")

    def test_reversal_cannot_take_back_more_than_paid(self) -> None:
        credit = new_credit()
        with pytest.raises(RuleViolated):
            credit.reverse_allocation([pay(credit, 1, "1")], state_before=S.ACTIVE)

    def test_reversal_refused_on_a_closed_credit(self) -> None:
        credit = new_credit()
        part = pay(credit, 1, "50")
        credit.apply_allocation([part])
        credit.write_off(event_id=eid(1), reason="gone", at=AT, on=OPENED)
        with pytest.raises(CreditNotOpen):
            credit.reverse_allocation([part], state_before=S.ACTIVE)

    def test_reopen_needs_an_open_target_state(self) -> None:
        credit = new_credit("100", 1)
        part = pay(credit, 1, "100")
        credit.apply_allocation([part])
        with pytest.raises(CannotReopen):
            credit.reverse_allocation([part], state_before=S.PENDING)

    def test_late_fee_charge_and_waiver(self) -> None:
        credit = new_credit("100", 1)
        inst = credit.installments[0]
        credit.charge_late_fee(inst.id, usd("5"))
        credit.charge_late_fee(inst.id, usd("2"))
        assert inst.late_fee == usd("7") and credit.pending == usd("107")
        with pytest.raises(InvalidInput):
            credit.charge_late_fee(inst.id, usd("0"))
        with pytest.raises(WaiverRefused):
            credit.waive_late_fee(inst.id, usd("8"))
        with pytest.raises(WaiverRefused):
            credit.waive_late_fee(inst.id, usd("0"))
        credit.waive_late_fee(inst.id, usd("3"))
        assert inst.late_fee_outstanding == usd("4")
        credit.apply_allocation([pay(credit, 1, "100", fee="4")])
        assert credit.state is S.PAID
        assert credit.total_due == usd("107") and credit.total_paid == usd("104")

    def test_a_waiver_can_settle_the_credit(self) -> None:
        credit = new_credit("100", 1)
        inst = credit.installments[0]
        credit.charge_late_fee(inst.id, usd("5"))
        credit.apply_allocation([pay(credit, 1, "100")])
        assert credit.state is S.ACTIVE
        credit.waive_late_fee(inst.id, usd("5"))
        assert credit.state is S.PAID

    def test_fees_refused_on_closed_credits(self) -> None:
        credit = new_credit(active=False)
        with pytest.raises(CreditNotOpen):
            credit.charge_late_fee(credit.installments[0].id, usd("1"))
        with pytest.raises(CreditNotOpen):
            credit.waive_late_fee(credit.installments[0].id, usd("1"))


class TestAdjustments:
    def test_positive_lands_on_the_last_installment(self) -> None:
        credit = new_credit()
        credit.adjust(event_id=eid(1), amount=usd("15"), reason="delivery fee", at=AT, on=OPENED, actor_id=2)
        assert credit.installments[-1].adjustment == usd("15")
        assert credit.installments[-1].amount == usd("115")
        assert credit.pending == usd("415")
        event = credit.events[-1]
        assert (event.kind, event.amount, event.reason, event.actor_id) == (
            CreditEventKind.ADJUSTMENT,
            usd("15"),
            "delivery fee",
            2,
        )

    def test_negative_is_taken_from_the_last_installments_first(self) -> None:
        credit = new_credit()
        credit.apply_allocation([pay(credit, 1, "100"), pay(credit, 2, "30")])
        credit.adjust(event_id=eid(1), amount=usd("-150"), reason="discount", at=AT, on=OPENED)
        assert [i.adjustment for i in credit.installments] == [usd("0"), usd("0"), usd("-50"), usd("-100")]
        assert credit.pending == usd("120")

    def test_negative_can_reach_into_partly_paid_installments(self) -> None:
        credit = new_credit()
        credit.apply_allocation([pay(credit, 1, "100"), pay(credit, 2, "30")])
        credit.adjust(event_id=eid(1), amount=usd("-260"), reason="settlement", at=AT, on=OPENED)
        assert credit.installments[1].principal_outstanding == usd("10")
        assert credit.pending == usd("10")

    def test_negative_settling_everything_pays_the_credit(self) -> None:
        credit = new_credit()
        credit.adjust(event_id=eid(1), amount=usd("-400"), reason="forgiven", at=AT, on=OPENED)
        assert credit.state is S.PAID

    @pytest.mark.parametrize("amount", [usd("-400.01"), usd("0"), Money.of(1, COP)])
    def test_refused(self, amount: Money) -> None:
        credit = new_credit()
        with pytest.raises(AdjustmentRefused):
            credit.adjust(event_id=eid(1), amount=amount, reason="x", at=AT, on=OPENED)
        assert credit.events[-1].kind is CreditEventKind.ACTIVATED

    def test_needs_a_reason_and_an_open_credit(self) -> None:
        with pytest.raises(InvalidInput):
            new_credit().adjust(event_id=eid(1), amount=usd("1"), reason="", at=AT, on=OPENED)
        with pytest.raises(CreditNotOpen):
            new_credit(active=False).adjust(event_id=eid(1), amount=usd("1"), reason="x", at=AT, on=OPENED)


class TestDelinquency:
    POLICY = DelinquencyPolicy(default_after_days=30)

    def test_current_credit(self) -> None:
        credit = new_credit()
        d = credit.delinquency_on(date(2024, 2, 1), self.POLICY)  # due today is not late
        assert (d.days_past_due, d.bucket, d.missed_installments, d.morosidad_level, d.is_in_default) == (
            0,
            AgingBucket.CURRENT,
            0,
            0,
            False,
        )

    @pytest.mark.parametrize(
        ("as_of", "days", "bucket", "missed", "level", "default"),
        [
            (date(2024, 2, 2), 1, AgingBucket.D1_30, 1, 1, False),
            (date(2024, 3, 2), 30, AgingBucket.D1_30, 2, 2, False),
            (date(2024, 3, 3), 31, AgingBucket.D31_60, 2, 2, True),
            (date(2024, 4, 2), 61, AgingBucket.D61_90, 3, 2, True),
            (date(2024, 5, 2), 91, AgingBucket.D90_PLUS, 4, 3, True),
        ],
    )
    def test_days_bucket_morosidad_and_default(
        self, as_of: date, days: int, bucket: AgingBucket, missed: int, level: int, default: bool
    ) -> None:
        d = new_credit().delinquency_on(as_of, self.POLICY)
        assert (d.days_past_due, d.bucket, d.missed_installments, d.morosidad_level, d.is_in_default) == (
            days,
            bucket,
            missed,
            level,
            default,
        )

    def test_days_count_from_the_oldest_unpaid_installment(self) -> None:
        credit = new_credit()
        credit.apply_allocation([pay(credit, 1, "100"), pay(credit, 2, "50")])
        d = credit.delinquency_on(date(2024, 3, 11), self.POLICY)
        assert d.days_past_due == 10 and d.missed_installments == 1
        assert credit.installments[0].days_past_due(date(2024, 3, 11)) == 0
        assert credit.overdue(date(2024, 3, 11)) == usd("50")

    def test_default_threshold_is_strictly_greater(self) -> None:
        policy = DelinquencyPolicy(default_after_days=10)
        assert not policy.is_in_default(10) and policy.is_in_default(11)

    def test_refresh_defaults_and_cures(self) -> None:
        credit = new_credit()
        assert credit.delinquency == CLEAR
        snapshot = credit.refresh_delinquency(date(2024, 3, 5), self.POLICY, event_id=eid(1), at=AT)
        assert credit.delinquency == snapshot and snapshot.is_in_default
        assert credit.state is S.DEFAULTED and credit.events[-1].kind is CreditEventKind.DEFAULTED
        credit.apply_allocation([pay(credit, 1, "100"), pay(credit, 2, "100")])
        credit.refresh_delinquency(date(2024, 3, 5), self.POLICY, event_id=eid(2), at=AT)
        assert credit.state is S.ACTIVE and credit.events[-1].kind is CreditEventKind.CURED
        events = len(credit.events)
        credit.refresh_delinquency(date(2024, 3, 5), self.POLICY, event_id=eid(3), at=AT)
        assert len(credit.events) == events  # no change, no event

    @pytest.mark.parametrize(
        "kwargs",
        [{"default_after_days": -1}, {"morosidad_thresholds": (0, 2)}, {"morosidad_thresholds": (2, 2)}],
    )
    def test_policy_validation(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidInput):
            DelinquencyPolicy(**kwargs)  # type: ignore[arg-type]

    def test_morosidad_levels(self) -> None:
        policy = DelinquencyPolicy(morosidad_thresholds=(1, 3))
        assert [policy.morosidad_level(m) for m in range(5)] == [0, 1, 1, 2, 2]


def test_installment_views() -> None:
    credit = new_credit("1000", 2, method=InterestMethod.FRENCH, rate="0.12")
    inst = credit.installments[0]
    assert inst.currency is USD
    assert inst.amount == inst.principal + inst.interest
    credit.apply_allocation([Part(inst.id, usd("0"), usd("5"), usd("1"))])
    assert inst.interest_outstanding == inst.interest - usd("5")
    assert inst.paid == usd("6")
    assert inst.scheduled_outstanding == inst.amount - usd("6")
    assert credit.installment(inst.id) is inst
    assert credit.annual_rate == Decimal("0.12")
