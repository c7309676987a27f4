"""A credit's read-model row computed from the aggregate.

The SQL query adapters compute the same figures in the database; this function is the reference
their contract tests compare against, and what the in-memory fakes serve.
"""

from __future__ import annotations

from datetime import date

from domain.analytics.model import CreditFigures, DueInstallment
from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.model import Credit


def credit_figures(credit: Credit, as_of: date, policy: DelinquencyPolicy) -> CreditFigures:
    upcoming = credit.next_due() if credit.state.is_open else None
    delinquency = credit.delinquency_on(as_of, policy)
    return CreditFigures(
        credit_id=credit.id,
        user_id=credit.user_id,
        agent_id=credit.agent_id,
        state=credit.state.value,
        total=credit.total_due,
        paid=credit.total_paid,
        pending=credit.pending,
        overdue=credit.overdue(as_of) if credit.state.is_open else credit.pending,
        next_due_date=upcoming.due_date if upcoming else None,
        next_due_amount=upcoming.outstanding if upcoming else None,
        days_past_due=delinquency.days_past_due if credit.state.is_open else 0,
        is_in_default=delinquency.is_in_default if credit.state.is_open else False,
    )


def due_installments(credit: Credit, *, due_until: date) -> list[DueInstallment]:
    """The credit's unsettled installments due on or before `due_until` (an agent's work list)."""
    if not credit.state.is_open:
        return []
    return [
        DueInstallment(
            installment_id=i.id,
            credit_id=credit.id,
            user_id=credit.user_id,
            agent_id=credit.agent_id,
            number=i.number,
            due_date=i.due_date,
            outstanding=i.outstanding,
        )
        for i in credit.installments
        if not i.is_settled and i.due_date <= due_until
    ]
