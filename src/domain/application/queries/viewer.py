"""Who is asking, as the read side needs it: the caller's internal id and role."""

from __future__ import annotations

from dataclasses import dataclass

from domain.identity.model import Role


@dataclass(frozen=True, slots=True)
class Viewer:
    """The caller as the read side needs it: internal id and role (from the access token)."""

    user_id: int
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_agent(self) -> bool:
        return self.role is Role.AGENT

    @property
    def is_staff_side(self) -> bool:
        """Agents and admins: they see the seller's figures (cost, earnings)."""
        return self.role in (Role.AGENT, Role.ADMIN)
