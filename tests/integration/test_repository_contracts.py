"""One contract suite, two implementations: every test runs against the in-memory fakes the unit
tests use and against the PostgreSQL repositories, so the fakes cannot drift from the real thing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from adapters.sql.audit import DjangoAuditLog
from adapters.sql.catalog import SqlCatalogEntries, SqlCatalogLookup
from adapters.sql.credits import DjangoCreditRepository
from adapters.sql.ledger import DjangoTransactionRepository
from adapters.sql.payments import DjangoFeeWaiverRepository, DjangoPaymentRepository, SqlPaymentAccounts
from adapters.sql.people import SqlPeopleDirectory
from adapters.sql.session import DjangoUnitOfWork, OrmSession
from domain.application import use_cases
from domain.application.ports import Actor, Ports
from domain.credits.model import CreditState
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source, TransactionStatus
from domain.payments.model import MethodLine
from domain.shared.calendar import NoHolidays
from domain.shared.errors import Conflict
from domain.shared.money import Money
from tests.factories import PaymentAccountFactory, UserFactory
from tests.unit.domain.fakes import FixedClock, SequentialIds, World

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@dataclass
class Book:
    ports: Ports
    client: int
    agent: int
    account: int
    clock: FixedClock
    # The kinds of a credit's saved events, in order: its history, which a loaded credit does not carry.
    history: Callable[[uuid.UUID], list[str]]


@pytest.fixture(params=["memory", "postgres"])
def book(request: pytest.FixtureRequest) -> Book:
    client = UserFactory(role="client").id
    agent = UserFactory(role="agent").id
    account = PaymentAccountFactory(currency_id="COP").id
    clock = FixedClock()
    # Far from other tests' ids; sequential so keyset order is predictable in both.
    ids = SequentialIds(start=uuid.uuid4().int >> 64 << 32)
    if request.param == "memory":
        world = World(clock=clock, ids=ids)
        return Book(world.ports, client, agent, account, clock, lambda c: [e.kind.value for e in world.history(c)])
    session = OrmSession()
    ports = Ports(
        uow=DjangoUnitOfWork(session),
        credits=DjangoCreditRepository(session),
        payments=DjangoPaymentRepository(),
        waivers=DjangoFeeWaiverRepository(),
        transactions=DjangoTransactionRepository(),
        clock=clock,
        ids=ids,
        audit=DjangoAuditLog(),
        accounts=SqlPaymentAccounts(),
        people=SqlPeopleDirectory(),
        catalog=SqlCatalogLookup(),
        catalog_entries=SqlCatalogEntries(),
        holidays=NoHolidays(),
    )
    return Book(ports, client, agent, account, clock, _saved_event_kinds)


def _saved_event_kinds(credit_id: uuid.UUID) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT kind FROM credits_event WHERE credit_id = %s ORDER BY occurred_at, id", [credit_id])
        return [kind for (kind,) in cursor.fetchall()]


def cop(amount: str) -> Money:
    return Money.of(amount, "COP")


def _open(book: Book, *, installments: int = 6, method: InterestMethod = InterestMethod.FRENCH) -> object:
    return use_cases.open_credit(
        book.ports,
        use_cases.OpenCredit(
            user_id=book.client,
            agent_id=book.agent,
            price=cop("600000.00"),
            cost=cop("450000.00"),
            subcategory_id=None,
            periodicity=Periodicity.MONTHLY,
            installments=installments,
            first_due_date=book.clock.today() + timedelta(days=30),
            method=method,
            annual_rate=Decimal("0.30"),
        ),
        Actor(book.agent, Source.WEB),
    )


def _pay(book: Book, credit_id: uuid.UUID, amount: str, key: str, *, prepay: bool = False) -> object:
    return use_cases.register_payment(
        book.ports,
        use_cases.RegisterPayment(
            credit_id=credit_id,
            amount=cop(amount),
            method_lines=(MethodLine(book.account, cop(amount)),),
            idempotency_key=key,
            prepay=prepay,
        ),
        Actor(book.agent, Source.WEB),
    )


def test_a_saved_credit_comes_back_equal(book: Book) -> None:
    credit = _open(book)
    loaded = book.ports.credits.get(credit.id)
    assert loaded == credit
    assert loaded.version == credit.version == 1
    assert book.ports.credits.get(uuid.uuid4()) is None


def test_installment_lookup_and_open_ids_in_keyset_order(book: Book) -> None:
    first, second, third = _open(book), _open(book), _open(book)
    use_cases.write_off_credit(book.ports, second.id, "gone", Actor(book.agent, Source.ADMIN))
    assert book.ports.credits.get_by_installment(first.installments[2].id).id == first.id
    assert book.ports.credits.get_by_installment(uuid.uuid4()) is None
    everything = book.ports.credits.open_credit_ids(after=None, limit=100)
    assert [i for i in everything if i in {first.id, second.id, third.id}] == [first.id, third.id]
    assert book.ports.credits.open_credit_ids(after=first.id, limit=1) == [third.id]


def test_a_stale_copy_cannot_be_saved(book: Book) -> None:
    credit = _open(book)
    a = book.ports.credits.get(credit.id)
    b = book.ports.credits.get(credit.id)
    a.adjust(event_id=uuid.uuid4(), amount=cop("10.00"), reason="r", at=book.clock.now(), on=book.clock.today())
    book.ports.credits.save(a)
    b.adjust(event_id=uuid.uuid4(), amount=cop("20.00"), reason="r", at=book.clock.now(), on=book.clock.today())
    with pytest.raises(Conflict):
        book.ports.credits.save(b)
    assert book.ports.credits.get(credit.id).installments[-1].adjustment == cop("10.00")


def test_payments_round_trip_with_lines_allocations_and_reversal(book: Book) -> None:
    credit = _open(book)
    payment = _pay(book, credit.id, "150000.00", "key-1", prepay=True)
    assert book.ports.payments.get(payment.id) == payment
    assert book.ports.payments.get_by_idempotency_key("key-1") == payment
    assert book.ports.payments.get_by_idempotency_key("other") is None
    reversed_ = use_cases.reverse_payment(book.ports, payment.id, "bounced", Actor(book.agent, Source.ADMIN))
    loaded = book.ports.payments.get(payment.id)
    assert loaded == reversed_
    assert loaded.reversal is not None and loaded.reversal.reason == "bounced"
    assert book.ports.credits.get(credit.id).pending == credit.pending


def test_transactions_round_trip_reverse_and_stream(book: Book) -> None:
    credit = _open(book)
    payment = _pay(book, credit.id, "1000.00", "k")
    original = book.ports.transactions.get(payment.transaction_id)
    assert original is not None and original.status is TransactionStatus.CONFIRMED
    assert sum(p.signed.amount for p in original.postings) == 0
    use_cases.reverse_payment(book.ports, payment.id, "typo", Actor(book.agent, Source.ADMIN))
    after = book.ports.transactions.get(payment.transaction_id)
    assert after.status is TransactionStatus.REVERSED and after.reversed_by_id is not None
    compensation = book.ports.transactions.get(after.reversed_by_id)
    assert compensation.reverses_id == original.id
    assert [p.mirrored() for p in original.postings] == list(compensation.postings)
    streamed = {t.id: t for t in book.ports.transactions.stream() if t.credit_id == credit.id}
    assert set(streamed) == {
        original.id,
        compensation.id,
        *[t.id for t in streamed.values() if t.reference_id == credit.id],
    }
    assert streamed[compensation.id] == compensation
    assert use_cases.verify_book(book.ports).problems == []


def test_waivers_round_trip_through_request_and_decision(book: Book) -> None:
    credit = _open(book, installments=2)
    book.clock.advance(80)
    use_cases.charge_late_fees(book.ports, credit.id)
    installment = book.ports.credits.get(credit.id).installments[0]
    assert installment.late_fee.is_positive
    waiver = use_cases.request_fee_waiver(
        book.ports,
        use_cases.RequestWaiver(installment.id, installment.late_fee, "hospital"),
        Actor(book.agent, Source.MOBILE),
    )
    assert book.ports.waivers.get(waiver.id) == waiver
    decided = use_cases.decide_fee_waiver(
        book.ports, waiver.id, approve=True, note="ok", actor=Actor(book.agent, Source.ADMIN)
    )
    assert book.ports.waivers.get(waiver.id) == decided
    assert book.ports.credits.get(credit.id).installments[0].late_fee_outstanding.is_zero


def test_leaving_a_unit_of_work_without_commit_keeps_nothing(book: Book) -> None:
    credit = _open(book)
    with book.ports.uow:
        loaded = book.ports.credits.get(credit.id, for_update=True)
        loaded.adjust(
            event_id=uuid.uuid4(), amount=cop("99.00"), reason="r", at=book.clock.now(), on=book.clock.today()
        )
        book.ports.credits.save(loaded)
    assert book.ports.credits.get(credit.id) == credit
    assert book.history(credit.id) == ["activated"]


def test_a_credit_loads_without_its_history_and_each_new_event_is_saved_once(book: Book) -> None:
    credit = _open(book)
    assert [e.kind.value for e in credit.events] == ["activated"]
    assert book.ports.credits.get(credit.id).events == []  # a payment never reads the history
    book.clock.advance(1)  # the history is in time order
    with book.ports.uow:
        loaded = book.ports.credits.get(credit.id, for_update=True)
        for amount in ("10.00", "-4.00"):
            loaded.adjust(event_id=uuid.uuid4(), amount=cop(amount), reason="r", at=book.clock.now(),
                          on=book.clock.today())  # fmt: skip
            book.ports.credits.save(loaded)  # saved twice: the first event is not written again
        book.ports.uow.commit()
    assert book.history(credit.id) == ["activated", "adjustment", "adjustment"]


def test_delinquency_snapshot_and_state_persist(book: Book) -> None:
    credit = _open(book, installments=3)
    book.clock.advance(200)
    use_cases.recompute_delinquency(book.ports)
    loaded = book.ports.credits.get(credit.id)
    assert loaded.state is CreditState.DEFAULTED
    assert loaded.delinquency.is_in_default and loaded.delinquency.days_past_due == 170
    assert book.history(credit.id)[-1] == "defaulted"


def test_a_unit_of_work_inside_another_joins_it(book: Book) -> None:
    with book.ports.uow:
        credit = _open(book)  # its own unit of work commits into the outer one, which does not
    assert book.ports.credits.get(credit.id) is None
    with book.ports.uow:
        kept = _open(book)
        book.ports.uow.commit()
    assert book.ports.credits.get(kept.id) is not None


def test_an_exception_leaving_a_joined_block_dooms_the_whole(book: Book) -> None:
    with book.ports.uow:
        credit = _open(book)
        with pytest.raises(Conflict), book.ports.uow:
            raise Conflict("refused inside")
        book.ports.uow.commit()
    assert book.ports.credits.get(credit.id) is None


@pytest.mark.django_db(transaction=True)  # BEGIN and COMMIT as in production: the guards ride with COMMIT
@pytest.mark.parametrize("book", ["postgres"], indirect=True)  # the fakes keep no such guard
def test_a_payment_or_ledger_transaction_booked_again_is_refused_and_its_unit_keeps_nothing(book: Book) -> None:
    credit = _open(book)
    payment = _pay(book, credit.id, "10.00", "booked-twice")
    booked = book.ports.transactions.get(payment.transaction_id)
    before = book.ports.credits.get(credit.id)

    def adjust_and_save_again(again: Callable[[], None]) -> None:
        with book.ports.uow:
            loaded = book.ports.credits.get(credit.id, for_update=True)
            loaded.adjust(
                event_id=uuid.uuid4(), amount=cop("5.00"), reason="r", at=book.clock.now(), on=book.clock.today()
            )
            book.ports.credits.save(loaded)
            again()
            book.ports.uow.commit()

    for again in (lambda: book.ports.payments.save(payment), lambda: book.ports.transactions.save(booked)):
        with pytest.raises(Conflict, match="already booked"):
            adjust_and_save_again(again)
        assert book.ports.credits.get(credit.id) == before
