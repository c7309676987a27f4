"""Ledger transactions: every money movement, as balanced double-entry postings.

A Transaction has a type, a status, a source, the client (`user_id`) and agent it concerns, a
business date (`occurred_on`, the partition key) and the time it was recorded. Its postings
balance per currency: for each currency, debits equal credits. Amounts on postings are positive;
the side says which way they go.

Statuses: pending → confirmed | failed; confirmed → reversed. Balances count confirmed and
reversed transactions (a reversed one did happen; its compensating REVERSAL transaction, itself
confirmed, cancels it), never pending or failed ones. Nothing is edited or deleted: a reversal is
a new transaction with every posting's side swapped, and the original only changes status.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from domain.ledger.errors import TransactionStateError, UnbalancedTransaction
from domain.shared.errors import InvalidInput
from domain.shared.money import Money


class TransactionType(enum.StrEnum):
    DISBURSEMENT = "disbursement"
    REPAYMENT = "repayment"
    LATE_FEE = "late_fee"
    FEE_WAIVER = "fee_waiver"
    ADJUSTMENT = "adjustment"
    WRITE_OFF = "write_off"
    REFINANCE = "refinance"
    REVERSAL = "reversal"
    # A reprocessing (reversal or backdated payment): payments moved between installments and
    # components, and late fees the replayed history did not owe taken back.
    REALLOCATION = "reallocation"
    INCOME = "income"
    EXPENSE = "expense"


class TransactionStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    REVERSED = "reversed"

    @property
    def counts(self) -> bool:
        """Whether postings of a transaction in this status count in balances."""
        return self in (TransactionStatus.CONFIRMED, TransactionStatus.REVERSED)


class Source(enum.StrEnum):
    WEB = "web"
    MOBILE = "mobile"
    ADMIN = "admin"
    IMPORT = "import"
    # Bookings no person made (the nightly late-fee job); not in the product's list, needed here.
    SYSTEM = "system"


class Side(enum.StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    side: Side
    amount: Money

    def __post_init__(self) -> None:
        if not self.amount.is_positive:
            raise InvalidInput("A posting's amount must be positive.", details={"account": self.account})
        if not self.account:
            raise InvalidInput("A posting needs an account.")

    @property
    def signed(self) -> Money:
        """Debit positive, credit negative."""
        return self.amount if self.side is Side.DEBIT else -self.amount

    def mirrored(self) -> Posting:
        return Posting(self.account, self.side.opposite, self.amount)


def imbalances(postings: Iterable[Posting]) -> dict[str, Decimal]:
    """Per currency code, debits minus credits, for the currencies that do not balance."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for p in postings:
        sums[p.amount.currency.code] += p.signed.amount
    return {code: value for code, value in sums.items() if value}


@dataclass(slots=True)
class Transaction:
    id: UUID
    type: TransactionType
    status: TransactionStatus
    source: Source
    occurred_on: date
    recorded_at: datetime
    postings: tuple[Posting, ...]
    user_id: int | None = None
    agent_id: int | None = None
    credit_id: UUID | None = None
    # The payment, waiver, credit event... this transaction books.
    reference_id: UUID | None = None
    reverses_id: UUID | None = None
    reversed_by_id: UUID | None = None
    memo: str = ""

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedTransaction("A transaction needs at least two postings.")
        off = imbalances(self.postings)
        if off:
            raise UnbalancedTransaction("Debits and credits differ.", details={code: str(v) for code, v in off.items()})

    @property
    def amount(self) -> Money:
        """What it moves, as the transactions list shows it: the sum of its debits, in the first of
        its currencies by code (a booking has one; the list has always shown this)."""
        first = min((p.amount.currency for p in self.postings), key=lambda c: c.code)
        return sum(
            (p.amount for p in self.postings if p.side is Side.DEBIT and p.amount.currency == first),
            Money.zero(first),
        )

    def confirm(self) -> None:
        self._from(TransactionStatus.PENDING, TransactionStatus.CONFIRMED)

    def fail(self) -> None:
        self._from(TransactionStatus.PENDING, TransactionStatus.FAILED)

    def _from(self, expected: TransactionStatus, target: TransactionStatus) -> None:
        if self.status is not expected:
            raise TransactionStateError(
                f"A {self.status} transaction cannot become {target}.",
                details={"from": self.status.value, "to": target.value},
            )
        self.status = target

    def reverse(
        self,
        *,
        reversal_id: UUID,
        occurred_on: date,
        recorded_at: datetime,
        source: Source,
        agent_id: int | None = None,
        memo: str = "",
    ) -> Transaction:
        """Mark this transaction reversed and return its compensating transaction (confirmed)."""
        self._from(TransactionStatus.CONFIRMED, TransactionStatus.REVERSED)
        self.reversed_by_id = reversal_id
        return Transaction(
            id=reversal_id,
            type=TransactionType.REVERSAL,
            status=TransactionStatus.CONFIRMED,
            source=source,
            occurred_on=occurred_on,
            recorded_at=recorded_at,
            postings=tuple(p.mirrored() for p in self.postings),
            user_id=self.user_id,
            agent_id=agent_id,
            credit_id=self.credit_id,
            reference_id=self.reference_id,
            reverses_id=self.id,
            memo=memo,
        )
