"""A user's credit summary, and who may read whose: the query use case behind
GET /me/credit-summary and GET /users/{id}/credit-summary."""

from __future__ import annotations

from datetime import date
from typing import Protocol
from uuid import UUID

from domain.analytics.model import CreditFigures, CreditSummary, summarize_user
from domain.application.access import Holding, may_see
from domain.application.queries.viewer import Viewer
from domain.identity.model import Role


class SummaryReads(Protocol):
    def of_user(self, user_id: int, *, as_of: date) -> CreditSummary: ...

    def user_id_of(self, public_id: UUID) -> int | None: ...

    def figures_of(self, user_id: int, *, as_of: date) -> list[CreditFigures]: ...


def summary_of(reads: SummaryReads, viewer: Viewer, public_id: UUID, *, as_of: date) -> CreditSummary | None:
    """None when the user does not exist or `viewer` may not see it: anyone sees themselves, an admin
    anyone, an agent a client with at least one credit it may see (then the client's whole summary)."""
    user_id = reads.user_id_of(public_id)
    if user_id is None:
        return None
    if viewer.role is Role.CLIENT and user_id != viewer.user_id:
        return None  # what may_see answers below, without reading the figures
    figures = reads.figures_of(user_id, as_of=as_of)
    seen = user_id == viewer.user_id or viewer.role is Role.ADMIN
    if not seen and not any(may_see(viewer, Holding(client_id=user_id, agent_id=f.agent_id)) for f in figures):
        return None
    return summarize_user(user_id, figures)
