"""The admin's Clients screen: clients with their credits, pending and overdue per currency.

Two statements per page whatever its length: a keyset page of clients by username (the same
query and indexes as the API's client list), then every credit's figures of those clients at
once (the read model of `/users/{id}/credit-summary`), folded per client by the domain's
`summarize_user`, so the screen and the API agree on what a client owes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from adapters.db.routing import read_cursor
from adapters.queries.clients import people_page_sql
from adapters.queries.figures import SqlCreditFigures
from domain.analytics.model import CreditFigures, CreditSummary, summarize_user
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class ClientRow:
    user_id: int
    username: str
    full_name: str
    document_id: str
    is_active: bool
    summary: CreditSummary


class ClientBook:
    def __init__(self, figures: SqlCreditFigures) -> None:
        self._figures = figures

    def page(self, *, search: str | None, page: PageRequest, as_of: date) -> Page[ClientRow]:
        sql, params = people_page_sql(
            "id, username, first_name, last_name, document_id, is_active", roles=("client",), search=search, page=page
        )
        with read_cursor() as cursor:
            cursor.execute(sql, params)
            people = cursor.fetchall()
        shown = people[: page.limit]
        credits: dict[int, list[CreditFigures]] = defaultdict(list)
        if shown:
            for figures in self._figures.for_users([p[0] for p in shown], as_of):
                credits[figures.user_id].append(figures)
        rows = [
            ClientRow(
                user_id=uid,
                username=username,
                full_name=f"{first} {last}".strip(),
                document_id=document_id,
                is_active=is_active,
                summary=summarize_user(uid, credits[uid]),
            )
            for uid, username, first, last, document_id, is_active in people
        ]
        return Page.from_rows(rows, page, lambda r: (r.username,))
