"""The bookings: one function per kind of money movement, each returning a balanced Transaction.

They take ids and amounts, not the other contexts' objects, so the ledger stays independent.
`Meta` carries what every transaction records besides its postings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from domain.ledger import accounts
from domain.ledger.model import Posting, Side, Source, Transaction, TransactionStatus, TransactionType
from domain.shared.errors import InvalidInput
from domain.shared.money import Money

D, C = Side.DEBIT, Side.CREDIT


@dataclass(frozen=True, slots=True)
class Meta:
    id: UUID
    source: Source
    occurred_on: date
    recorded_at: datetime
    user_id: int | None = None
    agent_id: int | None = None
    credit_id: UUID | None = None
    reference_id: UUID | None = None
    memo: str = ""
    status: TransactionStatus = TransactionStatus.CONFIRMED


def _tx(meta: Meta, kind: TransactionType, postings: Sequence[Posting]) -> Transaction:
    return Transaction(
        id=meta.id,
        type=kind,
        status=meta.status,
        source=meta.source,
        occurred_on=meta.occurred_on,
        recorded_at=meta.recorded_at,
        postings=tuple(postings),
        user_id=meta.user_id,
        agent_id=meta.agent_id,
        credit_id=meta.credit_id,
        reference_id=meta.reference_id,
        memo=meta.memo,
    )


def _receivable(meta: Meta) -> str:
    if meta.credit_id is None:
        raise InvalidInput("This booking needs the credit it concerns.")
    return accounts.receivable(meta.credit_id)


def _legs(*legs: tuple[str, Side, Money]) -> list[Posting]:
    # Zero legs (no interest on a zero-interest credit) are left out: postings are positive.
    return [Posting(account, side, amount) for account, side, amount in legs if not amount.is_zero]


def disbursement(meta: Meta, *, principal: Money, interest: Money) -> Transaction:
    """Credit handed over: the client owes principal + interest."""
    receivable = _receivable(meta)
    return _tx(
        meta,
        TransactionType.DISBURSEMENT,
        _legs(
            (receivable, D, principal + interest),
            (accounts.FUNDING, C, principal),
            (accounts.INTEREST_INCOME, C, interest),
        ),
    )


def repayment(meta: Meta, *, lines: Sequence[tuple[int, Money]]) -> Transaction:
    """Money received through payment accounts `(account_id, amount)` reduces the receivable."""
    receivable = _receivable(meta)
    legs = [Posting(accounts.cash(account_id), D, amount) for account_id, amount in lines]
    amount = legs[0].amount
    for leg in legs[1:]:
        amount += leg.amount
    return _tx(meta, TransactionType.REPAYMENT, [*legs, Posting(receivable, C, amount)])


def late_fee(meta: Meta, *, amount: Money) -> Transaction:
    receivable = _receivable(meta)
    return _tx(meta, TransactionType.LATE_FEE, _legs((receivable, D, amount), (accounts.LATE_FEE_INCOME, C, amount)))


def fee_waiver(meta: Meta, *, amount: Money) -> Transaction:
    receivable = _receivable(meta)
    return _tx(meta, TransactionType.FEE_WAIVER, _legs((accounts.FEE_WAIVERS, D, amount), (receivable, C, amount)))


def adjustment(meta: Meta, *, amount: Money) -> Transaction:
    """Signed: a positive adjustment raises what the client owes, a negative one lowers it."""
    receivable = _receivable(meta)
    if amount.is_positive:
        legs = _legs((receivable, D, amount), (accounts.ADJUSTMENTS, C, amount))
    else:
        legs = _legs((accounts.ADJUSTMENTS, D, -amount), (receivable, C, -amount))
    return _tx(meta, TransactionType.ADJUSTMENT, legs)


def reallocation(meta: Meta, *, moves: Sequence[tuple[int, str, Money]], fees_taken_back: Money) -> Transaction:
    """A reprocessing booked: `moves` are `(installment number, component, signed change)` of what
    the credit's payments paid (they add up to zero: no money came or went); `fees_taken_back` are
    late fees the replayed history did not owe, taken off the receivable and out of fee income.
    """
    credit_id = meta.credit_id
    if credit_id is None:
        raise InvalidInput("This booking needs the credit it concerns.")
    legs = [
        Posting(accounts.applied(credit_id, number, component), C if change.is_positive else D, abs(change))
        for number, component, change in moves
        if not change.is_zero
    ]
    legs += _legs((accounts.LATE_FEE_INCOME, D, fees_taken_back), (_receivable(meta), C, fees_taken_back))
    return _tx(meta, TransactionType.REALLOCATION, legs)


def write_off(meta: Meta, *, amount: Money) -> Transaction:
    receivable = _receivable(meta)
    return _tx(meta, TransactionType.WRITE_OFF, _legs((accounts.WRITE_OFFS, D, amount), (receivable, C, amount)))


def refinance(
    meta: Meta, *, new_credit_id: UUID, carried: Money, unearned_interest: Money, new_interest: Money
) -> Transaction:
    """Close the old credit's receivable (`meta.credit_id`) in full into a new credit's.

    The old receivable held the whole old schedule's interest (recognised at disbursement); the part
    not earned by the refinance date (`unearned_interest`) is not carried: it is reversed from
    interest income, so the old receivable reaches 0 and income is not overstated. The new
    credit's principal is `carried`; its schedule's interest is income.
    """
    old = _receivable(meta)
    new = accounts.receivable(new_credit_id)
    return _tx(
        meta,
        TransactionType.REFINANCE,
        _legs(
            (accounts.REFINANCE_CLEARING, D, carried),
            (accounts.INTEREST_INCOME, D, unearned_interest),
            (old, C, carried + unearned_interest),
            (new, D, carried + new_interest),
            (accounts.REFINANCE_CLEARING, C, carried),
            (accounts.INTEREST_INCOME, C, new_interest),
        ),
    )


def income(meta: Meta, *, cash_account_id: int, amount: Money, account: str = accounts.OTHER_INCOME) -> Transaction:
    return _tx(meta, TransactionType.INCOME, _legs((accounts.cash(cash_account_id), D, amount), (account, C, amount)))


def expense(meta: Meta, *, cash_account_id: int, amount: Money, account: str = accounts.OTHER_EXPENSE) -> Transaction:
    return _tx(
        meta,
        TransactionType.EXPENSE,
        _legs((account, D, amount), (accounts.cash(cash_account_id), C, amount)),
    )
