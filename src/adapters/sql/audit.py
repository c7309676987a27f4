"""The AuditLog port on PostgreSQL: one INSERT in the caller's unit of work, so the record commits or
rolls back with the money change it records."""

from __future__ import annotations

import json

from adapters.sql import batch
from domain.application.audit import AuditRecord, Figures, valid_ip

_INSERT = """
INSERT INTO audit_entry (at, event, actor_id, actor_role, source, ip, user_agent, request_id, credit_id,
                         reference_id, amount, currency, before, after, details)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)
"""


def _figures(figures: Figures | None) -> str | None:
    return json.dumps(figures.as_strings()) if figures is not None else None


class DjangoAuditLog:
    def __init__(self, using: str = "default") -> None:
        self._using = using

    def append(self, record: AuditRecord) -> None:
        origin = record.origin
        # Deferred: it rides the unit of work's next round trip, with the money rows it records.
        batch.defer(
            _INSERT,
            [
                record.at,
                record.event.value,
                record.actor_id,
                record.actor_role[:16],
                record.source,
                valid_ip(origin.ip) if origin else None,
                origin.user_agent[:300] if origin else "",
                origin.request_id[:64] if origin else "",
                record.credit_id,
                record.reference_id,
                record.amount.amount if record.amount is not None else None,
                record.amount.currency.code if record.amount is not None else None,
                _figures(record.before),
                _figures(record.after),
                json.dumps(record.details),
            ],
            using=self._using,
        )
