"""Book-wide and per-credit jobs of the system: late fees and the delinquency snapshot.

Book-wide jobs walk open credits by keyset chunks, one unit of work per chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from domain.application.audit import AuditEvent, Figures
from domain.application.ports import SYSTEM, Actor, Ports
from domain.application.use_cases.common import audit, locked_credit, meta, save_credit
from domain.credits.model import Credit, CreditState
from domain.ledger import entries
from domain.payments.late_fees import FeeCharge, assess_late_fees
from domain.shared.money import Money, total


def _charge_fees(ports: Ports, credit: Credit, as_of: date, actor: Actor) -> list[FeeCharge]:
    charges = assess_late_fees(credit.installments, as_of, ports.policies.late_fees)
    if not charges:
        return charges
    before = Figures.of(credit)
    for charge in charges:
        credit.charge_late_fee(charge.installment_id, charge.amount)
    amount = total((c.amount for c in charges), credit.currency)
    ports.transactions.save(
        entries.late_fee(meta(ports, credit, actor, on=as_of, memo=f"late fees as of {as_of}"), amount=amount)
    )
    save_credit(ports, credit)
    audit(ports, AuditEvent.LATE_FEE_CHARGED, actor, credit, before, amount=amount, as_of=as_of.isoformat())
    return charges


def charge_late_fees(
    ports: Ports, credit_id: UUID, actor: Actor = SYSTEM, as_of: date | None = None
) -> list[FeeCharge]:
    """Bring one credit's late fees up to date (idempotent for a given date)."""
    as_of = as_of or ports.clock.today()
    with ports.uow:
        credit = locked_credit(ports, credit_id, actor)
        charges = _charge_fees(ports, credit, as_of, actor) if credit.state.is_open else []
        ports.uow.commit()
    return charges


@dataclass(slots=True)
class JobResult:
    """What a book-wide job did: credits visited and changed, and the money charged per currency."""

    visited: int = 0
    changed: int = 0
    charged: dict[str, Money] = field(default_factory=dict)


def apply_late_fees(ports: Ports, as_of: date | None = None, actor: Actor = SYSTEM) -> JobResult:
    """The nightly late-fee run over every open credit (keyset chunks, one unit of work each)."""
    as_of = as_of or ports.clock.today()
    result = JobResult()
    after: UUID | None = None
    while True:
        ids = ports.credits.open_credit_ids(after=after, limit=ports.policies.job_chunk)
        if not ids:
            return result
        with ports.uow:
            for credit_id in ids:
                credit = locked_credit(ports, credit_id, actor)
                result.visited += 1
                if not credit.state.is_open:
                    continue  # closed since the ids were read
                charges = _charge_fees(ports, credit, as_of, actor)
                if charges:
                    result.changed += 1
                    code = credit.currency.code
                    charged = total((c.amount for c in charges), credit.currency)
                    result.charged[code] = result.charged.get(code, Money.zero(credit.currency)) + charged
            ports.uow.commit()
        after = ids[-1]


def recompute_delinquency(ports: Ports, as_of: date | None = None) -> JobResult:
    """Refresh every open credit's delinquency snapshot; move active <-> defaulted accordingly."""
    as_of = as_of or ports.clock.today()
    policy = ports.policies.delinquency
    result = JobResult()
    after: UUID | None = None
    while True:
        ids = ports.credits.open_credit_ids(after=after, limit=ports.policies.job_chunk)
        if not ids:
            return result
        with ports.uow:
            for credit_id in ids:
                credit = locked_credit(ports, credit_id, SYSTEM)
                result.visited += 1
                before = (credit.state, credit.delinquency)
                figures = Figures.of(credit)
                credit.refresh_delinquency(as_of, policy, event_id=ports.ids.new_id(), at=ports.clock.now())
                if (credit.state, credit.delinquency) != before:
                    result.changed += 1
                save_credit(ports, credit)
                if credit.state is not before[0]:
                    record_delinquency_change(ports, credit, figures, as_of)
            ports.uow.commit()
        after = ids[-1]


def record_delinquency_change(ports: Ports, credit: Credit, before: Figures, as_of: date) -> None:
    """Audit active -> defaulted or back (the nightly run's state change), in the caller's unit of work."""
    event = AuditEvent.CREDIT_DEFAULTED if credit.state is CreditState.DEFAULTED else AuditEvent.CREDIT_CURED
    audit(ports, event, SYSTEM, credit, before, amount=credit.outstanding, as_of=as_of.isoformat())
