from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.payments.allocation import AllocationLine, allocate_payment, due_now
from domain.payments.errors import OverpaymentRefused, PaymentAlreadyReversed
from domain.payments.late_fees import FeeCharge, LateFeePolicy, assess_late_fees
from domain.payments.model import FeeWaiver, MethodLine, Payment, PaymentStatus, WaiverStatus
from domain.shared.errors import FloatRefused, InvalidInput, WaiverRefused
from domain.shared.money import COP, USD, Money

from .builders import usd

AT = datetime(2024, 3, 1, 10, tzinfo=UTC)


NOTHING = Money.zero(USD)


@dataclass
class Due:
    id: UUID
    number: int
    due_date: date
    late_fee_outstanding: Money
    interest_outstanding: Money
    principal_outstanding: Money
    paid: Money = NOTHING


def due(n: int, day: date, principal: str, interest: str = "0", fee: str = "0") -> Due:
    return Due(UUID(int=n), n, day, usd(fee), usd(interest), usd(principal))


FEB, MAR, APR = date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)


def book() -> list[Due]:
    # Given out of order on purpose: the waterfall sorts by due date.
    return [due(3, APR, "90", "10"), due(1, FEB, "90", "10", "5"), due(2, MAR, "90", "10")]


def lines(result: tuple[AllocationLine, ...]) -> list[tuple[int, str, str, str]]:
    return [
        (
            line.installment_id.int,
            f"{line.late_fee.amount}",
            f"{line.interest.amount}",
            f"{line.principal.amount}",
        )
        for line in result
    ]


class TestWaterfall:
    def test_oldest_first_fee_then_interest_then_principal(self) -> None:
        result = allocate_payment(usd("120"), book(), as_of=MAR)
        assert lines(result) == [(1, "5.00", "10.00", "90.00"), (2, "0.00", "10.00", "5.00")]
        assert sum((line.amount for line in result), usd("0")) == usd("120")

    def test_partial_payment_stops_inside_a_component(self) -> None:
        assert lines(allocate_payment(usd("12"), book(), as_of=MAR)) == [(1, "5.00", "7.00", "0.00")]

    def test_settled_installments_are_skipped(self) -> None:
        items = [due(1, FEB, "0"), due(2, MAR, "50")]
        assert lines(allocate_payment(usd("50"), items, as_of=MAR)) == [(2, "0.00", "0.00", "50.00")]

    def test_the_next_installment_may_be_paid_early_without_prepay(self) -> None:
        assert due_now(book(), date(2024, 1, 15), USD) == usd("105")
        assert due_now(book(), MAR, USD) == usd("305")
        assert lines(allocate_payment(usd("105"), book(), as_of=date(2024, 1, 15))) == [(1, "5.00", "10.00", "90.00")]

    def test_overpayment_refused_without_prepay(self) -> None:
        with pytest.raises(OverpaymentRefused) as info:
            allocate_payment(usd("105.01"), book(), as_of=date(2024, 1, 15))
        assert info.value.details == {"due_now": "105.00 USD", "amount": "105.01 USD"}

    def test_prepay_covers_the_next_installments_in_order(self) -> None:
        result = allocate_payment(usd("250"), book(), as_of=date(2024, 1, 15), prepay=True)
        assert lines(result) == [
            (1, "5.00", "10.00", "90.00"),
            (2, "0.00", "10.00", "90.00"),
            (3, "0.00", "10.00", "35.00"),
        ]

    def test_more_than_the_balance_is_refused_even_with_prepay(self) -> None:
        with pytest.raises(OverpaymentRefused):
            allocate_payment(usd("305.01"), book(), as_of=APR, prepay=True)

    @pytest.mark.parametrize("amount", [usd("0"), usd("-1")])
    def test_non_positive_refused(self, amount: Money) -> None:
        with pytest.raises(InvalidInput):
            allocate_payment(amount, book(), as_of=MAR)

    @given(
        owed=st.lists(
            st.tuples(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000)),
            min_size=1,
            max_size=8,
        ),
        share=st.fractions(0, 1),
    )
    def test_allocation_never_creates_or_loses_a_cent(self, owed: list[tuple[int, int, int]], share: object) -> None:
        items = [
            Due(UUID(int=k), k, date(2024, 1, 1 + k), *(Money.from_minor(u, USD) for u in parts))
            for k, parts in enumerate(owed, start=1)
        ]
        total_units = sum(sum(parts) for parts in owed)
        units = int(total_units * share)  # type: ignore[operator]
        if units == 0:
            return
        result = allocate_payment(Money.from_minor(units, USD), items, as_of=date(2024, 1, 1), prepay=True)
        assert sum(line.amount.minor for line in result) == units
        by_id = {i.id: i for i in items}
        for line in result:
            item = by_id[line.installment_id]
            assert line.late_fee <= item.late_fee_outstanding
            assert line.interest <= item.interest_outstanding
            assert line.principal <= item.principal_outstanding
            # A later component only gets money once the earlier ones are covered.
            if line.interest.is_positive:
                assert line.late_fee == item.late_fee_outstanding
            if line.principal.is_positive:
                assert line.interest == item.interest_outstanding


