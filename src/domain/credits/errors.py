"""The credits context's errors: state transitions refused, money on a credit that takes none, terms refused."""

from __future__ import annotations

from domain.shared.errors import InvalidInput, RuleViolated


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
