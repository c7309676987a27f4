"""Read side of the audit trail: the admin's keyset list, newest first, with filters.

Read on the primary, not a replica: an admin checking what just happened must see it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection

from adapters.queries.common import money, page_limit
from domain.application.queries.audit import AuditFilter, AuditItem
from domain.shared.pagination import Page, PageRequest

_SQL = """
SELECT e.id, e.at, e.event, u.public_id, u.username, e.actor_role, e.source, host(e.ip), e.user_agent,
       e.request_id, e.credit_id, e.reference_id, e.amount, e.currency, e.before, e.after, e.details
FROM audit_entry e
LEFT JOIN identity_user u ON u.id = e.actor_id
WHERE {where}
ORDER BY e.at DESC, e.id DESC
{limit}
"""


def _json(value: Any) -> Any:
    # psycopg decodes jsonb already; a text cast (some drivers) is decoded here.
    if isinstance(value, str):
        return json.loads(value)
    return value


def _item(row: Sequence[Any]) -> AuditItem:
    (
        event_id,
        at,
        event,
        actor_id,
        actor_username,
        actor_role,
        source,
        ip,
        user_agent,
        request_id,
        credit_id,
        reference_id,
        amount,
        currency,
        before,
        after,
        details,
    ) = row
    return AuditItem(
        id=event_id,
        at=at,
        event=event,
        actor_id=actor_id,
        actor_username=actor_username,
        actor_role=actor_role,
        source=source,
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
        credit_id=credit_id,
        reference_id=reference_id,
        amount=money(amount, currency) if currency else None,
        before=_json(before),
        after=_json(after),
        details=_json(details) or {},
    )


class AuditQueries:
    def list(self, filters: AuditFilter, page: PageRequest) -> Page[AuditItem]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
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
        with connection.cursor() as cursor:
            cursor.execute(_SQL.format(where=" AND ".join(where), limit=page_limit(page)), params)
            rows = [_item(row) for row in cursor.fetchall()]
        return Page.from_rows(rows, page, lambda item: (item.at, item.id))
