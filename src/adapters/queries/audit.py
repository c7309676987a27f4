"""Read side of the audit trail: the admin's keyset list, newest first, with filters.

Read on the primary, not a replica: an admin checking what just happened must see it.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from adapters.queries.common import money
from domain.application.queries.audit import AuditFilter, AuditItem
from domain.shared.pagination import Page, PageRequest

_SQL = """
SELECT e.id, e.at, e.event, u.public_id, u.username, e.actor_role, e.source, host(e.ip), e.user_agent,
       e.request_id, e.credit_id, e.reference_id, e.amount, e.currency, e.before, e.after, e.details
FROM audit_entry e
LEFT JOIN identity_user u ON u.id = e.actor_id
WHERE {where}
ORDER BY e.at DESC, e.id DESC
LIMIT %s
"""


def _json(value: Any) -> Any:
    # psycopg decodes jsonb already; a text cast (some drivers) is decoded here.
    if isinstance(value, str):
        return json.loads(value)
    return value


class AuditQueries:
    def list(self, filters: AuditFilter, page: PageRequest) -> Page[AuditItem]:
        where: list[str] = ["TRUE"]
        params: list[object] = []
        if filters.credit_id is not None:
            where.append("e.credit_id = %s")
            params.append(filters.credit_id)
        if filters.system_only:
            where.append("e.actor_id IS NULL")
        elif filters.actor is not None:
            # An unknown public id matches nothing (NULL = NULL is not true).
            where.append("e.actor_id = (SELECT id FROM identity_user WHERE public_id = %s)")
            params.append(filters.actor)
        if filters.event is not None:
            where.append("e.event = %s")
            params.append(filters.event)
        if filters.since is not None:
            where.append("e.at >= %s")
            params.append(filters.since)
        if filters.until is not None:
            where.append("e.at < %s")
            params.append(filters.until)
        if page.after is not None:
            at, last_id = page.after
            where.append("(e.at, e.id) < (%s, %s)")
            params.extend([at, last_id])
        params.append(page.limit + 1)
        with connection.cursor() as cursor:
            cursor.execute(_SQL.format(where=" AND ".join(where)), params)
            rows = [
                AuditItem(
                    *row[:12],
                    amount=money(row[12], row[13]) if row[13] else None,
                    before=_json(row[14]),
                    after=_json(row[15]),
                    details=_json(row[16]) or {},
                )
                for row in cursor.fetchall()
            ]
        return Page.from_rows(rows, page, lambda item: (item.at, item.id))
