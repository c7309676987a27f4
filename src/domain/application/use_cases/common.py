"""The skeleton every write use case shares, written once.

load under lock -> check access -> act -> save -> audit -> effects, in one unit of work:

    with credit_change(ports, credit_id, actor, AuditEvent.CREDIT_CANCELLED, Role.ADMIN) as change:
        change.credit.cancel(...)
        change.note(reason=reason)

Authorization runs here, under the row lock: what the caller may not see does not exist for them
(404, the same answer as for nothing at all), then the role (403). An actor without a principal is
a trusted entry point (the system's jobs, the admin site, management commands) and is not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from domain.application.access import Holding, require_role, require_visible
from domain.application.audit import AuditEvent, AuditRecord, Figures
from domain.application.ports import Actor, CreditChanged, Ports
from domain.credits.model import Credit
from domain.identity.model import Role
from domain.ledger import entries
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.money import Money

STAFF = (Role.AGENT, Role.ADMIN)


def holding_of(credit: Credit) -> Holding[int]:
    return Holding(client_id=credit.user_id, agent_id=credit.agent_id)


def authorize(actor: Actor, credit: Credit, what: str, *roles: Role) -> None:
    """Visibility (404) before role (403); trusted entry points (no principal) pass."""
    if actor.principal is None:
        return
    require_visible(actor.principal, holding_of(credit), what)
    if roles:
        require_role(actor.principal, *roles)


def not_found(actor: Actor, what: str, **details: str) -> NotFound:
    """'No such <what>.' A caller through the API gets no details: the answer must be the same as
    for a thing they may not see, or the difference would tell them it exists."""
    return NotFound(f"No such {what}.", details=details if actor.principal is None else None)


def locked_credit(
    ports: Ports, credit_id: UUID, actor: Actor, what: str = "credit", *, roles: tuple[Role, ...] | None = None
) -> Credit:
    """The credit, locked for the change; with `roles`, only once the actor may see it (404) and
    act on it (403), checked under the lock."""
    credit = ports.credits.get(credit_id, for_update=True)
    if credit is None:
        raise not_found(actor, what, credit_id=str(credit_id))
    if roles is not None:
        authorize(actor, credit, what, *roles)
    return credit


def save_credit(ports: Ports, credit: Credit) -> None:
    """Save, and tell whoever listens (the read cache) once the unit of work commits."""
    ports.credits.save(credit)
    ports.uow.on_commit(CreditChanged(credit_id=credit.id, user_id=credit.user_id))


def meta(
    ports: Ports,
    credit: Credit,
    actor: Actor,
    *,
    on: date | None = None,
    reference_id: UUID | None = None,
    memo: str = "",
) -> entries.Meta:
    return entries.Meta(
        id=ports.ids.new_id(),
        source=actor.source,
        occurred_on=on or ports.clock.today(),
        recorded_at=ports.clock.now(),
        user_id=credit.user_id,
        agent_id=actor.user_id,
        credit_id=credit.id,
        reference_id=reference_id,
        memo=memo,
    )


def audit(
    ports: Ports,
    event: AuditEvent,
    actor: Actor,
    credit: Credit | UUID | None,
    before: Figures | None,
    *,
    reference_id: UUID | None = None,
    amount: Money | None = None,
    **details: str,
) -> None:
    """Append the event's audit record to the use case's unit of work (after = the credit as saved).

    `credit` is the credit as saved, or only its id for an event about a credit that moves none of
    its figures (a waiver requested or rejected): the record carries the id either way, so the
    trail of a credit lists every money event about it."""
    figures = credit if isinstance(credit, Credit) else None
    credit_id = credit.id if isinstance(credit, Credit) else credit
    ports.audit.append(
        AuditRecord(
            event=event,
            at=ports.clock.now(),
            actor_id=actor.user_id,
            actor_role=actor.role or ("system" if actor.user_id is None else ""),
            source=actor.source.value,
            origin=actor.origin,
            credit_id=credit_id,
            reference_id=reference_id,
            amount=amount,
            before=before,
            after=Figures.of(figures) if figures is not None else None,
            details={k: v for k, v in details.items() if v},
        )
    )


def require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.")
    return reason.strip()


def person(actor: Actor) -> int:
    if actor.user_id is None:
        raise InvalidInput("Fee waivers are requested and decided by a person.")
    return actor.user_id


@dataclass(slots=True)
class CreditChange:
    """The credit a use case changes, its figures before, and what its audit record says."""

    credit: Credit
    before: Figures
    reference_id: UUID | None = None
    amount: Money | None = None
    details: dict[str, str] = field(default_factory=dict)

    def note(self, *, reference_id: UUID | None = None, amount: Money | None = None, **details: str) -> None:
        self.reference_id = reference_id if reference_id is not None else self.reference_id
        self.amount = amount if amount is not None else self.amount
        self.details.update(details)


@contextmanager
def credit_change(
    ports: Ports, credit_id: UUID, actor: Actor, event: AuditEvent, *roles: Role
) -> Iterator[CreditChange]:
    """The skeleton: lock the credit, authorize, let the body act, then save, audit and commit.

    An exception in the body leaves nothing behind (the unit of work is not committed)."""
    with ports.uow:
        credit = locked_credit(ports, credit_id, actor, roles=roles)
        change = CreditChange(credit, Figures.of(credit))
        yield change
        save_credit(ports, credit)
        audit(
            ports,
            event,
            actor,
            credit,
            change.before,
            reference_id=change.reference_id,
            amount=change.amount,
            **change.details,
        )
        ports.uow.commit()
