"""Interest earned by a date (domain.credits.accrual) and what a refinance carries, on fakes."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.application import use_cases as svc
from domain.application.ports import Actor
from domain.credits.accrual import accrued_interest, earned_per_installment
from domain.credits.errors import CannotRefinance, DatedBeforeOpening
from domain.credits.model import CreditState
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms, generate_schedule
from domain.ledger import accounts
from domain.ledger.book import balance_of
from domain.ledger.model import Source
from domain.payments.errors import OverpaymentRefused
from domain.payments.model import MethodLine
from domain.shared.money import USD, Money, total

from .builders import usd
from .fakes import World
from .strategies import currencies, first_dates, money, periodicities

AGENT = Actor(user_id=3, source=Source.MOBILE)
ADMIN = Actor(user_id=1, source=Source.ADMIN)
INTEREST_BEARING = [InterestMethod.FLAT_MARKUP, InterestMethod.FRENCH, InterestMethod.EQUAL_PRINCIPAL]


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list, date]:
    """An interest-bearing schedule and the day its credit was opened (before the first due date)."""
    currency = draw(currencies)
    n = draw(st.integers(1, 36))
    principal = draw(money(currency, min_units=max(n, 100), max_units=10**10))
    first = draw(first_dates)
    opened = first - timedelta(days=draw(st.integers(1, 45)))
    terms = ScheduleTerms(
        principal,
        n,
        draw(periodicities),
        first,
        draw(st.sampled_from(INTEREST_BEARING)),
        draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10), places=4)),
    )
    return generate_schedule(terms), opened


class TestAccrualRule:
    @given(schedule=schedules(), days=st.integers(-30, 2000), later=st.integers(0, 400))
    def test_earned_is_bounded_monotone_and_complete(self, schedule: tuple[list, date], days: int, later: int) -> None:
        rows, opened = schedule
        currency = rows[0].principal.currency
        scheduled = total((r.interest for r in rows), currency)
        on = opened + timedelta(days=days)
        earned = earned_per_installment(rows, opened, on)
        # Never more than the schedule's interest, per installment and in total.
        assert all(Money.zero(currency) <= e <= r.interest for e, r in zip(earned, rows, strict=True))
        accrued = accrued_interest(rows, opened, on, currency)
        assert accrued <= scheduled
        # Earned only grows with time.
        assert accrued_interest(rows, opened, on + timedelta(days=later), currency) >= accrued
        # Everything once the last installment is due; nothing on the opening day (first due later).
        assert accrued_interest(rows, opened, rows[-1].due_date, currency) == scheduled
        assert accrued_interest(rows, opened, opened, currency).is_zero

    def test_french_past_periods_plus_the_current_one_by_days(self) -> None:
        terms = ScheduleTerms(
            usd("1000"), 12, Periodicity.MONTHLY, date(2024, 2, 1), InterestMethod.FRENCH, Decimal("0.12")
        )
        rows = generate_schedule(terms)
        opened = date(2024, 1, 1)
        # 2024-02-16: installment 1 (due 02-01) is earned, installment 2 for 15 of 29 days.
        expected = rows[0].interest + Money.rounded(rows[1].interest.amount * 15 / 29, USD)
        assert accrued_interest(rows, opened, date(2024, 2, 16), USD) == expected
        assert accrued_interest(rows, opened, date(2024, 1, 11), USD) == Money.rounded(
            rows[0].interest.amount * 10 / 31, USD
        )

    def test_flat_markup_earns_due_installments_and_the_current_one_pro_rata(self) -> None:
        terms = ScheduleTerms(
            usd("1200"), 4, Periodicity.MONTHLY, date(2024, 2, 1), InterestMethod.FLAT_MARKUP, Decimal("0.36")
        )
        rows = generate_schedule(terms)
        assert {r.interest for r in rows} == {usd("36")}  # 1200 * 0.36 * 4/12 = 144, spread evenly
        # Two installments due, the third 10 of 31 days into its period (03-01 .. 04-01).
        assert accrued_interest(rows, date(2024, 1, 1), date(2024, 3, 11), USD) == usd("72") + usd("11.61")

    def test_zero_interest_accrues_nothing(self) -> None:
        terms = ScheduleTerms(usd("400"), 4, Periodicity.MONTHLY, date(2024, 2, 1), InterestMethod.ZERO_INTEREST)
        rows = generate_schedule(terms)
        assert accrued_interest(rows, date(2024, 1, 1), date(2025, 1, 1), USD).is_zero


def _open(world: World, method: InterestMethod = InterestMethod.FRENCH, rate: str = "0.24", n: int = 12) -> object:
    return svc.open_credit(
        world.ports,
        svc.OpenCredit(
            user_id=7,
            agent_id=3,
            price=usd("1200"),
            cost=usd("900"),
            subcategory_id=1,
            periodicity=Periodicity.MONTHLY,
            installments=n,
            first_due_date=date(2024, 2, 10),
            method=method,
            annual_rate=Decimal(rate),
        ),
        AGENT,
    )


def _pay(world: World, credit_id: object, amount: str, key: str, prepay: bool = False) -> None:
    svc.register_payment(
        world.ports,
        svc.RegisterPayment(credit_id, usd(amount), (MethodLine(1, usd(amount)),), key, prepay=prepay),  # type: ignore[arg-type]
        AGENT,
    )


def _refinance(world: World, credit_id: object) -> svc.Refinanced:
    cmd = svc.Refinance(
        credit_id,  # type: ignore[arg-type]
        6,
        Periodicity.MONTHLY,
        world.clock.today() + timedelta(days=30),
        InterestMethod.FRENCH,
        Decimal("0.12"),
        "hardship",
    )
    return svc.refinance_credit(world.ports, cmd, ADMIN)


def _income(world: World) -> Money:
    return -balance_of(accounts.INTEREST_INCOME, USD, world.transactions.stream())


class TestRefinanceCarriesOnlyWhatIsOwed:
    def test_mid_period_with_arrears_and_late_fees(self) -> None:
        world = World()  # opened 2024-01-10, first due 2024-02-10
        old = _open(world)
        _pay(world, old.id, "50", "k1")  # part of installment 1
        world.clock.set_date(date(2024, 3, 25))  # 1 and 2 overdue, 15 of 31 days into period 3 (03-10..04-10)
        svc.charge_late_fees(world.ports, old.id)
        before = world.credit(old.id)
        rows = before.installments
        earned = rows[0].interest + rows[1].interest + Money.rounded(rows[2].interest.amount * 15 / 31, USD)
        fees = total((i.late_fee_outstanding for i in rows), USD)
        assert fees.is_positive
        principal_owed = total((i.principal_outstanding for i in rows), USD)
        paid_interest = total((i.paid_interest for i in rows), USD)

        result = _refinance(world, old.id)

        b = result.balance
        assert b.outstanding_principal == principal_owed == b.principal
        assert b.accrued_interest == earned - paid_interest
        assert b.late_fees == fees
        new = world.credit(result.credit.id)
        assert new.price == b.carried == principal_owed + earned - paid_interest + fees
        # Money is conserved: carried + unearned = what the old credit showed as owed.
        assert b.carried + b.unearned_interest == before.outstanding
        assert b.unearned_interest == total((i.interest for i in rows), USD) - earned
        # The old receivable is closed in full; income keeps only what was earned.
        stored_old = world.credit(old.id)
        assert stored_old.state is CreditState.REFINANCED and world.history(old.id)[-1].amount == b.carried
        assert balance_of(accounts.receivable(old.id), USD, world.transactions.stream()).is_zero
        assert balance_of(accounts.receivable(new.id), USD, world.transactions.stream()) == new.pending
        assert _income(world) == earned + new.total_interest
        assert svc.verify_book(world.ports).ok
        audit = world.audit.records()[-1]
        assert audit.details["accrued_interest"] == str(b.accrued_interest.amount)
        assert audit.details["late_fees"] == str(fees.amount)
        assert audit.details["interest_forgiven"] == str(b.interest_forgiven.amount)

    def test_on_the_opening_day_only_the_principal_is_carried(self) -> None:
        world = World()
        old = _open(world, InterestMethod.FLAT_MARKUP, "0.36")
        result = _refinance(world, old.id)
        assert result.credit.price == usd("1200")
        assert result.balance.interest_forgiven == old.total_interest
        assert _income(world) == result.credit.total_interest

    def test_interest_prepaid_for_time_not_elapsed_is_credited_to_the_principal(self) -> None:
        world = World()
        old = _open(world, n=3)
        # Prepay the first two installments in full on the opening day: their interest is not earned yet.
        first_two = sum((i.amount for i in old.installments[:2]), Money.zero(USD))
        _pay(world, old.id, str(first_two.amount), "k1", prepay=True)
        world.clock.set_date(date(2024, 1, 20))  # 10 of 31 days into period 1
        result = _refinance(world, old.id)
        b = result.balance
        rows = old.installments
        earned = Money.rounded(rows[0].interest.amount * 10 / 31, USD)
        paid_interest = rows[0].interest + rows[1].interest
        assert b.accrued_interest.is_zero
        assert b.prepaid_interest_credited == paid_interest - earned
        assert b.principal == rows[2].principal - b.prepaid_interest_credited
        assert result.credit.price == b.principal
        assert b.interest_forgiven == rows[2].interest
        assert _income(world) == earned + result.credit.total_interest
        assert balance_of(accounts.receivable(old.id), USD, world.transactions.stream()).is_zero
        assert svc.verify_book(world.ports).ok

    @settings(max_examples=25)
    @given(
        method=st.sampled_from(INTEREST_BEARING),
        payments=st.lists(st.tuples(st.integers(1, 100), st.booleans(), st.integers(0, 40)), max_size=5),
        fee_days=st.integers(0, 90),
    )
    def test_money_is_conserved_and_the_book_balances(
        self, method: InterestMethod, payments: list[tuple[int, bool, int]], fee_days: int
    ) -> None:
        world = World()
        old = _open(world, method, "0.6")
        for k, (share, prepay, days) in enumerate(payments):
            world.clock.advance(days)
            credit = world.credit(old.id)
            if not credit.state.is_open:
                return
            units = max(1, credit.pending.minor * share // 100)
            with contextlib.suppress(OverpaymentRefused):  # a refusal changes nothing
                _pay(world, old.id, str(Money.from_minor(units, USD).amount), f"k{k}", prepay=prepay)
        world.clock.advance(fee_days)
        svc.apply_late_fees(world.ports)
        before = world.credit(old.id)
        if not before.state.is_open:
            return
        expected = before.refinance_balance(world.clock.today())
        assert expected.carried + expected.unearned_interest == before.outstanding
        scheduled = before.total_interest
        assert expected.unearned_interest <= scheduled
        try:
            result = _refinance(world, old.id)
        except CannotRefinance:
            assert not expected.principal.is_positive  # prepaid interest covers the principal
            return
        assert result.balance == expected
        assert balance_of(accounts.receivable(old.id), USD, world.transactions.stream()).is_zero
        assert svc.verify_book(world.ports).ok
        earned = scheduled - expected.unearned_interest
        assert _income(world) == earned + result.credit.total_interest


class TestNothingBookedBeforeTheCreditOpened:
    """No API or admin path takes a date for these (they book today); a credit whose opening date
    is after today (imported, or a business time zone that moved) must still refuse them."""

    @pytest.mark.parametrize("operation", ["adjust", "write_off", "refinance", "waive", "request_waiver"])
    def test_refused_with_the_earliest_allowed_date(self, operation: str) -> None:
        world = World()
        credit = _open(world)
        world.clock.set_date(date(2024, 3, 25))
        svc.charge_late_fees(world.ports, credit.id)
        inst = next(i for i in world.credit(credit.id).installments if i.late_fee_outstanding.is_positive)
        world.clock.set_date(date(2024, 1, 9))  # the day before it was opened
        before = (len(world.transactions.rows), len(world.audit.rows), world.credit(credit.id))
        waiver = svc.RequestWaiver(inst.id, usd("1"), "goodwill")
        calls = {
            "adjust": lambda: svc.adjust_credit(world.ports, credit.id, usd("5"), "fee", ADMIN),
            "write_off": lambda: svc.write_off_credit(world.ports, credit.id, "gone", ADMIN),
            "refinance": lambda: _refinance(world, credit.id),
            "waive": lambda: svc.waive_fee(world.ports, waiver, ADMIN),
            "request_waiver": lambda: svc.request_fee_waiver(world.ports, waiver, AGENT),
        }
        with pytest.raises(DatedBeforeOpening) as refused:
            calls[operation]()
        assert refused.value.details == {"date": "2024-01-09", "earliest_allowed": "2024-01-10"}
        assert "2024-01-10" in refused.value.message
        assert (len(world.transactions.rows), len(world.audit.rows), world.credit(credit.id)) == before
        assert not world.waivers.rows

    def test_the_opening_day_itself_is_allowed(self) -> None:
        world = World()
        credit = _open(world)
        svc.adjust_credit(world.ports, credit.id, usd("5"), "delivery", ADMIN)
        assert world.credit(credit.id).installments[-1].adjustment == usd("5")
