"""The payments context's errors: overpayment, reversal twice, an idempotency key reused, waivers refused."""

from __future__ import annotations

from domain.shared.errors import Conflict, RuleViolated


class OverpaymentRefused(RuleViolated):
    """The payment is more than what is due now (and prepayment was not asked) or than the balance."""

    code = "overpayment_refused"


class PaymentAlreadyReversed(Conflict):
    code = "payment_already_reversed"


class IdempotencyKeyReused(Conflict):
    """The same idempotency key was used before with a different payment."""

    code = "idempotency_key_reused"