@dataclass
class Subject:
    id: UUID
    due_date: date
    amount: Money
    scheduled_outstanding: Money
    late_fee: Money


def subject(outstanding: str = "100", charged: str = "0", amount: str = "100") -> Subject:
    return Subject(UUID(int=1), FEB, usd(amount), usd(outstanding), usd(charged))


class TestLateFees:
    policy = LateFeePolicy()

    @pytest.mark.parametrize(
        ("as_of", "fee"),
        [
            (FEB, "0.00"),
            (date(2024, 2, 4), "0.00"),  # 3 days: still in grace
            (date(2024, 2, 5), "0.67"),  # 4 days: 100 * 5 % * 4/30 = 0.6667, counted from the due date
            (date(2024, 3, 2), "5.00"),  # 30 days: one month's 5 %
            (date(2024, 12, 1), "50.00"),  # 304 days would be 50.67: capped at 50 % of the installment
        ],
    )
    def test_grace_rate_and_cap(self, as_of: date, fee: str) -> None:
        assert self.policy.charge_due(subject(), as_of) == usd(fee)

    def test_charging_is_idempotent(self) -> None:
        assert self.policy.charge_due(subject(charged="5.00"), date(2024, 3, 2)) == usd("0")
        assert self.policy.charge_due(subject(charged="4.00"), date(2024, 3, 2)) == usd("1.00")

    def test_a_lower_base_never_takes_a_fee_back(self) -> None:
        assert self.policy.charge_due(subject(outstanding="10", charged="5"), date(2024, 3, 2)) == usd("0")

    def test_nothing_owed_nothing_charged(self) -> None:
        assert self.policy.charge_due(subject(outstanding="0"), date(2024, 6, 1)) == usd("0")

    def test_configurable(self) -> None:
        policy = LateFeePolicy(grace_days=0, monthly_rate=Decimal("0.03"), cap_share=Decimal("0.10"))
        assert policy.charge_due(subject(), date(2024, 2, 2)) == usd("0.10")
        assert policy.charge_due(subject(), date(2024, 12, 1)) == usd("10.00")

    def test_rounding_is_half_even(self) -> None:
        # One month's 5 % of 2.50 is 0.125 -> 0.12 and of 1.50 is 0.075 -> 0.08 (ties to even).
        assert self.policy.accrued(base=usd("2.50"), amount=usd("100"), days_late=30) == usd("0.12")
        assert self.policy.accrued(base=usd("1.50"), amount=usd("100"), days_late=30) == usd("0.08")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"monthly_rate": Decimal("-0.01")},
            {"cap_share": Decimal("1.5")},
            {"grace_days": -1},
            {"days_per_month": 0},
        ],
    )
    def test_policy_validation(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(InvalidInput):
            LateFeePolicy(**kwargs)  # type: ignore[arg-type]

    def test_float_rate_refused(self) -> None:
        with pytest.raises(FloatRefused):
            LateFeePolicy(monthly_rate=0.05)  # type: ignore[arg-type]

    def test_assess_lists_only_positive_charges(self) -> None:
        items = [subject(), Subject(UUID(int=2), APR, usd("100"), usd("100"), usd("0"))]
        assert assess_late_fees(items, date(2024, 3, 2), self.policy) == [FeeCharge(UUID(int=1), usd("5.00"))]


def payment(**overrides: object) -> Payment:
    kw: dict[str, object] = {
        "id": UUID(int=1),
        "credit_id": UUID(int=2),
        "user_id": 7,
        "agent_id": 3,
        "amount": usd("100"),
        "paid_on": MAR,
        "received_at": AT,
        "idempotency_key": "k-1",
        "method_lines": (MethodLine(1, usd("60")), MethodLine(2, usd("40"))),
        "allocations": (),
        "prepay": False,
        "credit_state_before": "active",
        "transaction_id": UUID(int=3),
    }
    kw.update(overrides)
    return Payment(**kw)  # type: ignore[arg-type]


class TestPayment:
    def test_a_valid_split_passes_and_one_cent_off_does_not(self) -> None:
        assert Payment.validate_request(usd("100"), [MethodLine(1, usd("60")), MethodLine(2, usd("40"))], "k") is None
        with pytest.raises(InvalidInput) as info:
            Payment.validate_request(usd("100"), [MethodLine(1, usd("60")), MethodLine(2, usd("39.99"))], "k")
        assert info.value.details == {"amount": "100.00 USD", "lines_total": "99.99 USD"}

    @pytest.mark.parametrize(
        ("amount", "method_lines", "key"),
        [
            (usd("0"), [MethodLine(1, usd("0"))], "k"),
            (usd("100"), [MethodLine(1, usd("60"))], "k"),
            (usd("100"), [], "k"),
            (usd("100"), [MethodLine(1, usd("100"))], ""),
            (usd("100"), [MethodLine(1, usd("100"))], "k" * 256),
            (usd("100"), [MethodLine(1, Money.of(100, COP))], "k"),
            (usd("100"), [MethodLine(1, usd("110")), MethodLine(2, usd("-10"))], "k"),
        ],
    )
    def test_invalid_requests(self, amount: Money, method_lines: list[MethodLine], key: str) -> None:
        with pytest.raises(InvalidInput):
            Payment.validate_request(amount, method_lines, key)

    def test_matches_the_same_request_only(self) -> None:
        p = payment()
        same = {
            "credit_id": UUID(int=2),
            "amount": usd("100"),
            "method_lines": [MethodLine(1, usd("60")), MethodLine(2, usd("40"))],
            "paid_on": MAR,
            "prepay": False,
        }
        assert p.matches(**same)  # type: ignore[arg-type]
        for key, other in [
            ("credit_id", UUID(int=9)),
            ("amount", usd("99")),
            ("method_lines", [MethodLine(1, usd("100"))]),
            ("paid_on", FEB),
            ("prepay", True),
        ]:
            assert not p.matches(**{**same, key: other})  # type: ignore[arg-type]

    def test_reverse_once_with_a_reason(self) -> None:
        p = payment()
        with pytest.raises(InvalidInput):
            p.reverse(transaction_id=UUID(int=4), at=AT, reason=" ", by=1)
        p.reverse(transaction_id=UUID(int=4), at=AT, reason="bounced", by=1)
        assert p.is_reversed and p.status is PaymentStatus.REVERSED
        assert p.reversal is not None and p.reversal.reason == "bounced" and p.reversal.transaction_id == UUID(int=4)
        with pytest.raises(PaymentAlreadyReversed):
            p.reverse(transaction_id=UUID(int=5), at=AT, reason="again", by=1)


class TestFeeWaiver:
    def request(self, reason: str = "client was ill", amount: str = "5") -> FeeWaiver:
        return FeeWaiver.request(
            id=UUID(int=1),
            credit_id=UUID(int=2),
            installment_id=UUID(int=3),
            amount=usd(amount),
            reason=reason,
            requested_by=3,
            at=AT,
        )

    def test_requested_then_approved(self) -> None:
        waiver = self.request()
        assert waiver.status is WaiverStatus.REQUESTED
        waiver.approve(by=1, at=AT, transaction_id=UUID(int=9), note="ok")
        assert (
            waiver.status,
            waiver.decided_by,
            waiver.decided_at,
            waiver.transaction_id,
            waiver.decision_note,
        ) == (
            WaiverStatus.APPROVED,
            1,
            AT,
            UUID(int=9),
            "ok",
        )
        with pytest.raises(WaiverRefused):
            waiver.reject(by=1, at=AT, note="changed my mind")

    def test_rejected_needs_a_note(self) -> None:
        waiver = self.request()
        with pytest.raises(InvalidInput):
            waiver.reject(by=1, at=AT, note="")
        waiver.reject(by=1, at=AT, note="no grounds")
        assert waiver.status is WaiverStatus.REJECTED
        with pytest.raises(WaiverRefused):
            waiver.approve(by=1, at=AT, transaction_id=UUID(int=9))

    @pytest.mark.parametrize(("reason", "amount"), [("", "5"), ("   ", "5"), ("ok", "0")])
    def test_request_needs_a_reason_and_a_positive_amount(self, reason: str, amount: str) -> None:
        with pytest.raises(InvalidInput):
            self.request(reason, amount)
