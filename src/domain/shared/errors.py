"""The base of the domain's error tree, and the errors every context shares (money's).

Each context's own errors live beside it (`domain/<context>/errors.py`) and derive from these; the
API maps the base classes to HTTP statuses in one table."""

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


class Forbidden(DomainError):
    """The caller is known but its role does not allow the operation."""

    code = "forbidden"


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


# --- Shared by contexts ------------------------------------------------------------------------


class WaiverRefused(RuleViolated):
    """A waiver larger than the late fee still owed (the credit refuses), or decided twice (the
    waiver refuses): raised by two contexts, so it lives here."""

    code = "waiver_refused"
