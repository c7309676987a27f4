"""Reading the audit trail (admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain.shared.money import Money
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class AuditFilter:
    credit_id: UUID | None = None
    # The actor's public id; `system` for records no person made.
    actor: UUID | None = None
    system_only: bool = False
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditItem:
    id: int
    at: datetime
    event: str
    actor_id: UUID | None
    actor_username: str
    actor_role: str
    source: str
    ip: str | None
    user_agent: str
    request_id: str
    credit_id: UUID | None
    reference_id: UUID | None
    amount: Money | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any]


class AuditReads(Protocol):
    def list(self, filters: AuditFilter, page: PageRequest) -> Page[AuditItem]: ...
