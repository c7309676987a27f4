"""Credit figures (the analytics read model's rows) straight from SQL, and per-user summaries.

`SqlCreditFigures` answers the domain port `analytics.ports.CreditFiguresQuery`: one statement
aggregates every credit's installments into total, paid, pending, overdue, next due and the live
days past due, so a summary is one query whatever the number of credits, and the domain's
`summarize_user` folds the rows (money per currency, never summed across currencies).
The figures follow `domain.application.figures.credit_figures` (its contract is tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from adapters.db.routing import read_cursor
from adapters.queries.common import money
from adapters.sql.rules import days_past_due_sql, due_sql, oldest_past_due_sql, outstanding_sql, paid_sql
from domain.analytics.model import OPEN_STATES, CreditFigures, CreditSummary, summarize_user
from domain.credits.delinquency import DelinquencyPolicy

# `{credits}` selects the credits (id, user_id, agent_id, state, currency) to aggregate; the
# installment join then reads each credit's rows through its (credit_id, number) unique index.
_FIGURES_SQL = f"""
SELECT c.id, c.user_id, c.agent_id, c.state, c.currency,
       sum({due_sql("i")}) AS total,
       sum({paid_sql("i")}) AS paid,
       sum({outstanding_sql("i")}) AS outstanding,
       sum({outstanding_sql("i")}) FILTER (WHERE i.due_date < %s) AS overdue,
       (array_agg(i.due_date ORDER BY i.number) FILTER (WHERE NOT i.is_settled))[1] AS next_due_date,
       (array_agg({outstanding_sql("i")} ORDER BY i.number) FILTER (WHERE NOT i.is_settled))[1] AS next_due_amount,
       {days_past_due_sql(oldest_past_due_sql("%s"), "%s")} AS days_past_due
FROM ({{credits}}) c
JOIN credits_installment i ON i.credit_id = c.id
GROUP BY c.id, c.user_id, c.agent_id, c.state, c.currency
ORDER BY c.id
"""
_CREDIT_COLUMNS = "SELECT id, user_id, agent_id, state, currency FROM credits_credit"


class SqlCreditFigures:
    """The analytics `CreditFiguresQuery` port on PostgreSQL."""

    def __init__(self, policy: DelinquencyPolicy) -> None:
        self._policy = policy

    def for_user(self, user_id: int, as_of: date) -> list[CreditFigures]:
        return self._run(f"{_CREDIT_COLUMNS} WHERE user_id = %s", [user_id], as_of)

    def for_users(self, user_ids: list[int], as_of: date) -> list[CreditFigures]:
        """Several users' credits in one statement (a page of clients: no query per client)."""
        return self._run(f"{_CREDIT_COLUMNS} WHERE user_id = ANY(%s)", [user_ids], as_of)

    def chunk(self, *, after: UUID | None, limit: int, as_of: date) -> list[CreditFigures]:
        """Credits in id order after `after` (keyset on the primary key: constant cost at any depth)."""
        if after is None:
            return self._run(f"{_CREDIT_COLUMNS} ORDER BY id LIMIT %s", [limit], as_of)
        return self._run(f"{_CREDIT_COLUMNS} WHERE id > %s ORDER BY id LIMIT %s", [after, limit], as_of)

    def count(self) -> int:
        with read_cursor() as cursor:
            cursor.execute("SELECT count(*) FROM credits_credit")
            return int(cursor.fetchone()[0])

    def _run(self, credits_sql: str, params: list[object], as_of: date) -> list[CreditFigures]:
        with read_cursor() as cursor:
            cursor.execute(_FIGURES_SQL.format(credits=credits_sql), [as_of, as_of, as_of, *params])
            return [self._figures(row, as_of) for row in cursor.fetchall()]

    def _figures(self, row: Sequence[Any], as_of: date) -> CreditFigures:
        (cid, user_id, agent_id, state, code, total, paid, outstanding, overdue, next_date, next_amount, dpd) = row
        is_open = state in OPEN_STATES
        days = int(dpd) if is_open else 0
        return CreditFigures(
            credit_id=cid,
            user_id=user_id,
            agent_id=agent_id,
            state=state,
            total=money(total, code),
            paid=money(paid, code),
            pending=money(outstanding if is_open else None, code),
            overdue=money(overdue if is_open else None, code),
            next_due_date=next_date if is_open else None,
            next_due_amount=money(next_amount, code) if is_open and next_date is not None else None,
            days_past_due=days,
            is_in_default=is_open and self._policy.is_in_default(days),
        )


class SummaryQueries:
    """Per-user credit summaries: the caller's own, or a client's as an agent or admin sees it."""

    def __init__(self, figures: SqlCreditFigures) -> None:
        self._figures = figures

    def of_user(self, user_id: int, *, as_of: date) -> CreditSummary:
        return summarize_user(user_id, self._figures.for_user(user_id, as_of))

    def user_id_of(self, public_id: UUID) -> int | None:
        with read_cursor() as cursor:
            cursor.execute("SELECT id FROM identity_user WHERE public_id = %s", [public_id])
            row = cursor.fetchone()
        return row[0] if row is not None else None

    def figures_of(self, user_id: int, *, as_of: date) -> list[CreditFigures]:
        return self._figures.for_user(user_id, as_of)
