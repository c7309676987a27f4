"""Who may see and act on what: the one statement of the book's visibility rule.

An admin sees every credit; an agent, the credits assigned to them; a client, their own. What a caller
may not see does not exist for them (404, never 403); a role that may see but not act gets 403. Use
cases call these under their row lock; read queries express the same rule as a SQL filter and are
tested against `may_see`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.identity.model import Principal, Role
from domain.shared.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Holding:
    """Whose a credit is: its client and its assigned agent (None while unassigned)."""

    client_id: int
    agent_id: int | None


class Caller(Protocol):
    """Who asks, as the rule needs it: a Principal (use cases) or a read-side Viewer."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> Role: ...


def may_see(viewer: Caller, holding: Holding) -> bool:
    if viewer.role is Role.ADMIN:
        return True
    if viewer.role is Role.AGENT:
        return holding.agent_id == viewer.user_id
    return holding.client_id == viewer.user_id


def require_visible(viewer: Principal, holding: Holding | None, what: str) -> Holding:
    """The holding when the viewer may see it; otherwise the thing is 'not found' for them."""
    if holding is None or not may_see(viewer, holding):
        raise NotFound(f"No such {what}.")
    return holding


def require_role(viewer: Principal, *roles: Role) -> None:
    if viewer.role not in roles:
        raise Forbidden("Your role does not allow this operation.")
