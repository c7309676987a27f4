"""The audit trail on PostgreSQL: its record commits and rolls back with the money change of the same
transaction, and the table refuses UPDATE, DELETE and TRUNCATE whoever asks."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import UUID

import pytest
from django.db import DatabaseError, connection, transaction

from adapters.orm.audit.models import AuditEntry
from adapters.sql.audit import DjangoAuditLog
from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.audit import AuditRecord, Origin
from domain.application.ports import Actor, Ports
from domain.credits.model import Credit
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.payments.errors import OverpaymentRefused
from domain.payments.model import MethodLine
from domain.shared.money import Money
from tests.factories import PaymentAccountFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def cop(amount: str) -> Money:
    return Money.of(amount, "COP")


@pytest.fixture
def world() -> dict:
    agent, owner = UserFactory(role="agent"), UserFactory(role="client")
    ports = build_ports()
    actor = Actor(agent.id, Source.WEB, origin=Origin("198.51.100.4", "pytest-agent", "rid-1"), role="agent")
    credit = use_cases.open_credit(
        ports,
        use_cases.OpenCredit(
            user_id=owner.id,
            agent_id=agent.id,
            price=cop("1000.00"),
            cost=cop("500.00"),
            subcategory_id=None,
            periodicity=Periodicity.WEEKLY,
            installments=4,
            first_due_date=ports.clock.today() + timedelta(days=7),
            method=InterestMethod.ZERO_INTEREST,
        ),
        actor,
    )
    return {"ports": ports, "actor": actor, "credit": credit, "account": PaymentAccountFactory(currency_id="COP").id}


def pay(world: dict, amount: str, key: str, ports: Ports | None = None) -> object:
    return use_cases.register_payment(
        ports or world["ports"],
        use_cases.RegisterPayment(
            credit_id=world["credit"].id,
            amount=cop(amount),
            method_lines=(MethodLine(world["account"], cop(amount)),),
            idempotency_key=key,
            prepay=True,
        ),
        world["actor"],
    )


def rows(credit: Credit) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(credit_id=credit.id).order_by("id"))


def test_a_payment_and_its_record_commit_together(world: dict) -> None:
    payment = pay(world, "250.00", "audit-1")
    opened, paid = rows(world["credit"])
    assert opened.event == "credit_opened" and paid.event == "payment_registered"
    assert (paid.actor_id, paid.actor_role, paid.source) == (world["actor"].user_id, "agent", "web")
    assert (paid.ip, paid.user_agent, paid.request_id) == ("198.51.100.4", "pytest-agent", "rid-1")
    assert UUID(str(paid.reference_id)) == payment.id  # type: ignore[attr-defined]
    assert (str(paid.amount), paid.currency) == ("250.0000", "COP")
    assert paid.before == {"state": "active", "pending": "1000.00", "paid": "0.00", "due": "1000.00"}
    assert paid.after == {"state": "active", "pending": "750.00", "paid": "250.00", "due": "1000.00"}
    assert paid.at.utcoffset() == timedelta(0)


def test_a_rolled_back_use_case_leaves_no_record(world: dict) -> None:
    class Boom(Exception):
        pass

    class AppendThenFail(DjangoAuditLog):
        def append(self, record: AuditRecord) -> None:
            super().append(record)  # the row is written...
            raise Boom  # ...and the unit of work fails after it

    failing = dataclasses.replace(world["ports"], audit=AppendThenFail())
    with pytest.raises(Boom):
        pay(world, "100.00", "audit-boom", failing)
    with pytest.raises(OverpaymentRefused):
        pay(world, "5000.00", "audit-over")
    assert [r.event for r in rows(world["credit"])] == ["credit_opened"]
    stored = world["ports"].credits.get(world["credit"].id)
    assert stored.total_paid == cop("0.00")


def test_a_replayed_payment_records_nothing_more(world: dict) -> None:
    pay(world, "100.00", "audit-same")
    pay(world, "100.00", "audit-same")
    assert [r.event for r in rows(world["credit"])] == ["credit_opened", "payment_registered"]


def test_a_forwarded_header_that_is_no_address_is_stored_as_none(world: dict) -> None:
    spoofed = Actor(world["actor"].user_id, Source.WEB, origin=Origin("<script>", "x" * 1000, "r" * 200))
    use_cases.adjust_credit(world["ports"], world["credit"].id, cop("10.00"), "fee", spoofed)
    record = rows(world["credit"])[-1]
    assert record.ip is None and len(record.user_agent) == 300 and len(record.request_id) == 64


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET amount = 0 WHERE credit_id = %s",
        "UPDATE audit_entry SET event = 'x' WHERE false",
        "DELETE FROM audit_entry WHERE credit_id = %s",
        "DELETE FROM audit_entry WHERE false",
        "TRUNCATE audit_entry",
    ],
)
def test_the_table_refuses_to_change_or_lose_a_record(world: dict, statement: str) -> None:
    before = [(r.id, r.amount, r.event) for r in rows(world["credit"])]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [world["credit"].id] if "%s" in statement else [])
    assert [(r.id, r.amount, r.event) for r in rows(world["credit"])] == before


def test_the_orm_cannot_change_or_delete_either(world: dict) -> None:
    entry = rows(world["credit"])[0]
    entry.amount = 0
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).amount is not None


def test_the_admins_filters_are_indexed() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_entry'")
        defs = " ".join(r[0] for r in cursor.fetchall())
    for columns in ("(credit_id, at DESC, id DESC)", "(actor_id, at DESC, id DESC)", "(at DESC, id DESC)"):
        assert columns in defs
