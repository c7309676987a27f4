"""The audit trail on the fakes: every money use case appends exactly one correct record in its
unit of work; a refused one appends none; replays and no-ops append none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from domain.application import use_cases as svc
from domain.application.audit import AuditEvent, AuditRecord, Origin
from domain.application.ports import Actor, Policies
from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger import entries
from domain.ledger.model import Source
from domain.payments.errors import OverpaymentRefused
from domain.shared.errors import DomainError
from domain.shared.money import Money

from .builders import usd
from .fakes import World
from .test_services import ADMIN, AGENT, open_cmd, pay_cmd

HERE = Origin(ip="203.0.113.7", user_agent="collector-app/2.1", request_id="req-42")
AGENT_AT = Actor(user_id=3, source=Source.MOBILE, origin=HERE, role="agent")


@pytest.fixture
def world() -> World:
    return World()


def only_new(world: World, action: Callable[[], object]) -> AuditRecord:
    """Run `action`; it must append exactly one record, returned."""
    before = len(world.audit.records())
    action()
    new = world.audit.records()[before:]
    assert len(new) == 1, [r.event for r in new]
    return new[0]


def none_new(world: World, action: Callable[[], object]) -> None:
    before = len(world.audit.records())
    with pytest.raises(DomainError):
        action()
    assert len(world.audit.records()) == before


def test_open_credit_records_who_from_where_and_the_figures(world: World) -> None:
    record = only_new(world, lambda: svc.open_credit(world.ports, open_cmd(), AGENT_AT))
    assert record.event is AuditEvent.CREDIT_OPENED
    assert (record.actor_id, record.actor_role, record.source) == (3, "agent", "mobile")
    assert record.origin == HERE
    assert record.at == world.clock.now()
    assert record.amount == usd("400")
    assert record.before is None and record.after is not None
    assert record.changes == {
        "state": {"before": None, "after": "active"},
        "pending": {"before": None, "after": "400.00"},
        "paid": {"before": None, "after": "0.00"},
        "due": {"before": None, "after": "400.00"},
    }


def test_disburse_and_cancel(world: World) -> None:
    pending = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
    record = only_new(world, lambda: svc.activate_credit(world.ports, pending.id, ADMIN))
    assert record.event is AuditEvent.CREDIT_DISBURSED and record.credit_id == pending.id
    assert record.changes["state"] == {"before": "pending", "after": "active"}
    assert record.changes["pending"] == {"before": "0.00", "after": "400.00"}
    other = svc.open_credit(world.ports, open_cmd(disburse=False), AGENT)
    record = only_new(world, lambda: svc.cancel_credit(world.ports, other.id, "changed mind", ADMIN))
    assert record.event is AuditEvent.CREDIT_CANCELLED and record.details == {"reason": "changed mind"}
    assert record.changes == {"state": {"before": "pending", "after": "cancelled"}}
    none_new(world, lambda: svc.activate_credit(world.ports, other.id, ADMIN))


def test_payment_records_the_amount_and_what_it_changed(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    payment = None

    def pay() -> None:
        nonlocal payment
        payment = svc.register_payment(world.ports, pay_cmd(credit, "150", prepay=True), AGENT_AT)

    record = only_new(world, pay)
    assert payment is not None
    assert record.event is AuditEvent.PAYMENT_REGISTERED
    assert (record.credit_id, record.reference_id, record.amount) == (credit.id, payment.id, usd("150"))
    assert record.origin == HERE and record.actor_id == 3
    assert record.changes == {
        "pending": {"before": "400.00", "after": "250.00"},
        "paid": {"before": "0.00", "after": "150.00"},
    }
    assert record.details["paid_on"] == "2024-01-10"
    # The same key and request replays the first payment: no second record.
    before = len(world.audit.records())
    svc.register_payment(world.ports, pay_cmd(credit, "150", prepay=True), AGENT_AT)
    assert len(world.audit.records()) == before


def test_refused_payment_records_nothing(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    none_new(world, lambda: svc.register_payment(world.ports, pay_cmd(credit, "401", prepay=True), AGENT))
    with pytest.raises(OverpaymentRefused):
        svc.register_payment(world.ports, pay_cmd(credit, "401", key="k2", prepay=True), AGENT)
    assert [r.event for r in world.audit.records()] == [AuditEvent.CREDIT_OPENED]


def test_payment_paying_everything_and_its_reversal(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    payment = svc.register_payment(world.ports, pay_cmd(credit, "400", prepay=True), AGENT)
    paid = world.audit.records()[-1]
    assert paid.changes["state"] == {"before": "active", "after": "paid"}
    record = only_new(world, lambda: svc.reverse_payment(world.ports, payment.id, "bounced", ADMIN))
    assert record.event is AuditEvent.PAYMENT_REVERSED
    assert (record.reference_id, record.amount, record.actor_id) == (payment.id, usd("400"), 1)
    assert record.changes["state"] == {"before": "paid", "after": "active"}
    assert record.changes["pending"] == {"before": "0.00", "after": "400.00"}
    assert record.details == {"reason": "bounced"}
    none_new(world, lambda: svc.reverse_payment(world.ports, payment.id, "again", ADMIN))


def test_adjust_write_off_and_refinance(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    record = only_new(world, lambda: svc.adjust_credit(world.ports, credit.id, usd("-50"), "discount", ADMIN))
    assert record.event is AuditEvent.CREDIT_ADJUSTED and record.amount == usd("-50")
    assert record.changes["pending"] == {"before": "400.00", "after": "350.00"}
    none_new(world, lambda: svc.adjust_credit(world.ports, credit.id, usd("-5000"), "too much", ADMIN))

    cmd = svc.Refinance(
        credit.id, 6, Periodicity.MONTHLY, date(2024, 3, 1), InterestMethod.FRENCH, Decimal("0.24"), "x"
    )
    new = None

    def refinance() -> None:
        nonlocal new
        new = svc.refinance_credit(world.ports, cmd, ADMIN).credit

    record = only_new(world, refinance)
    assert new is not None
    assert record.event is AuditEvent.CREDIT_REFINANCED and record.credit_id == credit.id
    assert record.reference_id == new.id and record.details["new_credit_id"] == str(new.id)
    assert record.amount == usd("350")
    # Zero interest: the principal carried is all there is, each part shown.
    assert (record.details["principal"], record.details["accrued_interest"], record.details["late_fees"]) == (
        "350.00",
        "0.00",
        "0.00",
    )
    assert record.changes["state"] == {"before": "active", "after": "refinanced"}

    record = only_new(world, lambda: svc.write_off_credit(world.ports, new.id, "gone", ADMIN))
    assert record.event is AuditEvent.CREDIT_WRITTEN_OFF and record.credit_id == new.id
    assert record.amount == new.pending and record.changes["pending"]["after"] == "0.00"
    none_new(world, lambda: svc.write_off_credit(world.ports, new.id, "again", ADMIN))


def test_late_fees_and_waivers(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    record = only_new(world, lambda: svc.charge_late_fees(world.ports, credit.id, as_of=date(2024, 3, 2)))
    assert record.event is AuditEvent.LATE_FEE_CHARGED and record.amount == usd("5.00")
    assert (record.actor_id, record.actor_role, record.source) == (None, "system", "system")
    assert record.changes == {
        "pending": {"before": "400.00", "after": "405.00"},
        "due": {"before": "400.00", "after": "405.00"},
    }
    # Nothing more to charge for that date: no record.
    before = len(world.audit.records())
    assert svc.charge_late_fees(world.ports, credit.id, as_of=date(2024, 3, 2)) == []
    assert len(world.audit.records()) == before

    inst = credit.installments[0].id
    waiver = None

    def ask() -> None:
        nonlocal waiver
        waiver = svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, usd("3"), "hospitalised"), AGENT)

    record = only_new(world, ask)
    assert waiver is not None
    assert record.event is AuditEvent.FEE_WAIVER_REQUESTED and record.reference_id == waiver.id
    # The credit's id on the record itself (GET /audit?credit= finds it), with no figures: none moved.
    assert record.credit_id == credit.id and "credit_id" not in record.details
    assert record.before is None and record.after is None and record.changes == {}
    record = only_new(
        world, lambda: svc.decide_fee_waiver(world.ports, waiver.id, approve=True, note="ok", actor=ADMIN)
    )
    assert record.event is AuditEvent.FEE_WAIVED and record.amount == usd("3")
    assert record.changes["pending"] == {"before": "405.00", "after": "402.00"}
    none_new(world, lambda: svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, usd("9"), "x"), AGENT))

    record = only_new(world, lambda: svc.waive_fee(world.ports, svc.RequestWaiver(inst, usd("2"), "goodwill"), ADMIN))
    assert record.event is AuditEvent.FEE_WAIVED and record.changes["pending"]["after"] == "400.00"

    svc.charge_late_fees(world.ports, credit.id, as_of=date(2024, 3, 20))
    ask2 = svc.request_fee_waiver(world.ports, svc.RequestWaiver(inst, usd("1"), "late"), AGENT)
    record = only_new(world, lambda: svc.decide_fee_waiver(world.ports, ask2.id, approve=False, note="no", actor=ADMIN))
    assert record.event is AuditEvent.FEE_WAIVER_REJECTED and record.details["note"] == "no"
    assert record.credit_id == credit.id and record.after is None


def test_nightly_jobs_record_one_per_credit_changed() -> None:
    world = World(policies=Policies(delinquency=DelinquencyPolicy(default_after_days=30)))
    credits = [svc.open_credit(world.ports, open_cmd(), AGENT) for _ in range(2)]
    world.clock.set_date(date(2024, 3, 5))
    start = len(world.audit.records())
    svc.apply_late_fees(world.ports)
    svc.recompute_delinquency(world.ports)
    new = world.audit.records()[start:]
    assert sorted((r.event, r.credit_id) for r in new) == sorted(
        [(AuditEvent.LATE_FEE_CHARGED, c.id) for c in credits] + [(AuditEvent.CREDIT_DEFAULTED, c.id) for c in credits]
    )
    defaulted = [r for r in new if r.event is AuditEvent.CREDIT_DEFAULTED]
    assert all(r.changes["state"] == {"before": "active", "after": "defaulted"} for r in defaulted)
    # A rerun changes nothing and records nothing.
    start = len(world.audit.records())
    svc.apply_late_fees(world.ports)
    svc.recompute_delinquency(world.ports)
    assert len(world.audit.records()) == start
    svc.register_payment(world.ports, pay_cmd(credits[0], "200"), AGENT)
    record = only_new(world, lambda: svc.recompute_delinquency(world.ports))
    assert record.event is AuditEvent.CREDIT_CURED and record.credit_id == credits[0].id


def _booking(world: World, credit_id: object = None) -> entries.Meta:
    """An admin's ledger-only booking (agent 1), about `credit_id` when given."""
    return entries.Meta(
        id=world.ids.new_id(),
        source=Source.ADMIN,
        occurred_on=date(2024, 1, 10),
        recorded_at=world.clock.now(),
        agent_id=1,
        credit_id=credit_id,  # type: ignore[arg-type]
    )


