"""The audit trail: one record per money event, appended in the same unit of work as the change.

Who (the actor's user id, role and channel; no user id for the system), when (the clock's UTC
time), from where (the caller's address, user agent and request id, when a request carried the
use case), what (the event, the credit and the payment / waiver / new credit it is about, the
amount, and the credit's figures before and after). The log is append-only: the port has no way
to change or remove a record, and the database refuses it too.

Records carry no id of their own: the log numbers them as it appends, so the use cases draw no
ids from `ports.ids` for them (keeping the ids of everything else as they were).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.credits.model import Credit
from domain.shared.money import Money


class AuditEvent(enum.StrEnum):
    CREDIT_OPENED = "credit_opened"
    CREDIT_DISBURSED = "credit_disbursed"
    CREDIT_CANCELLED = "credit_cancelled"
    CREDIT_ADJUSTED = "credit_adjusted"
    CREDIT_WRITTEN_OFF = "credit_written_off"
    CREDIT_REFINANCED = "credit_refinanced"
    CREDIT_DEFAULTED = "credit_defaulted"
    CREDIT_CURED = "credit_cured"
    PAYMENT_REGISTERED = "payment_registered"
    PAYMENT_REVERSED = "payment_reversed"
    # A reversal or a backdated payment reallocated the credit's other payments (or took fees back).
    PAYMENTS_REPROCESSED = "payments_reprocessed"
    LATE_FEE_CHARGED = "late_fee_charged"
    FEE_WAIVER_REQUESTED = "fee_waiver_requested"
    FEE_WAIVER_REJECTED = "fee_waiver_rejected"
    FEE_WAIVED = "fee_waived"
    LEDGER_BOOKED = "ledger_booked"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the entry point saw it (nothing here is trusted for access)."""

    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


def valid_ip(value: str | None) -> str | None:
    """An address PostgreSQL's inet takes, else None (a forwarded header may carry anything)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def origin_from(
    remote_addr: str, forwarded_for: str, user_agent: str, *, trust_forwarded: bool, request_id: str = ""
) -> Origin:
    """Where a request came from, for the audit trail: the same client address the login throttle
    uses (X-Forwarded-For's first hop only when a trusted balancer sets it)."""
    address = remote_addr
    if trust_forwarded and forwarded_for:
        address = forwarded_for.split(",")[0].strip()
    return Origin(ip=valid_ip(address), user_agent=user_agent[:300], request_id=request_id)


@dataclass(frozen=True, slots=True)
class Figures:
    """The credit's figures an auditor compares: state, what is owed now, paid and due in total."""

    state: str
    pending: Money
    paid: Money
    due: Money

    @classmethod
    def of(cls, credit: Credit) -> Figures:
        return cls(
            state=credit.state.value,
            pending=credit.pending,
            paid=credit.total_paid,
            due=credit.total_due,
        )

    def as_strings(self) -> dict[str, str]:
        return {
            "state": self.state,
            "pending": str(self.pending.amount),
            "paid": str(self.paid.amount),
            "due": str(self.due.amount),
        }


def changes(before: Figures | None, after: Figures | None) -> dict[str, dict[str, str | None]]:
    """The figures that differ, as {name: {"before": ..., "after": ...}} (strings; None if absent)."""
    old = before.as_strings() if before else {}
    new = after.as_strings() if after else {}
    return {
        name: {"before": old.get(name), "after": new.get(name)}
        for name in ("state", "pending", "paid", "due")
        if old.get(name) != new.get(name)
    }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    event: AuditEvent
    at: datetime
    actor_id: int | None
    actor_role: str
    source: str
    origin: Origin | None
    credit_id: UUID | None
    reference_id: UUID | None = None
    amount: Money | None = None
    before: Figures | None = None
    after: Figures | None = None
    # Free-form context (a reason, the new credit's id...), strings only.
    details: dict[str, str] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, dict[str, str | None]]:
        return changes(self.before, self.after)


class AuditLog(Protocol):
    def append(self, record: AuditRecord) -> None:
        """Add a record to the caller's unit of work: kept if it commits, gone if it rolls back."""
