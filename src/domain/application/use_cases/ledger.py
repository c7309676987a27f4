"""Ledger use cases: ledger-only bookings, and the book re-verified from its postings."""

from __future__ import annotations

from collections.abc import Sequence

from domain.application.audit import AuditEvent
from domain.application.ports import Actor, Ports
from domain.application.use_cases.common import audit
from domain.ledger.book import BookCheck
from domain.ledger.book import verify_book as check_book
from domain.ledger.model import Side, Transaction
from domain.shared.money import total


def verify_book(ports: Ports) -> BookCheck:
    """Re-verify the whole book from its postings (streamed, nothing trusted)."""
    return check_book(ports.transactions.stream())


def record_transactions(ports: Ports, transactions: Sequence[Transaction], actor: Actor | None = None) -> None:
    """Save ledger-only bookings (income, expense) built with `domain.ledger.entries`.

    Audited as `actor`, else as who the booking names (its agent and source)."""
    with ports.uow:
        for tx in transactions:
            ports.transactions.save(tx)
            audit(
                ports,
                AuditEvent.LEDGER_BOOKED,
                actor or Actor(user_id=tx.agent_id, source=tx.source),
                tx.credit_id,
                None,
                reference_id=tx.id,
                amount=total((p.amount for p in tx.postings if p.side is Side.DEBIT), tx.postings[0].amount.currency),
                type=tx.type.value,
                memo=tx.memo,
            )
        ports.uow.commit()
