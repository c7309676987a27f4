"""Late-fee waivers: an agent requests, an admin decides; an admin's own waiver applies at once."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.application.audit import AuditEvent, Figures
from domain.application.ports import Actor, Ports
from domain.application.use_cases.common import (
    STAFF,
    audit,
    authorize,
    locked_credit,
    meta,
    not_found,
    person,
    save_credit,
)
from domain.credits.model import Credit
from domain.identity.model import Role
from domain.ledger import entries
from domain.payments.model import FeeWaiver
from domain.shared.errors import InvalidInput, WaiverRefused
from domain.shared.money import Money


@dataclass(frozen=True, slots=True)
class RequestWaiver:
    installment_id: UUID
    amount: Money
    reason: str


def _credit_of_installment(ports: Ports, cmd: RequestWaiver, actor: Actor) -> Credit:
    credit = ports.credits.get_by_installment(cmd.installment_id, for_update=True)
    if credit is None:
        raise not_found(actor, "installment", installment_id=str(cmd.installment_id))
    authorize(actor, credit, "installment", *STAFF)
    return credit


def _request(ports: Ports, credit: Credit, cmd: RequestWaiver, requested_by: int) -> FeeWaiver:
    if cmd.amount.currency != credit.currency:
        raise InvalidInput("The waiver's currency is not the credit's.")
    credit.require_not_before_opening(ports.clock.today(), "A fee waiver")
    owed = credit.installment(cmd.installment_id).late_fee_outstanding
    if cmd.amount > owed:
        raise WaiverRefused(
            "A waiver cannot exceed the late fee still owed.",
            details={"owed": str(owed), "asked": str(cmd.amount)},
        )
    return FeeWaiver.request(
        id=ports.ids.new_id(),
        credit_id=credit.id,
        installment_id=cmd.installment_id,
        amount=cmd.amount,
        reason=cmd.reason,
        requested_by=requested_by,
        at=ports.clock.now(),
    )


def request_fee_waiver(ports: Ports, cmd: RequestWaiver, actor: Actor) -> FeeWaiver:
    """An agent asks to waive (part of) a late fee; an admin decides later."""
    by = person(actor)
    with ports.uow:
        credit = _credit_of_installment(ports, cmd, actor)
        waiver = _request(ports, credit, cmd, by)
        ports.waivers.save(waiver)
        audit(
            ports,
            AuditEvent.FEE_WAIVER_REQUESTED,
            actor,
            waiver.credit_id,
            None,
            reference_id=waiver.id,
            amount=waiver.amount,
            reason=waiver.reason,
        )
        ports.uow.commit()
    return waiver


def _approve(ports: Ports, credit: Credit, waiver: FeeWaiver, note: str, by: int, actor: Actor) -> None:
    before = Figures.of(credit)
    # Booked today (the ledger date): never before the credit was opened.
    credit.require_not_before_opening(ports.clock.today(), "A fee waiver")
    credit.waive_late_fee(waiver.installment_id, waiver.amount)
    tx = entries.fee_waiver(
        meta(ports, credit, actor, reference_id=waiver.id, memo=waiver.reason), amount=waiver.amount
    )
    waiver.approve(by=by, at=ports.clock.now(), transaction_id=tx.id, note=note)
    ports.transactions.save(tx)
    save_credit(ports, credit)
    audit(
        ports,
        AuditEvent.FEE_WAIVED,
        actor,
        credit,
        before,
        reference_id=waiver.id,
        amount=waiver.amount,
        reason=waiver.reason,
        note=note,
    )


def decide_fee_waiver(ports: Ports, waiver_id: UUID, *, approve: bool, note: str, actor: Actor) -> FeeWaiver:
    """An admin approves (the fee is waived and booked) or rejects (with a note) a request."""
    by = person(actor)
    with ports.uow:
        waiver = ports.waivers.get(waiver_id, for_update=True)
        if waiver is None:
            raise not_found(actor, "fee waiver", waiver_id=str(waiver_id))
        credit = locked_credit(ports, waiver.credit_id, actor, "fee waiver", roles=(Role.ADMIN,))
        if approve:
            _approve(ports, credit, waiver, note, by, actor)
        else:
            waiver.reject(by=by, at=ports.clock.now(), note=note)
            audit(
                ports,
                AuditEvent.FEE_WAIVER_REJECTED,
                actor,
                waiver.credit_id,
                None,
                reference_id=waiver.id,
                amount=waiver.amount,
                note=note,
            )
        ports.waivers.save(waiver)
        ports.uow.commit()
    return waiver


def waive_fee(ports: Ports, cmd: RequestWaiver, actor: Actor, note: str = "") -> FeeWaiver:
    """An admin waives a fee directly: requested and approved by the same person in one unit of work."""
    by = person(actor)
    with ports.uow:
        credit = _credit_of_installment(ports, cmd, actor)
        waiver = _request(ports, credit, cmd, by)
        _approve(ports, credit, waiver, note or waiver.reason, by, actor)
        ports.waivers.save(waiver)
        ports.uow.commit()
    return waiver


def waive_or_request(ports: Ports, cmd: RequestWaiver, actor: Actor) -> FeeWaiver:
    """An admin's waiver applies at once; anyone else's is a request an admin decides later."""
    if actor.principal is not None and actor.principal.role is Role.ADMIN:
        return waive_fee(ports, cmd, actor)
    return request_fee_waiver(ports, cmd, actor)
