"""In-memory fakes of the identity ports."""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.identity.errors import Unauthorized
from domain.identity.model import Principal, RefreshToken


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeUsers:
    """Credentials and directory in one: username -> (password, principal, active)."""

    def __init__(self) -> None:
        self.users: dict[str, tuple[str, Principal, bool]] = {}

    def add(self, principal: Principal, password: str, active: bool = True) -> None:
        self.users[principal.username] = (password, principal, active)

    def deactivate(self, username: str) -> None:
        password, principal, _ = self.users[username]
        self.users[username] = (password, principal, False)

    def verify(self, username: str, password: str) -> Principal | None:
        entry = self.users.get(username)
        if entry is None or entry[0] != password or not entry[2]:
            return None
        return entry[1]

    def active_principal(self, user_id: int) -> Principal | None:
        for _, principal, active in self.users.values():
            if principal.user_id == user_id and active:
                return principal
        return None


class FakeCodec:
    """Signs nothing: a JSON body plus a marker; enough to test the service's rules."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def encode(self, claims: dict[str, object]) -> str:
        return "fake." + json.dumps(claims)

    def decode(self, token: str) -> dict[str, object]:
        if not token.startswith("fake."):
            raise Unauthorized("Invalid access token.")
        claims = json.loads(token[5:])
        if self.clock().timestamp() >= claims["exp"]:
            raise Unauthorized("Access token expired.")
        return claims


class FakeRefreshStore:
    """Keeps committed rows; a transaction works on a copy and publishes it only on success."""

    def __init__(self) -> None:
        self.rows: dict[str, RefreshToken] = {}
        self._pending: dict[str, RefreshToken] | None = None

    @contextlib.contextmanager
    def transaction(self):  # type: ignore[no-untyped-def]
        self._pending = copy.copy(self.rows)
        try:
            yield
        except BaseException:
            self._pending = None
            raise
        self.rows, self._pending = self._pending, None

    @property
    def _work(self) -> dict[str, RefreshToken]:
        assert self._pending is not None, "store used outside a transaction"
        return self._pending

    def add(self, token: RefreshToken) -> None:
        self._work[token.token_hash] = token

    def get_for_update(self, token_hash: str) -> RefreshToken | None:
        return self._work.get(token_hash)

    def save(self, token: RefreshToken) -> None:
        self._work[token.token_hash] = token

    def revoke_family(self, family_id: UUID, now: datetime) -> int:
        hits = [t for t in self._work.values() if t.family_id == family_id and t.revoked_at is None]
        for token in hits:
            self._work[token.token_hash] = replace(token, revoked_at=now)
        return len(hits)


class FakeAttempts:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.windows: dict[str, tuple[int, datetime]] = {}

    def _live(self, key: str) -> tuple[int, datetime] | None:
        entry = self.windows.get(key)
        if entry is None or self.clock() >= entry[1]:
            self.windows.pop(key, None)
            return None
        return entry

    def count(self, key: str) -> int:
        entry = self._live(key)
        return entry[0] if entry else 0

    def hit(self, key: str, window_seconds: int) -> int:
        entry = self._live(key)
        if entry is None:
            entry = (0, self.clock() + timedelta(seconds=window_seconds))
        self.windows[key] = (entry[0] + 1, entry[1])
        return entry[0] + 1

    def retry_after(self, key: str) -> int:
        entry = self._live(key)
        return max(1, int((entry[1] - self.clock()).total_seconds())) if entry else 1

    def reset(self, key: str) -> None:
        self.windows.pop(key, None)