def test_ledger_only_bookings_are_recorded_as_who_booked_them(world: World) -> None:
    meta = _booking(world)
    record = only_new(
        world, lambda: svc.record_transactions(world.ports, [entries.income(meta, cash_account_id=1, amount=usd("12"))])
    )
    assert record.event is AuditEvent.LEDGER_BOOKED and record.amount == usd("12")
    assert (record.actor_id, record.source, record.details["type"]) == (1, "admin", "income")
    assert record.credit_id is None  # an income of the business, about no credit


def test_a_booking_about_a_credit_carries_its_id(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    meta = _booking(world, credit.id)
    record = only_new(
        world, lambda: svc.record_transactions(world.ports, [entries.income(meta, cash_account_id=1, amount=usd("12"))])
    )
    assert record.credit_id == credit.id and "credit_id" not in record.details


def test_a_record_is_dropped_with_its_rolled_back_unit_of_work(world: World) -> None:
    credit = svc.open_credit(world.ports, open_cmd(), AGENT)
    start = len(world.audit.records())

    class Boom(Exception):
        pass

    # The unit of work fails after the record was appended: the record goes with it.
    original = world.audit.append

    def append_then_fail(record: AuditRecord) -> None:
        original(record)
        raise Boom

    world.audit.append = append_then_fail  # type: ignore[method-assign]
    try:
        with pytest.raises(Boom):
            svc.register_payment(world.ports, pay_cmd(credit, "10", key="boom", prepay=True), AGENT)
    finally:
        world.audit.append = original  # type: ignore[method-assign]
    assert len(world.audit.records()) == start
    assert world.credit(credit.id).pending == Money.of("400", "USD")
