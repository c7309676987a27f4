"""Login, refresh rotation, logout and access-token authentication."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.identity.errors import Throttled, Unauthorized
from domain.identity.model import (
    Principal,
    RefreshOutcome,
    RefreshToken,
    TokenPolicy,
    access_claims,
    hash_refresh_token,
    judge_refresh,
    principal_from_claims,
)
from domain.identity.ports import (
    AccessTokenCodec,
    AttemptCounter,
    CredentialChecker,
    PrincipalDirectory,
    RefreshTokenStore,
    Transactional,
)

# One message for unknown user and wrong password: the API must not reveal which usernames exist.
BAD_CREDENTIALS = "Invalid username or password."
BAD_REFRESH = "Invalid or expired refresh token."


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    principal: Principal


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window_seconds: int
    per_username: int
    per_address: int


class AuthService:
    def __init__(
        self,
        *,
        credentials: CredentialChecker,
        directory: PrincipalDirectory,
        codec: AccessTokenCodec,
        refresh_tokens: RefreshTokenStore,
        attempts: AttemptCounter,
        transaction: Callable[[], Transactional],
        clock: Callable[[], datetime],
        policy: TokenPolicy,
        throttle: ThrottlePolicy,
        new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(32),
    ) -> None:
        self._credentials = credentials
        self._directory = directory
        self._codec = codec
        self._refresh_tokens = refresh_tokens
        self._attempts = attempts
        self._transaction = transaction
        self._clock = clock
        self._policy = policy
        self._throttle = throttle
        self._new_secret = new_secret

    # --- login ------------------------------------------------------------------------------------
    def login(self, username: str, password: str, address: str) -> TokenPair:
        user_key = f"login:user:{username.strip().lower()}"
        address_key = f"login:addr:{address}"
        for key, limit in (
            (user_key, self._throttle.per_username),
            (address_key, self._throttle.per_address),
        ):
            if self._attempts.count(key) >= limit:
                raise Throttled(
                    "Too many login attempts; try again later.", retry_after=self._attempts.retry_after(key)
                )
        principal = self._credentials.verify(username, password)
        if principal is None:
            self._attempts.hit(user_key, self._throttle.window_seconds)
            self._attempts.hit(address_key, self._throttle.window_seconds)
            raise Unauthorized(BAD_CREDENTIALS)
        self._attempts.reset(user_key)
        with self._transaction():
            return self._issue(principal, family_id=uuid.uuid4())

    # --- refresh rotation ----------------------------------------------------------------------
    def refresh(self, raw_refresh_token: str) -> TokenPair:
        now = self._clock()
        family_revoked = False
        with self._transaction():
            token = self._refresh_tokens.get_for_update(hash_refresh_token(raw_refresh_token))
            if token is None:
                raise Unauthorized(BAD_REFRESH)
            outcome = judge_refresh(token, now)
            if outcome is RefreshOutcome.ROTATE:
                principal = self._directory.active_principal(token.user_id)
                if principal is not None:
                    self._refresh_tokens.save(token.mark_used(now))
                    return self._issue(principal, family_id=token.family_id)
            if outcome in (RefreshOutcome.ROTATE, RefreshOutcome.REUSED):
                # A reused token means it leaked; a deactivated user keeps no session either.
                self._refresh_tokens.revoke_family(token.family_id, now)
                family_revoked = True
        # Raised after the block so that the revocation above is committed, not rolled back.
        raise Unauthorized(BAD_REFRESH, details={"family_revoked": True} if family_revoked else {})

    def logout(self, raw_refresh_token: str) -> None:
        """Revoke the token's whole family. Unknown tokens are ignored: logout always succeeds."""
        now = self._clock()
        with self._transaction():
            token = self._refresh_tokens.get_for_update(hash_refresh_token(raw_refresh_token))
            if token is not None:
                self._refresh_tokens.revoke_family(token.family_id, now)

    # --- access tokens --------------------------------------------------------------------------
    def authenticate(self, access_token: str) -> Principal:
        """Stateless check of an access token: no database round trip on the hot path."""
        claims = self._codec.decode(access_token)
        try:
            return principal_from_claims(claims)
        except (KeyError, ValueError) as exc:
            raise Unauthorized("Malformed access token.") from exc

    def _issue(self, principal: Principal, *, family_id: uuid.UUID) -> TokenPair:
        now = self._clock()
        raw = self._new_secret()
        self._refresh_tokens.add(
            RefreshToken(
                token_hash=hash_refresh_token(raw),
                family_id=family_id,
                user_id=principal.user_id,
                issued_at=now,
                expires_at=now + self._policy.refresh_ttl,
            )
        )
        claims = access_claims(principal, now=now, policy=self._policy, jti=uuid.uuid4().hex)
        return TokenPair(
            access_token=self._codec.encode(claims),
            refresh_token=raw,
            expires_in=int(self._policy.access_ttl.total_seconds()),
            principal=principal,
        )
