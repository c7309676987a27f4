"""Principals, roles and the rules of access and refresh tokens (no crypto library here)."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID


class Role(enum.StrEnum):
    CLIENT = "client"
    AGENT = "agent"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user's public id, internal id and role, as carried by an access token."""

    public_id: UUID
    user_id: int
    role: Role
    username: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_agent(self) -> bool:
        return self.role is Role.AGENT


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    audience: str
    issuer: str
    access_ttl: timedelta
    refresh_ttl: timedelta


def access_claims(principal: Principal, *, now: datetime, policy: TokenPolicy, jti: str) -> dict[str, object]:
    """The claims of a short-lived access token. `exp`, `iat`, `sub` and `aud` are always present."""
    issued = int(now.timestamp())
    return {
        "sub": str(principal.public_id),
        "uid": principal.user_id,
        "role": principal.role.value,
        "name": principal.username,
        "aud": policy.audience,
        "iss": policy.issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(policy.access_ttl.total_seconds()),
        "jti": jti,
    }


def principal_from_claims(claims: dict[str, object]) -> Principal:
    """Rebuild the principal from verified claims; malformed claims raise ValueError."""
    role = Role(str(claims["role"]))
    uid = claims["uid"]
    if not isinstance(uid, int) or isinstance(uid, bool):
        raise ValueError("uid claim must be an integer")
    return Principal(public_id=UUID(str(claims["sub"])), user_id=uid, role=role, username=str(claims.get("name", "")))


def hash_refresh_token(raw: str) -> str:
    """Refresh tokens are opaque random strings; only their SHA-256 is stored.

    A fast hash is right here (unlike passwords): the token has 256 bits of entropy.
    """
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token of a rotation family. Each works once; a reused one revokes the family."""

    token_hash: str
    family_id: UUID
    user_id: int
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def mark_used(self, now: datetime) -> RefreshToken:
        return replace(self, used_at=now)


class RefreshOutcome(enum.Enum):
    ROTATE = "rotate"
    REUSED = "reused"  # a spent token came back: assume theft, revoke the family
    REVOKED = "revoked"
    EXPIRED = "expired"


def judge_refresh(token: RefreshToken, now: datetime) -> RefreshOutcome:
    """Decide what a presented refresh token allows. Order matters: revoked beats reuse beats expiry."""
    if token.revoked_at is not None:
        return RefreshOutcome.REVOKED
    if token.used_at is not None:
        return RefreshOutcome.REUSED
    if token.is_expired(now):
        return RefreshOutcome.EXPIRED
    return RefreshOutcome.ROTATE
