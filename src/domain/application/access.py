"""Who may see and act on what: the one statement of the book's visibility rule.

An admin sees every credit; an agent, the credits assigned to them; a client, their own. What a caller
may not see does not exist for them (404, never 403); a role that may see but not act gets 403. Use
cases call these under their row lock; read queries express the same rule as a SQL filter and are
tested against `may_see`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from domain.identity.model import Principal, Role
from domain.shared.errors import Forbidden, NotFound

Id = TypeVar("Id", int, str)


@dataclass(frozen=True, slots=True)
class Holding(Generic[Id]):
    """Whose a credit is: its client and its assigned agent (None while unassigned), by internal ids
    (int) or, where only the published ones are at hand (a cached answer), by public ids as text."""

    client_id: Id
    agent_id: Id | None


class Caller(Protocol):
    """Who asks, as the rule needs it: a Principal (use cases) or a read-side Viewer."""

    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> Role: ...


def may_see(viewer: Caller, holding: Holding[int]) -> bool:
    return sees(viewer.role, viewer.user_id, holding)


def sees(role: Role, me: Id, holding: Holding[Id]) -> bool:
    """The rule itself, on ids of one kind: `me` is the caller's id of the kind the holding carries."""
    if role is Role.ADMIN:
        return True
    if role is Role.AGENT:
        return holding.agent_id == me
    return holding.client_id == me


def require_visible(viewer: Principal, holding: Holding[int] | None, what: str) -> Holding[int]:
    """The holding when the viewer may see it; otherwise the thing is 'not found' for them."""
    if holding is None or not may_see(viewer, holding):
        raise NotFound(f"No such {what}.")
    return holding


def require_role(viewer: Principal, *roles: Role) -> None:
    if viewer.role not in roles:
        raise Forbidden("Your role does not allow this operation.")
