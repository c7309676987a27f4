"""What the identity services need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol
from uuid import UUID

from domain.identity.model import Principal, RefreshToken, Role


class CredentialChecker(Protocol):
    def verify(self, username: str, password: str) -> Principal | None:
        """The principal when the password is right and the user active, else None.

        Implementations must take the same time for an unknown user as for a wrong password.
        """


class PrincipalDirectory(Protocol):
    def active_principal(self, user_id: int) -> Principal | None:
        """The current principal of an active user (role may have changed), else None."""


class AccessTokenCodec(Protocol):
    def encode(self, claims: dict[str, object]) -> str: ...

    def decode(self, token: str) -> dict[str, object]:
        """Verified claims; raises domain Unauthorized on any defect (signature, alg, exp, aud...)."""


class RefreshTokenStore(Protocol):
    def add(self, token: RefreshToken) -> None: ...

    def get_for_update(self, token_hash: str) -> RefreshToken | None: ...

    def save(self, token: RefreshToken) -> None: ...

    def revoke_family(self, family_id: UUID, now: datetime) -> int: ...


class AttemptCounter(Protocol):
    def count(self, key: str) -> int:
        """Failures recorded under key in the current window."""

    def hit(self, key: str, window_seconds: int) -> int:
        """Record a failure; returns the new count. The window starts at the first failure."""

    def retry_after(self, key: str) -> int:
        """Seconds until the key's window ends (at least 1)."""

    def reset(self, key: str) -> None: ...


class Transactional(Protocol):
    def __enter__(self) -> object: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None, /
    ) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class Person:
    """A user as a use case needs to know them: internal id, role, whether they may still act."""

    id: int
    role: Role
    is_active: bool


class PeopleDirectory(Protocol):
    def person(self, public_id: UUID) -> Person | None:
        """The user with this public id, active or not; None when there is none."""
