"""The write use cases, one module per subdomain; each runs in one unit of work, authorizes its
caller under the row lock and books its money movement in the ledger (skeleton: `common`).

Every function takes `ports` first and an `actor` last (or as a keyword)."""

from domain.application.use_cases.credits import (
    OpenCredit,
    OpenCreditRequest,
    Refinance,
    Refinanced,
    activate_credit,
    adjust_credit,
    cancel_credit,
    open_credit,
    open_credit_on_request,
    refinance_credit,
    write_off_credit,
)
from domain.application.use_cases.jobs import (
    JobResult,
    apply_late_fees,
    charge_late_fees,
    recompute_delinquency,
    record_delinquency_change,
)
from domain.application.use_cases.ledger import record_transactions, verify_book
from domain.application.use_cases.payments import (
    PaymentBooked,
    RegisterPayment,
    book_payment,
    register_payment,
    reverse_payment,
    undo_payment,
)
from domain.application.use_cases.waivers import (
    RequestWaiver,
    decide_fee_waiver,
    request_fee_waiver,
    waive_fee,
    waive_or_request,
)

__all__ = [
    "JobResult",
    "OpenCredit",
    "OpenCreditRequest",
    "PaymentBooked",
    "Refinance",
    "Refinanced",
    "RegisterPayment",
    "RequestWaiver",
    "activate_credit",
    "adjust_credit",
    "apply_late_fees",
    "book_payment",
    "cancel_credit",
    "charge_late_fees",
    "decide_fee_waiver",
    "open_credit",
    "open_credit_on_request",
    "recompute_delinquency",
    "record_delinquency_change",
    "record_transactions",
    "refinance_credit",
    "register_payment",
    "request_fee_waiver",
    "reverse_payment",
    "undo_payment",
    "verify_book",
    "waive_fee",
    "waive_or_request",
    "write_off_credit",
]
