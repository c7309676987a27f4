"""The rules the use cases own, on the in-memory fakes: who may act on what (visibility 404 before
role 403, under the row lock), which accounts a payment may name, who a credit is opened for, and
the one idempotency mechanism (replay, key reused with another request, a refused call leaves no
claim). Also the unit of work's reentrancy and post-commit effects."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain.application import use_cases as uc
from domain.application.idempotency import Answer, run_once
from domain.application.ports import Actor, CreditChanged
from domain.application.use_cases import catalog
from domain.credits.model import Credit
from domain.credits.schedule import InterestMethod, Periodicity
from domain.identity.model import Principal, Role
from domain.identity.ports import Person
from domain.ledger.model import Source
from domain.payments.errors import OverpaymentRefused
from domain.payments.model import MethodLine
from domain.shared.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolated
from domain.shared.money import Money

from .builders import usd
from .fakes import World

CLIENT_ID, AGENT_ID, OTHER_AGENT_ID, ADMIN_ID, OTHER_CLIENT_ID = 7, 3, 4, 1, 8


def actor(user_id: int, role: Role) -> Actor:
    return Actor.of(Principal(public_id=uuid.uuid4(), user_id=user_id, role=role), Source.WEB)


AGENT = actor(AGENT_ID, Role.AGENT)
OTHER_AGENT = actor(OTHER_AGENT_ID, Role.AGENT)
ADMIN = actor(ADMIN_ID, Role.ADMIN)
CLIENT = actor(CLIENT_ID, Role.CLIENT)
OTHER_CLIENT = actor(OTHER_CLIENT_ID, Role.CLIENT)


@pytest.fixture
def world() -> World:
    return World()


def opened(world: World) -> Credit:
    return uc.open_credit(
        world.ports,
        uc.OpenCredit(
            user_id=CLIENT_ID,
            agent_id=AGENT_ID,
            price=usd("400"),
            cost=usd("300"),
            subcategory_id=None,
            periodicity=Periodicity.MONTHLY,
            installments=4,
            first_due_date=date(2024, 2, 1),
            method=InterestMethod.ZERO_INTEREST,
        ),
        AGENT,
    )


def payment(credit: Credit, amount: str = "100", *, account: int = 1, key: str = "k") -> uc.RegisterPayment:
    return uc.RegisterPayment(
        credit_id=credit.id,
        amount=usd(amount),
        method_lines=(MethodLine(account, usd(amount)),),
        idempotency_key=key,
        prepay=True,
    )


class TestWhoMayAct:
    @pytest.mark.parametrize("caller", [OTHER_AGENT, OTHER_CLIENT])
    def test_a_credit_the_caller_may_not_see_does_not_exist_for_them(self, world: World, caller: Actor) -> None:
        credit = opened(world)
        with pytest.raises(NotFound) as seen:
            uc.register_payment(world.ports, payment(credit), caller)
        with pytest.raises(NotFound) as missing:
            uc.register_payment(world.ports, replace(payment(credit), credit_id=uuid.uuid4()), caller)
        # The same answer as for nothing at all: no details that would tell it exists.
        assert (seen.value.message, seen.value.details) == (missing.value.message, missing.value.details)
        assert not world.payments.rows

    def test_visible_but_the_role_may_not_act_is_forbidden(self, world: World) -> None:
        credit = opened(world)
        with pytest.raises(Forbidden):
            uc.register_payment(world.ports, payment(credit), CLIENT)
        with pytest.raises(Forbidden):
            uc.write_off_credit(world.ports, credit.id, "gone", AGENT)
        assert world.credit(credit.id).state is credit.state

    def test_visibility_is_checked_before_the_role(self, world: World) -> None:
        credit = opened(world)
        with pytest.raises(NotFound):
            uc.write_off_credit(world.ports, credit.id, "gone", OTHER_AGENT)

    def test_the_assigned_agent_and_an_admin_may_act(self, world: World) -> None:
        credit = opened(world)
        uc.register_payment(world.ports, payment(credit, key="a"), AGENT)
        uc.register_payment(world.ports, payment(credit, key="b"), ADMIN)
        assert len(world.payments.rows) == 2

    def test_a_reversal_of_an_invisible_payment_is_not_found(self, world: World) -> None:
        credit = opened(world)
        paid = uc.register_payment(world.ports, payment(credit), AGENT)
        with pytest.raises(NotFound, match="No such payment"):
            uc.reverse_payment(world.ports, paid.id, "bounced", OTHER_AGENT)
        with pytest.raises(Forbidden):
            uc.reverse_payment(world.ports, paid.id, "bounced", AGENT)
        uc.reverse_payment(world.ports, paid.id, "bounced", ADMIN)

    def test_an_agent_requests_a_waiver_an_admin_waives_at_once(self, world: World) -> None:
        credit = opened(world)
        world.clock.set_date(date(2024, 4, 1))
        uc.charge_late_fees(world.ports, credit.id)
        installment = world.credit(credit.id).installments[0]
        cmd = uc.RequestWaiver(installment.id, usd("0.01"), "ill")
        with pytest.raises(NotFound, match="No such installment"):
            uc.waive_or_request(world.ports, cmd, OTHER_AGENT)
        assert uc.waive_or_request(world.ports, cmd, AGENT).status.value == "requested"
        assert uc.waive_or_request(world.ports, cmd, ADMIN).status.value == "approved"


class TestPaymentAccounts:
    def test_an_unusable_account_is_refused_and_nothing_is_written(self, world: World) -> None:
        credit = opened(world)
        world.accounts.unusable.add(9)
        with pytest.raises(NotFound) as refused:
            uc.register_payment(world.ports, payment(credit, account=9), AGENT)
        assert refused.value.details == {"payment_account_ids": [9]}
        assert not world.payments.rows and world.credit(credit.id).pending == credit.pending


class TestOpenOnRequest:
    def request(self, world: World, **kw: object) -> uc.OpenCreditRequest:
        client = uuid.uuid4()
        world.people.add(client, Person(CLIENT_ID, Role.CLIENT, True))
        base: dict[str, object] = {
            "client": client,
            "agent": None,
            "price": usd("400"),
            "cost": usd("300"),
            "subcategory_id": None,
            "periodicity": Periodicity.MONTHLY,
            "installments": 4,
            "first_due_date": date(2024, 2, 1),
            "method": InterestMethod.ZERO_INTEREST,
            "annual_rate": Decimal(0),
        }
        return uc.OpenCreditRequest(**{**base, **kw})  # type: ignore[arg-type]

    def test_an_agent_opens_into_their_own_portfolio_an_admin_unassigned(self, world: World) -> None:
        assert uc.open_credit_on_request(world.ports, self.request(world), AGENT).agent_id == AGENT_ID
        assert uc.open_credit_on_request(world.ports, self.request(world), ADMIN).agent_id is None

    def test_only_staff_open_and_only_an_admin_assigns_another_agent(self, world: World) -> None:
        other = uuid.uuid4()
        world.people.add(other, Person(OTHER_AGENT_ID, Role.AGENT, True))
        with pytest.raises(Forbidden):
            uc.open_credit_on_request(world.ports, self.request(world), CLIENT)
        with pytest.raises(Forbidden):
            uc.open_credit_on_request(world.ports, self.request(world, agent=other), AGENT)
        assert uc.open_credit_on_request(world.ports, self.request(world, agent=other), ADMIN).agent_id == 4

    def test_unknown_or_inactive_people_and_unknown_subcategories_are_not_found(self, world: World) -> None:
        inactive = uuid.uuid4()
        world.people.add(inactive, Person(CLIENT_ID, Role.CLIENT, False))
        for kw in ({"client": inactive}, {"client": uuid.uuid4()}, {"subcategory_id": 5}):
            with pytest.raises(NotFound):
                uc.open_credit_on_request(world.ports, self.request(world, **kw), ADMIN)
        with pytest.raises(InvalidInput):
            uc.open_credit_on_request(world.ports, self.request(world, cost=Money.of("1", "COP")), ADMIN)
        assert not world.credits.rows


class TestRunOnce:
    def call(self, world: World, credit: Credit, fingerprint: str, amount: str = "100") -> tuple[Answer, bool]:
        def action() -> Answer:
            cmd = replace(payment(credit, amount, key=f"{AGENT_ID}:k"), key_claimed=True)
            booked = uc.book_payment(world.ports, cmd, AGENT)
            return Answer(201, str(booked.credit_pending.amount).encode())

        return run_once(world.uow, world.idempotency, owner=AGENT_ID, key="k", fingerprint=fingerprint, action=action)

    def test_same_key_same_request_replays_the_first_answer(self, world: World) -> None:
        credit = opened(world)
        first = self.call(world, credit, "f1")
        again = self.call(world, credit, "f1")
        assert first == (Answer(201, b"300.00"), False) and again == (Answer(201, b"300.00"), True)
        assert len(world.payments.rows) == 1

    def test_same_key_another_request_conflicts(self, world: World) -> None:
        credit = opened(world)
        self.call(world, credit, "f1")
        with pytest.raises(Conflict):
            self.call(world, credit, "f2", amount="90")
        assert len(world.payments.rows) == 1

    def test_a_refused_call_leaves_no_claim_and_its_retry_runs(self, world: World) -> None:
        credit = opened(world)
        with pytest.raises(OverpaymentRefused):
            self.call(world, credit, "f1", amount="1000")
        assert not world.idempotency.rows and not world.payments.rows
        assert self.call(world, credit, "f1")[1] is False

    def test_the_use_case_joins_the_claims_unit_of_work(self, world: World) -> None:
        credit = opened(world)
        commits = world.uow.commits
        self.call(world, credit, "f1")
        assert world.uow.commits == commits + 1


class TestEffects:
    def test_a_changed_credit_is_published_once_committed(self, world: World) -> None:
        credit = opened(world)
        assert CreditChanged(credit.id, CLIENT_ID) in world.uow.published
        world.uow.published.clear()
        with pytest.raises(NotFound):
            uc.register_payment(world.ports, payment(credit, account=9), actor(OTHER_AGENT_ID, Role.AGENT))
        assert not world.uow.published


class TestCatalog:
    def test_only_an_admin_adds_to_the_catalog(self, world: World) -> None:
        with pytest.raises(Forbidden):
            catalog.create_category(world.ports, AGENT, name="Phones")
        assert catalog.create_category(world.ports, ADMIN, name="  Phones ").name == "Phones"

    def test_a_clash_is_a_conflict_worded_by_the_use_case(self, world: World) -> None:
        catalog.create_currency(world.ports, ADMIN, code="PEN", name="Sol", minor_units=2)
        with pytest.raises(Conflict, match="Currency PEN already exists") as clash:
            catalog.create_currency(world.ports, ADMIN, code="PEN", name="Sol", minor_units=2)
        assert clash.value.code == "conflict" and clash.value.details == {"field": "code"}

    def test_a_payment_account_needs_an_active_currency(self, world: World) -> None:
        with pytest.raises(NotFound):
            catalog.create_payment_account(world.ports, ADMIN, name="Box", kind="cash", currency="PEN")
        catalog.create_currency(world.ports, ADMIN, code="PEN", name="Sol", minor_units=2, active=False)
        with pytest.raises(RuleViolated):
            catalog.create_payment_account(world.ports, ADMIN, name="Box", kind="cash", currency="PEN")
