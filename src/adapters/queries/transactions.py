"""Read side of the ledger: a keyset list of transactions over a bounded date range.

`ledger_transaction` is range-partitioned by month on `occurred_on`; every statement here carries
the date range so the planner prunes to the months asked for (asserted by an EXPLAIN test). One
statement per page whatever its size: each transaction's amount is stored with it at booking
(`Transaction.amount`). A row booked without it, by code older than the column, gets its amount
from its postings in a second statement (AMOUNTS_SQL), for those rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from adapters.db.routing import read_cursor
from adapters.queries.common import Viewer, money
from domain.application.queries.transactions import TransactionFilter, TransactionItem
from domain.identity.model import Role
from domain.shared.money import Money
from domain.shared.pagination import Page, PageRequest

_PAGE_SQL = """
SELECT t.id, t.occurred_on, t.type, t.status, t.source, u.public_id, a.public_id, t.credit_id, t.reference_id,
       t.reverses_id, t.reversed_by_id, t.memo, t.recorded_at, t.amount, t.currency
FROM (
    SELECT t.id, t.occurred_on, t.type, t.status, t.source, t.user_id, t.agent_id, t.credit_id, t.reference_id,
           t.reverses_id, t.reversed_by_id, t.memo, t.recorded_at, t.amount, t.currency
    FROM ledger_transaction t
    WHERE {where}
    ORDER BY t.occurred_on DESC, t.id DESC
    LIMIT %s
) t
LEFT JOIN identity_user u ON u.id = t.user_id
LEFT JOIN identity_user a ON a.id = t.agent_id
ORDER BY t.occurred_on DESC, t.id DESC
"""

_AMOUNT, _CURRENCY = 13, 14  # where a page row carries the stored amount (NULL: booked before the column)

AMOUNTS_SQL = """
SELECT p.transaction_id, p.currency, sum(p.amount)
FROM ledger_posting p
WHERE p.occurred_on BETWEEN %s AND %s AND p.transaction_id = ANY(%s) AND p.side = 'debit'
GROUP BY p.transaction_id, p.currency
ORDER BY p.transaction_id, p.currency
"""


class TransactionQueries:
    def page_sql(self, viewer: Viewer, filters: TransactionFilter, page: PageRequest) -> tuple[str, list[object]]:
        """The page statement and its parameters (public so a test can EXPLAIN it)."""
        where = ["t.occurred_on BETWEEN %s AND %s"]
        params: list[object] = [filters.date_from, filters.date_to]
        if viewer.role is Role.CLIENT:
            where.append("t.user_id = %s")
            params.append(viewer.user_id)
        elif viewer.role is Role.AGENT:
            where.append("t.agent_id = %s")
            params.append(viewer.user_id)
        if filters.type is not None:
            where.append("t.type = %s")
            params.append(filters.type)
        if filters.status is not None:
            where.append("t.status = %s")
            params.append(filters.status)
        if filters.credit_id is not None:
            where.append("t.credit_id = %s")
            params.append(filters.credit_id)
        if page.after is not None:
            # The explicit bound on the date also prunes the months after the cursor.
            where.append("t.occurred_on <= %s AND (t.occurred_on, t.id) < (%s, %s)")
            params.extend([page.after[0], *page.after])
        # LIMIT as a parameter here, unlike the other pages (adapters.queries.common.page_limit): the
        # custom plans prune the months at planning and look cheaper than a generic plan over every
        # month, so with a literal LIMIT PostgreSQL plans this page anew each time; with `$n` it
        # keeps the generic plan (pg_prepared_statements at level 1: 55 generic of 60 against 0).
        return _PAGE_SQL.format(where=" AND ".join(where)), [*params, page.limit + 1]

    def list_transactions(self, viewer: Viewer, filters: TransactionFilter, page: PageRequest) -> Page[TransactionItem]:
        sql, params = self.page_sql(viewer, filters, page)
        with read_cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            amounts: dict[UUID, Money] = {
                row[0]: money(row[_AMOUNT], row[_CURRENCY]) for row in rows if row[_AMOUNT] is not None
            }
            unstored = [row for row in rows if row[_AMOUNT] is None]
            if unstored:
                dates = [r[1] for r in unstored]
                cursor.execute(AMOUNTS_SQL, [min(dates), max(dates), [r[0] for r in unstored]])
                for tid, code, total in cursor.fetchall():
                    amounts.setdefault(tid, money(total, code))  # first currency; bookings have one
        items = [_item(row, amounts.get(row[0])) for row in rows]
        return Page.from_rows(items, page, lambda t: (t.occurred_on, t.id))


def _item(row: Sequence[Any], amount: Money | None) -> TransactionItem:
    header = row[:_AMOUNT]  # the stored amount has been read into `amount`
    (tid, occurred_on, kind, status, source, user, agent, credit, ref, reverses, reversed_by, memo, recorded) = header
    return TransactionItem(
        id=tid,
        occurred_on=occurred_on,
        type=kind,
        status=status,
        source=source,
        user_id=user,
        agent_id=agent,
        credit_id=credit,
        reference_id=ref,
        reverses_id=reverses,
        reversed_by_id=reversed_by,
        memo=memo,
        recorded_at=recorded,
        amount=amount,
    )
