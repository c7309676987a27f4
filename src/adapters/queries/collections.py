"""An agent's work lists: what its clients owe today, tomorrow, what is overdue, and everything open.

One statement per page. The page is chosen on `credits_installment` alone through the partial
index `installment_agent_due_idx (agent_id, due_date) WHERE NOT is_settled AND credit_open`
(book-wide lists for an admin use `installment_collect_due_idx (due_date)` with the same
predicate); the credit and the client's name are joined to the page's rows only.
"""

from __future__ import annotations

from datetime import date, timedelta

from adapters.db.routing import read_cursor
from adapters.queries.common import money, page_limit
from adapters.sql.rules import outstanding_sql
from domain.application.queries.collections import DueItem, WorkList
from domain.shared.pagination import Page, PageRequest

_SQL = f"""
SELECT i.id, i.credit_id, i.number, i.due_date, i.outstanding, c.currency, u.public_id, u.username,
       u.first_name, u.last_name, u.phone
FROM (
    SELECT i.id, i.credit_id, i.number, i.due_date, {outstanding_sql("i")} AS outstanding
    FROM credits_installment i
    WHERE NOT i.is_settled AND i.credit_open AND {{where}}
    ORDER BY i.due_date, i.id
    {{limit}}
) i
JOIN credits_credit c ON c.id = i.credit_id
JOIN identity_user u ON u.id = c.user_id
ORDER BY i.due_date, i.id
"""


class CollectionsQueries:
    def work_list(self, kind: WorkList, *, agent_id: int | None, today: date, page: PageRequest) -> Page[DueItem]:
        """The unsettled installments of open credits in `agent_id`'s portfolio (None: the whole
        book, for admins), oldest due date first. `today` is the business date."""
        where: list[str] = []
        params: list[object] = []
        if agent_id is not None:
            where.append("i.agent_id = %s")
            params.append(agent_id)
        if kind is WorkList.DUE_TODAY:
            where.append("i.due_date = %s")
            params.append(today)
        elif kind is WorkList.DUE_TOMORROW:
            where.append("i.due_date = %s")
            params.append(today + timedelta(days=1))
        elif kind is WorkList.OVERDUE:
            where.append("i.due_date < %s")
            params.append(today)
        if page.after is not None:
            where.append("(i.due_date, i.id) > (%s, %s)")
            params.extend(page.after)
        sql = _SQL.format(where=" AND ".join(where) or "TRUE", limit=page_limit(page))
        with read_cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        items = [
            DueItem(
                installment_id=iid,
                credit_id=cid,
                number=number,
                due_date=due,
                outstanding=money(outstanding, code),
                days_past_due=max(0, (today - due).days),
                client_id=client,
                client_username=username,
                client_name=f"{first} {last}".strip() or username,
                client_phone=phone,
            )
            for (iid, cid, number, due, outstanding, code, client, username, first, last, phone) in rows
        ]
        return Page.from_rows(items, page, lambda d: (d.due_date, d.installment_id))
