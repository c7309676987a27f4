"""Balances derived from postings, and a check that re-verifies a whole book.

Nothing here trusts a stored balance: balances are sums of the postings of transactions whose
status counts (confirmed, reversed). `verify_book` streams any number of transactions once and
reports every defect it finds rather than stopping at the first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from domain.ledger.model import Posting, Transaction, TransactionStatus, TransactionType, imbalances
from domain.shared.money import Currency, Money


def balances(transactions: Iterable[Transaction]) -> dict[tuple[str, Currency], Money]:
    """Debit-positive balance of every account per currency."""
    sums: dict[tuple[str, Currency], Decimal] = defaultdict(Decimal)
    for tx in transactions:
        if not tx.status.counts:
            continue
        for p in tx.postings:
            sums[(p.account, p.amount.currency)] += p.signed.amount
    return {key: Money(value, key[1]) for key, value in sums.items()}


def balance_of(account: str, currency: Currency, transactions: Iterable[Transaction]) -> Money:
    return balances(transactions).get((account, currency), Money.zero(currency))


@dataclass(slots=True)
class BookCheck:
    transactions: int = 0
    problems: list[str] = field(default_factory=list)
    debits: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    credits: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    @property
    def ok(self) -> bool:
        return not self.problems


def _legs(postings: Iterable[Posting]) -> Counter[tuple[str, str, Money]]:
    return Counter((p.account, p.side.value, p.amount) for p in postings)


def verify_book(transactions: Iterable[Transaction]) -> BookCheck:
    """Check every transaction balances, reversals pair up, and the whole book balances per currency."""
    check = BookCheck()
    reversed_ids: dict[UUID, UUID | None] = {}
    reversals: dict[UUID, Transaction] = {}
    originals: dict[UUID, Transaction] = {}
    for tx in transactions:
        check.transactions += 1
        off = imbalances(tx.postings)
        if off:
            check.problems.append(f"{tx.id}: unbalanced {dict(off)}")
        if tx.status.counts:
            for p in tx.postings:
                target = check.debits if p.signed.is_positive else check.credits
                target[p.amount.currency.code] += p.amount.amount
        if tx.status is TransactionStatus.REVERSED:
            reversed_ids[tx.id] = tx.reversed_by_id
            originals[tx.id] = tx
        if tx.type is TransactionType.REVERSAL:
            reversals[tx.id] = tx
    for original_id, reversal_id in reversed_ids.items():
        reversal = reversals.get(reversal_id) if reversal_id else None
        if reversal is None or reversal.reverses_id != original_id:
            check.problems.append(f"{original_id}: reversed without its compensating transaction")
        elif _legs(p.mirrored() for p in originals[original_id].postings) != _legs(reversal.postings):
            check.problems.append(f"{original_id}: the reversal does not mirror the original")
    for reversal in reversals.values():
        if reversal.reverses_id not in reversed_ids:
            check.problems.append(f"{reversal.id}: reverses a transaction that is not marked reversed")
    for code in set(check.debits) | set(check.credits):
        if check.debits[code] != check.credits[code]:
            check.problems.append(f"book unbalanced in {code}")
    return check
