"""Book-wide and per-credit jobs of the system: late fees and the delinquency snapshot.

Book-wide jobs walk open credits by keyset chunks, one unit of work per chunk."""

from __future__ import annotations

from collections.abc import Callable
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


def each_open_credit(ports: Ports, actor: Actor, visit: Callable[[Credit], bool], result: JobResult) -> JobResult:
    """Walk every open credit by keyset chunks, one unit of work per chunk: each credit is locked,
    skipped when it closed since the ids were read, and counted changed when `visit` says so."""
    after: UUID | None = None
    while True:
        ids = ports.credits.open_credit_ids(after=after, limit=ports.policies.job_chunk)
        if not ids:
            return result
        with ports.uow:
            for credit_id in ids:
                credit = locked_credit(ports, credit_id, actor)
                result.visited += 1
                if credit.state.is_open and visit(credit):
                    result.changed += 1
            ports.uow.commit()
        after = ids[-1]


def apply_late_fees(ports: Ports, as_of: date | None = None, actor: Actor = SYSTEM) -> JobResult:
    """The nightly late-fee run over every open credit."""
    day = as_of or ports.clock.today()
    result = JobResult()

    def charge(credit: Credit) -> bool:
        charges = _charge_fees(ports, credit, day, actor)
        if charges:
            code = credit.currency.code
            charged = total((c.amount for c in charges), credit.currency)
            result.charged[code] = result.charged.get(code, Money.zero(credit.currency)) + charged
        return bool(charges)

    return each_open_credit(ports, actor, charge, result)


def recompute_delinquency(ports: Ports, as_of: date | None = None) -> JobResult:
    """Refresh every open credit's delinquency snapshot; move active <-> defaulted accordingly."""
    day = as_of or ports.clock.today()
    policy = ports.policies.delinquency

    def refresh(credit: Credit) -> bool:
        before = (credit.state, credit.delinquency)
        figures = Figures.of(credit)
        credit.refresh_delinquency(day, policy, event_id=ports.ids.new_id(), at=ports.clock.now())
        save_credit(ports, credit)
        if credit.state is not before[0]:
            record_delinquency_change(ports, credit, figures, day)
        return (credit.state, credit.delinquency) != before

    return each_open_credit(ports, SYSTEM, refresh, JobResult())


def record_delinquency_change(ports: Ports, credit: Credit, before: Figures, as_of: date) -> None:
    """Audit active -> defaulted or back (the nightly run's state change), in the caller's unit of work."""
    event = AuditEvent.CREDIT_DEFAULTED if credit.state is CreditState.DEFAULTED else AuditEvent.CREDIT_CURED
    audit(ports, event, SYSTEM, credit, before, amount=credit.outstanding, as_of=as_of.isoformat())
