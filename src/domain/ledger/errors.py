"""The ledger's errors: an unbalanced transaction, a status change refused."""

from __future__ import annotations

from domain.shared.errors import InvalidInput, RuleViolated


class UnbalancedTransaction(InvalidInput):
    """Debits and credits of a transaction differ in some currency."""

    code = "unbalanced_transaction"


class TransactionStateError(RuleViolated):
    """A ledger transaction cannot change from its current status to the one asked for."""

    code = "transaction_state"
