"""The domain's error tree. The API maps each class to one HTTP status in one table."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    code: str = "domain_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidInput(DomainError):
    """A value the caller gave breaks a rule of form (bad amount, currency, date)."""

    code = "invalid_input"


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know it exists."""

    code = "not_found"


class RuleViolated(DomainError):
    """A business rule refuses the operation (overpayment, illegal state transition, ...)."""

    code = "rule_violated"


class Conflict(DomainError):
    """The operation clashes with the current state (version mismatch, idempotency key reuse)."""

    code = "conflict"


class Unauthorized(DomainError):
    """Credentials are missing, wrong, expired or revoked."""

    code = "unauthorized"


class Forbidden(DomainError):
    """The caller is known but its role does not allow the operation."""

    code = "forbidden"


class Throttled(DomainError):
    """Too many attempts; retry after `retry_after` seconds."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


# --- Money -------------------------------------------------------------------------------------


class FloatRefused(InvalidInput, TypeError):
    """A float reached money: binary floating point cannot hold cents exactly.

    Also a TypeError, because passing a float is a programming mistake before it is bad input.
    """

    code = "float_refused"


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


class CurrencyMismatch(InvalidInput):
    """Arithmetic or comparison across two currencies."""

    code = "currency_mismatch"


class TooPrecise(InvalidInput):
    """An amount with more decimals than its currency's minor units."""

    code = "too_precise"


class AmountTooLarge(InvalidInput):
    """An amount above the largest one the book can store with room for interest and fees."""

    code = "amount_too_large"


# --- Credit states -----------------------------------------------------------------------------


class IllegalTransition(RuleViolated):
    """A credit cannot move from its current state to the one asked for."""

    code = "illegal_transition"


class CannotActivate(IllegalTransition):
    code = "cannot_activate"


class CannotMarkPaid(IllegalTransition):
    code = "cannot_mark_paid"


class CannotReopen(IllegalTransition):
    code = "cannot_reopen"


class CannotDefault(IllegalTransition):
    code = "cannot_default"


class CannotCure(IllegalTransition):
    code = "cannot_cure"


class CannotWriteOff(IllegalTransition):
    code = "cannot_write_off"


class CannotCancel(IllegalTransition):
    code = "cannot_cancel"


class CannotRefinance(IllegalTransition):
    code = "cannot_refinance"


class CreditNotOpen(RuleViolated):
    """Money cannot move on a credit that is not active or defaulted (pending, closed...)."""

    code = "credit_not_open"


class AdjustmentRefused(RuleViolated):
    """A negative adjustment larger than what is still owed, or a zero adjustment."""

    code = "adjustment_refused"


class DatedBeforeOpening(InvalidInput):
    """Money booked on a credit with a date before the credit was opened (details: earliest_allowed)."""

    code = "dated_before_opening"


class CostAbovePrice(InvalidInput):
    """A cost above the price (negative earnings) without the request saying it is a loss-leader."""

    code = "cost_above_price"


class RateContradictsMethod(InvalidInput):
    """An annual rate the interest method cannot mean (a rate on zero interest, none on French...)."""

    code = "rate_contradicts_method"


class EmptyInstallment(InvalidInput):
    """A schedule whose rounding leaves installments of 0.00: nothing would fall due on those dates."""

    code = "empty_installment"


# --- Payments ----------------------------------------------------------------------------------


class OverpaymentRefused(RuleViolated):
    """The payment is more than what is due now (and prepayment was not asked) or than the balance."""

    code = "overpayment_refused"


class PaymentAlreadyReversed(Conflict):
    code = "payment_already_reversed"


class IdempotencyKeyReused(Conflict):
    """The same idempotency key was used before with a different payment."""

    code = "idempotency_key_reused"


class WaiverRefused(RuleViolated):
    """A waiver larger than the late fee still owed, or decided twice."""

    code = "waiver_refused"


# --- Ledger ------------------------------------------------------------------------------------


class UnbalancedTransaction(InvalidInput):
    """Debits and credits of a transaction differ in some currency."""

    code = "unbalanced_transaction"


class TransactionStateError(RuleViolated):
    """A ledger transaction cannot change from its current status to the one asked for."""

    code = "transaction_state"
