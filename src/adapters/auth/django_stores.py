"""Django-backed implementations of the identity ports."""

from __future__ import annotations

import math
import time
from datetime import datetime
from uuid import UUID

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache

from adapters.orm.identity.models import RefreshTokenRecord, User
from domain.identity.model import Principal, RefreshToken, Role


def _principal(user: User) -> Principal:
    return Principal(public_id=user.public_id, user_id=user.pk, role=Role(user.role), username=user.username)


class DjangoCredentialChecker:
    # A real argon2 hash of a random string, computed once: checking against it costs the same as a
    # real check, so an unknown username is not revealed by a faster answer.
    _dummy_hash: str | None = None

    def verify(self, username: str, password: str) -> Principal | None:
        user = (
            User.objects.filter(username=username)
            .only("id", "password", "is_active", "role", "public_id", "username")
            .first()
        )
        if user is None:
            if DjangoCredentialChecker._dummy_hash is None:
                DjangoCredentialChecker._dummy_hash = make_password("timing-equaliser")
            check_password(password, DjangoCredentialChecker._dummy_hash)
            return None
        # check_password also upgrades an old hash (e.g. PBKDF2 -> argon2) on success.
        if not user.check_password(password) or not user.is_active:
            return None
        return _principal(user)


class DjangoPrincipalDirectory:
    def active_principal(self, user_id: int) -> Principal | None:
        user = User.objects.filter(pk=user_id, is_active=True).only("id", "role", "public_id", "username").first()
        return _principal(user) if user else None


def _to_domain(row: RefreshTokenRecord) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash,
        family_id=row.family_id,
        user_id=row.user_id,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


class DjangoRefreshTokenStore:
    def add(self, token: RefreshToken) -> None:
        RefreshTokenRecord.objects.create(
            token_hash=token.token_hash,
            family_id=token.family_id,
            user_id=token.user_id,
            issued_at=token.issued_at,
            expires_at=token.expires_at,
        )

    def get_for_update(self, token_hash: str) -> RefreshToken | None:
        # The row lock makes two concurrent refreshes of one token see each other: one rotates,
        # the other sees it used and revokes the family.
        row = RefreshTokenRecord.objects.select_for_update().filter(token_hash=token_hash).first()
        return _to_domain(row) if row else None

    def save(self, token: RefreshToken) -> None:
        RefreshTokenRecord.objects.filter(token_hash=token.token_hash).update(
            used_at=token.used_at, revoked_at=token.revoked_at
        )

    def revoke_family(self, family_id: UUID, now: datetime) -> int:
        return RefreshTokenRecord.objects.filter(family_id=family_id, revoked_at__isnull=True).update(revoked_at=now)


class CacheAttemptCounter:
    """Fixed-window failure counters in the shared cache (Redis in production).

    With Redis down the cache fails open, and so does throttling: logins keep working.
    """

    def count(self, key: str) -> int:
        return int(cache.get(key, 0) or 0)

    def hit(self, key: str, window_seconds: int) -> int:
        if cache.add(key, 1, timeout=window_seconds):
            cache.set(f"{key}:until", time.time() + window_seconds, timeout=window_seconds)
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # the window ended between add and incr
            cache.add(key, 1, timeout=window_seconds)
            cache.set(f"{key}:until", time.time() + window_seconds, timeout=window_seconds)
            return 1

    def retry_after(self, key: str) -> int:
        until = cache.get(f"{key}:until")
        if until is None:
            return 1
        return max(1, math.ceil(float(until) - time.time()))

    def reset(self, key: str) -> None:
        cache.delete_many([key, f"{key}:until"])
