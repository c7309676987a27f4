"""The chart of accounts: account names are strings, built only here.

- `receivable:<credit id>`: what one client owes on one credit (principal, interest, fees,
  adjustments). Its balance equals the credit's `pending`, which the book check can re-verify.
- `cash:<payment account id>`: a cash box, bank account or wallet of the catalog.
- `funding:disbursed`: the value handed over when a credit is disbursed (cash lent or goods sold).
- `income:interest`: schedule interest, recognised when the credit is disbursed (the seed's
  flat-markup view: the interest is part of what the client owes from day one).
- `income:late_fees`, `expense:fee_waivers`, `expense:write_offs`, `income:adjustments`
  (signed: a negative adjustment debits it).
- `clearing:refinance`: moves an old credit's balance into the new one.
- `income:other`, `expense:other`: income and expenses not tied to a credit.
- `applied:<credit id>:<installment number>:<component>`: the payments sub-ledger of a
  reprocessing. A reallocation credits the (installment, component) that payments now pay more of
  and debits what they pay less of; the receivable is untouched (the money stays on the credit),
  and the legs of one reallocation net to zero.
"""

from __future__ import annotations

from uuid import UUID

FUNDING = "funding:disbursed"
INTEREST_INCOME = "income:interest"
LATE_FEE_INCOME = "income:late_fees"
FEE_WAIVERS = "expense:fee_waivers"
WRITE_OFFS = "expense:write_offs"
ADJUSTMENTS = "income:adjustments"
REFINANCE_CLEARING = "clearing:refinance"
OTHER_INCOME = "income:other"
OTHER_EXPENSE = "expense:other"

RECEIVABLE_PREFIX = "receivable:"
APPLIED_PREFIX = "applied:"
CASH_PREFIX = "cash:"


def receivable(credit_id: UUID) -> str:
    return f"{RECEIVABLE_PREFIX}{credit_id}"


def cash(payment_account_id: int) -> str:
    return f"{CASH_PREFIX}{payment_account_id}"


def applied(credit_id: UUID, installment_number: int, component: str) -> str:
    return f"{APPLIED_PREFIX}{credit_id}:{installment_number}:{component}"
