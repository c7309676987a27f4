"""Credit use cases: open, disburse, cancel, adjust, write off, refinance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from domain.application.access import require_role
from domain.application.audit import AuditEvent, Figures
from domain.application.ports import Actor, Ports
from domain.application.use_cases.common import (
    STAFF,
    audit,
    credit_change,
    locked_credit,
    meta,
    require_reason,
    save_credit,
)
from domain.catalog.ports import SkipDays
from domain.credits.accrual import RefinanceBalance
from domain.credits.errors import CannotRefinance
from domain.credits.model import Credit
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms
from domain.identity.model import Role
from domain.identity.ports import Person
from domain.ledger import entries
from domain.shared.errors import Forbidden, InvalidInput, NotFound
from domain.shared.money import Money, require_storable


@dataclass(frozen=True, slots=True)
class OpenCredit:
    user_id: int
    agent_id: int | None
    price: Money
    cost: Money
    subcategory_id: int | None
    periodicity: Periodicity
    installments: int
    first_due_date: date
    method: InterestMethod
    annual_rate: Decimal = Decimal(0)
    skip_sundays: bool = False
    skip_holidays: bool = False
    # Disburse at once (active, booked); False leaves it pending until `activate_credit`.
    disburse: bool = True
    # Cost above price is refused unless the caller says the credit is a loss-leader.
    allow_loss: bool = False


@dataclass(frozen=True, slots=True)
class OpenCreditRequest:
    """Opening a credit as a caller asks for it: people by their public ids, the schedule's
    periodicity as a catalog code (its skip rules come from the catalog)."""

    client: UUID
    agent: UUID | None
    price: Money
    cost: Money
    subcategory_id: int | None
    periodicity: Periodicity
    installments: int
    first_due_date: date
    method: InterestMethod
    annual_rate: Decimal
    allow_loss: bool = False


def open_credit_on_request(ports: Ports, req: OpenCreditRequest, actor: Actor) -> Credit:
    """Staff open a credit for an active client; an agent's own portfolio gets it, unless an admin
    names another agent (an admin's credit is unassigned otherwise)."""
    if actor.principal is not None:
        require_role(actor.principal, *STAFF)
    with ports.uow:
        client = _person(ports, req.client, Role.CLIENT, "client_id")
        agent_id = _assigned_agent(ports, req.agent, actor)
        if req.subcategory_id is not None and not ports.catalog.subcategory_exists(req.subcategory_id):
            raise NotFound("No such subcategory.", details={"subcategory_id": req.subcategory_id})
        if req.cost.currency != req.price.currency:
            raise InvalidInput("Price and cost must be in the same currency.")
        skip = ports.catalog.skip_days(req.periodicity.value)
        if skip is None:
            raise NotFound("No such periodicity.", details={"periodicity": req.periodicity.value})
        credit = open_credit(
            ports,
            OpenCredit(
                user_id=client.id,
                agent_id=agent_id,
                price=req.price,
                cost=req.cost,
                subcategory_id=req.subcategory_id,
                periodicity=req.periodicity,
                installments=req.installments,
                first_due_date=req.first_due_date,
                method=req.method,
                annual_rate=req.annual_rate,
                skip_sundays=skip.sundays,
                skip_holidays=skip.holidays,
                allow_loss=req.allow_loss,
            ),
            actor,
        )
        ports.uow.commit()
    return credit


def _person(ports: Ports, public_id: UUID, role: Role, field_name: str) -> Person:
    found = ports.people.person(public_id)
    if found is None or found.role is not role or not found.is_active:
        raise NotFound(f"No such {role.value}.", details={field_name: str(public_id)})
    return found


def _assigned_agent(ports: Ports, agent: UUID | None, actor: Actor) -> int | None:
    is_admin = actor.principal is None or actor.principal.role is Role.ADMIN
    if agent is None:
        return None if is_admin else actor.user_id
    if not is_admin:
        raise Forbidden("Only an admin assigns a credit to another agent.")
    return _person(ports, agent, Role.AGENT, "agent_id").id


def open_credit(ports: Ports, cmd: OpenCredit, actor: Actor) -> Credit:
    """Open a credit (refused: amounts above `max_amount`, cost above price without `allow_loss`, a
    rate the method cannot mean, installments of 0.00 — see `Credit.open`)."""
    require_storable(cmd.price, "The price")
    require_storable(cmd.cost, "The cost")
    terms = ScheduleTerms(
        principal=cmd.price,
        installments=cmd.installments,
        periodicity=cmd.periodicity,
        first_due_date=cmd.first_due_date,
        method=cmd.method,
        annual_rate=cmd.annual_rate,
        skip_sundays=cmd.skip_sundays,
        skip_holidays=cmd.skip_holidays,
    )
    with ports.uow:
        credit = Credit.open(
            id=ports.ids.new_id(),
            user_id=cmd.user_id,
            agent_id=cmd.agent_id,
            price=cmd.price,
            cost=cmd.cost,
            subcategory_id=cmd.subcategory_id,
            terms=terms,
            opened_on=ports.clock.today(),
            ids=ports.ids,
            holidays=ports.holidays,
            allow_loss=cmd.allow_loss,
        )
        if cmd.disburse:
            _disburse(ports, credit, actor)
        save_credit(ports, credit)
        audit(
            ports,
            AuditEvent.CREDIT_OPENED,
            actor,
            credit,
            None,
            amount=credit.price,
            allow_loss="true" if credit.allow_loss else "",
        )
        ports.uow.commit()
    return credit


def _disburse(ports: Ports, credit: Credit, actor: Actor) -> None:
    credit.activate(event_id=ports.ids.new_id(), at=ports.clock.now(), actor_id=actor.user_id)
    tx = entries.disbursement(
        meta(ports, credit, actor, reference_id=credit.id, memo="disbursement"),
        principal=credit.price,
        interest=credit.total_interest,
    )
    ports.transactions.save(tx)


def activate_credit(ports: Ports, credit_id: UUID, actor: Actor) -> Credit:
    with credit_change(ports, credit_id, actor, AuditEvent.CREDIT_DISBURSED, Role.ADMIN) as change:
        _disburse(ports, change.credit, actor)
        change.note(amount=change.credit.price)
    return change.credit


def cancel_credit(ports: Ports, credit_id: UUID, reason: str, actor: Actor) -> Credit:
    with credit_change(ports, credit_id, actor, AuditEvent.CREDIT_CANCELLED, Role.ADMIN) as change:
        change.credit.cancel(event_id=ports.ids.new_id(), reason=reason, at=ports.clock.now(), actor_id=actor.user_id)
        change.note(reason=reason)
    return change.credit


def adjust_credit(ports: Ports, credit_id: UUID, amount: Money, reason: str, actor: Actor) -> Credit:
    """A positive or negative change of what the client owes, with a reason, booked today (admin).

    Refused: an amount, or a principal after it, above `max_amount`; a date before the credit opened."""
    require_storable(amount, "The adjustment")
    with credit_change(ports, credit_id, actor, AuditEvent.CREDIT_ADJUSTED, Role.ADMIN) as change:
        event_id = ports.ids.new_id()
        change.credit.adjust(
            event_id=event_id,
            amount=amount,
            reason=reason,
            at=ports.clock.now(),
            on=ports.clock.today(),
            actor_id=actor.user_id,
        )
        ports.transactions.save(
            entries.adjustment(meta(ports, change.credit, actor, reference_id=event_id, memo=reason), amount=amount)
        )
        change.note(reference_id=event_id, amount=amount, reason=reason)
    return change.credit


def write_off_credit(ports: Ports, credit_id: UUID, reason: str, actor: Actor) -> Credit:
    """Give up on the outstanding balance, booked as a write-off expense (admin)."""
    with credit_change(ports, credit_id, actor, AuditEvent.CREDIT_WRITTEN_OFF, Role.ADMIN) as change:
        event_id = ports.ids.new_id()
        amount = change.credit.write_off(
            event_id=event_id, reason=reason, at=ports.clock.now(), on=ports.clock.today(), actor_id=actor.user_id
        )
        ports.transactions.save(
            entries.write_off(meta(ports, change.credit, actor, reference_id=event_id, memo=reason), amount=amount)
        )
        change.note(reference_id=event_id, amount=amount, reason=reason)
    return change.credit


@dataclass(frozen=True, slots=True)
class Refinance:
    credit_id: UUID
    installments: int
    periodicity: Periodicity
    first_due_date: date
    method: InterestMethod
    annual_rate: Decimal
    reason: str
    # None: as the catalog's periodicity says (what the API asks for).
    skip_sundays: bool | None = False
    skip_holidays: bool | None = False


@dataclass(frozen=True, slots=True)
class Refinanced:
    """The new credit, and what the old one carried into it, part by part."""

    credit: Credit
    balance: RefinanceBalance


def refinance_credit(ports: Ports, cmd: Refinance, actor: Actor) -> Refinanced:
    """Close an open credit today into a new active one whose principal is what is owed today (admin).

    Carried (domain.credits.accrual): outstanding principal + interest earned to today and unpaid
    + late fees neither waived nor paid; never interest of time not yet elapsed. Unearned interest
    the client already paid is credited against the principal. The old schedule's unearned
    interest, recognised as income at disbursement, is reversed from interest income as the old
    receivable is closed in full. The new credit's cost equals its price: refinancing earns only
    the new schedule's interest.
    """
    reason = require_reason(cmd.reason)
    with ports.uow:
        old = locked_credit(ports, cmd.credit_id, actor, roles=(Role.ADMIN,))
        before = Figures.of(old)
        today = ports.clock.today()
        balance = _refinance_balance(old, today)
        carried = require_storable(balance.carried, "The refinanced principal (principal + accrued interest + fees)")
        new = _refinanced_credit(ports, old, cmd, carried)
        event_id = ports.ids.new_id()
        now = ports.clock.now()
        old.mark_refinanced(
            event_id=event_id, new_credit_id=new.id, reason=reason, at=now, on=today, actor_id=actor.user_id
        )
        # The new credit is active at once; its disbursement is the refinance booking itself.
        new.activate(event_id=ports.ids.new_id(), at=now, actor_id=actor.user_id)
        ports.transactions.save(
            entries.refinance(
                meta(ports, old, actor, reference_id=event_id, memo=reason),
                new_credit_id=new.id,
                carried=carried,
                unearned_interest=balance.unearned_interest,
                new_interest=new.total_interest,
            )
        )
        save_credit(ports, old)
        save_credit(ports, new)
        audit(
            ports,
            AuditEvent.CREDIT_REFINANCED,
            actor,
            old,
            before,
            reference_id=new.id,
            amount=carried,
            reason=reason,
            new_credit_id=str(new.id),
            new_credit_due=str(new.total_due.amount),
            **balance.as_strings(),
        )
        ports.uow.commit()
    return Refinanced(new, balance)


def _refinance_balance(old: Credit, today: date) -> RefinanceBalance:
    if not old.state.is_open:
        # Checked before the new schedule is built from the outstanding of a closed credit.
        raise CannotRefinance(
            f"A {old.state} credit cannot be refinanced.",
            details={"from": old.state.value, "to": "refinanced"},
        )
    balance = old.refinance_balance(today)
    if not balance.principal.is_positive:
        raise CannotRefinance(
            "The interest paid in advance covers the principal still owed: nothing is left to refinance.",
            details=balance.as_strings(),
        )
    return balance


def _skip_days(ports: Ports, cmd: Refinance) -> SkipDays:
    if cmd.skip_sundays is not None and cmd.skip_holidays is not None:
        return SkipDays(sundays=cmd.skip_sundays, holidays=cmd.skip_holidays)
    skip = ports.catalog.skip_days(cmd.periodicity.value)
    if skip is None:
        raise NotFound("No such periodicity.", details={"periodicity": cmd.periodicity.value})
    return skip


def _refinanced_credit(ports: Ports, old: Credit, cmd: Refinance, carried: Money) -> Credit:
    skip = _skip_days(ports, cmd)
    terms = ScheduleTerms(
        principal=carried,
        installments=cmd.installments,
        periodicity=cmd.periodicity,
        first_due_date=cmd.first_due_date,
        method=cmd.method,
        annual_rate=cmd.annual_rate,
        skip_sundays=skip.sundays,
        skip_holidays=skip.holidays,
    )
    return Credit.open(
        id=ports.ids.new_id(),
        user_id=old.user_id,
        agent_id=old.agent_id,
        price=carried,
        cost=carried,
        subcategory_id=old.subcategory_id,
        terms=terms,
        opened_on=ports.clock.today(),
        ids=ports.ids,
        holidays=ports.holidays,
        refinanced_from_id=old.id,
    )
