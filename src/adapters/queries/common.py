"""What every read query shares: who is asking (and so which rows it may see), money from
columns, and the SQL fragment for an installment's outstanding amount.

Scoping is part of each query's WHERE clause, never a check after the fact: a row the caller may
not see is never fetched, so a list cannot leak it and a lookup by id finds nothing (a 404).
"""

from __future__ import annotations

from decimal import Decimal

from adapters.sql.currencies import currency_of
from domain.application.queries.viewer import Viewer
from domain.identity.model import Role
from domain.shared.money import Money

# What one installment still asks for (credits.model.Installment.outstanding), as SQL on alias `i`.
OUTSTANDING_SQL = (
    "(i.principal + i.adjustment + i.interest + i.late_fee - i.late_fee_waived"
    " - i.paid_principal - i.paid_interest - i.paid_late_fee)"
)
PAID_SQL = "(i.paid_principal + i.paid_interest + i.paid_late_fee)"
# Everything ever asked of the client (credits.model.Credit.total_due): schedule, adjustments, fees.
DUE_SQL = "(i.principal + i.adjustment + i.interest + i.late_fee)"
OPEN_STATES = ("active", "defaulted")


def credit_scope(viewer: Viewer, alias: str = "c") -> tuple[str, list[object]]:
    """The WHERE fragment limiting credits (alias `alias`) to what `viewer` may see.

    A client: its own credits. An agent: its portfolio (credits.agent_id). An admin: every credit.
    """
    if viewer.role is Role.ADMIN:
        return "TRUE", []
    if viewer.role is Role.AGENT:
        return f"{alias}.agent_id = %s", [viewer.user_id]
    return f"{alias}.user_id = %s", [viewer.user_id]


def money(amount: Decimal | None, code: str) -> Money:
    """A Money from a numeric column (NULL is zero) in the currency with this code."""
    return Money(amount if amount is not None else Decimal(0), currency_of(code))
