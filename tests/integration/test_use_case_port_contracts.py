"""The ports the use cases gained (payment accounts, people, catalog look-ups and entries, the
idempotency store), one contract suite against the in-memory fakes and PostgreSQL, so the fakes
cannot drift."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest

from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.session import DjangoUnitOfWork, OrmSession
from domain.application.idempotency import Answer, KeyTaken, Stored, run_once
from domain.application.queries.catalog import CurrencyDTO, HolidayDTO, PaymentAccountDTO
from domain.catalog.errors import Duplicate
from domain.catalog.ports import SkipDays
from domain.identity.model import Role
from domain.identity.ports import Person
from domain.shared.errors import Conflict
from domain.shared.money import COP, USD
from tests.factories import CurrencyFactory, PaymentAccountFactory, SubcategoryFactory, UserFactory
from tests.unit.domain.fakes import World

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@dataclass
class Seeded:
    ports: Any  # the Ports bundle (accounts, people, catalog)
    uow: Any
    idempotency: Any
    client: tuple[uuid.UUID, int]
    retired_agent: tuple[uuid.UUID, int]
    subcategory: int
    cash: int
    closed: int
    dollars: int
    owner: int


@pytest.fixture(params=["memory", "postgres"])
def seeded(request: pytest.FixtureRequest) -> Seeded:
    client = UserFactory(role="client")
    agent = UserFactory(role="agent", is_active=False)
    subcategory = SubcategoryFactory().id
    cash = PaymentAccountFactory(currency_id="COP").id
    closed = PaymentAccountFactory(currency_id="COP", active=False).id
    dollars = PaymentAccountFactory(currency=CurrencyFactory(code="USD")).id
    ids = dict(
        client=(client.public_id, client.id),
        retired_agent=(agent.public_id, agent.id),
        subcategory=subcategory,
        cash=cash,
        closed=closed,
        dollars=dollars,
        owner=client.id,
    )
    if request.param == "memory":
        world = World()
        world.people.add(client.public_id, Person(client.id, Role.CLIENT, True))
        world.people.add(agent.public_id, Person(agent.id, Role.AGENT, False))
        world.catalog.subcategories.add(subcategory)
        world.catalog.periodicities = {
            code: SkipDays(sundays=sundays, holidays=holidays) for code, sundays, holidays in _catalog_periodicities()
        }
        world.accounts.add(cash, "COP")
        world.accounts.add(closed, "COP", active=False)
        world.accounts.add(dollars, "USD")
        return Seeded(world.ports, world.uow, world.idempotency, **ids)
    from config.bootstrap import build_ports

    ports = build_ports()
    return Seeded(ports, DjangoUnitOfWork(OrmSession()), SqlIdempotencyStore(), **ids)


def _catalog_periodicities() -> list[tuple[str, bool, bool]]:
    from adapters.orm.catalog.models import Periodicity

    return list(Periodicity.objects.values_list("code", "skip_sundays", "skip_holidays"))


def test_usable_accounts_are_known_active_and_in_the_currency(seeded: Seeded) -> None:
    wanted = {seeded.cash, seeded.closed, seeded.dollars, 10**9}
    assert seeded.ports.accounts.usable(wanted, COP).get() == {seeded.cash}
    assert seeded.ports.accounts.usable(wanted, USD).get() == {seeded.dollars}
    assert seeded.ports.accounts.usable(set(), COP).get() == set()


def test_people_by_public_id_with_role_and_activity(seeded: Seeded) -> None:
    public_id, user_id = seeded.client
    assert seeded.ports.people.person(public_id) == Person(user_id, Role.CLIENT, True)
    retired, agent_id = seeded.retired_agent
    assert seeded.ports.people.person(retired) == Person(agent_id, Role.AGENT, False)
    assert seeded.ports.people.person(uuid.uuid4()) is None


def test_catalog_look_ups(seeded: Seeded) -> None:
    assert seeded.ports.catalog.subcategory_exists(seeded.subcategory)
    assert not seeded.ports.catalog.subcategory_exists(10**9)
    for code, sundays, holidays in _catalog_periodicities():
        assert seeded.ports.catalog.skip_days(code) == SkipDays(sundays=sundays, holidays=holidays)
    assert seeded.ports.catalog.skip_days("fortnightly-ish") is None


def test_a_claim_then_its_answer_then_a_replay(seeded: Seeded) -> None:
    store, uow = seeded.idempotency, seeded.uow
    with uow:
        store.claim(seeded.owner, "k", "f1")
        store.answer(seeded.owner, "k", Answer(201, b'{"b":1,"a":2}'))
        uow.commit()

    # A claim made ahead rides the unit of work's next round trip: a taken key raises there, at the
    # latest before COMMIT, and nothing of that unit of work stays.
    def claim_again() -> None:
        with uow:
            store.claim(seeded.owner, "k", "f2", ahead=True)
            store.answer(seeded.owner, "k", Answer(500, b"overwritten"))
            uow.commit()

    with pytest.raises(KeyTaken):
        claim_again()
    with pytest.raises(KeyTaken), uow:  # and at once when not ahead
        store.claim(seeded.owner, "k", "f2")
    assert store.stored(seeded.owner, "k") == Stored("f1", Answer(201, b'{"b":1,"a":2}'))
    with uow:
        store.claim(seeded.owner + 1, "k", "f2")  # keys are per owner
        uow.commit()
    stored = store.stored(seeded.owner + 1, "k")
    assert stored is not None and stored.fingerprint == "f2"
    assert store.stored(seeded.owner, "never-claimed") is None


def test_run_once_replays_refuses_another_request_and_forgets_a_rollback(seeded: Seeded) -> None:
    store, uow, owner = seeded.idempotency, seeded.uow, seeded.owner
    calls: list[str] = []

    def action() -> Answer:
        calls.append("ran")
        return Answer(200, b"done")

    def failing() -> Answer:
        raise Conflict("refused")

    with pytest.raises(Conflict, match="refused"):
        run_once(uow, store, owner=owner, key="r", fingerprint="f", action=failing)
    assert run_once(uow, store, owner=owner, key="r", fingerprint="f", action=action) == (Answer(200, b"done"), False)
    assert run_once(uow, store, owner=owner, key="r", fingerprint="f", action=action) == (Answer(200, b"done"), True)
    with pytest.raises(Conflict, match="different request"):
        run_once(uow, store, owner=owner, key="r", fingerprint="other", action=action)
    assert calls == ["ran"]


def test_a_claim_made_ahead_stops_a_replay_at_the_actions_first_statement(
    seeded: Seeded,
) -> None:
    store, uow, owner = seeded.idempotency, seeded.uow, seeded.owner
    calls: list[str] = []

    def action() -> Answer:
        seeded.ports.credits.get(uuid.uuid4(), for_update=True)  # the action's first statement
        calls.append("ran")
        return Answer(201, b"booked")

    assert run_once(uow, store, owner=owner, key="a", fingerprint="f", action=action, claim_ahead=True) == (
        Answer(201, b"booked"),
        False,
    )
    assert calls == ["ran"]
    assert run_once(uow, store, owner=owner, key="a", fingerprint="f", action=action, claim_ahead=True) == (
        Answer(201, b"booked"),
        True,
    )
    with pytest.raises(Conflict, match="different request"):
        run_once(uow, store, owner=owner, key="a", fingerprint="other", action=action, claim_ahead=True)
    assert len(calls) == 1  # the replays stopped at the first statement, before the rest of the action


def test_catalog_entries_refuse_clashes_and_keep_the_unit_of_work_usable(seeded: Seeded) -> None:
    entries, uow = seeded.ports.catalog_entries, seeded.uow
    with uow:
        entries.add_currency(CurrencyDTO("QPN", "Test sol", 2, False))
        with pytest.raises(Duplicate):
            entries.add_currency(CurrencyDTO("QPN", "Again", 2, True))
        assert entries.currency_active("QPN") is False
        assert entries.currency_active("QQQ") is None
        category = entries.add_category("Contract phones")
        with pytest.raises(Duplicate):
            entries.add_category("CONTRACT PHONES")
        assert entries.category_name(category) == "Contract phones"
        assert entries.category_name(10**9) is None
        entries.add_subcategory(category, "Android")
        with pytest.raises(Duplicate):
            entries.add_subcategory(category, "android")
        account = PaymentAccountDTO(0, "Contract box", "cash", "COP", True, "", "")
        assert entries.add_payment_account(account) != entries.add_payment_account(replace(account, currency="USD"))
        with pytest.raises(Duplicate):
            entries.add_payment_account(account)
        entries.add_holiday(HolidayDTO(date(2037, 1, 1), "New year"))
        with pytest.raises(Duplicate):
            entries.add_holiday(HolidayDTO(date(2037, 1, 1), "Again"))
