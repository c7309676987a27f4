"""Access tokens with pyjwt: one explicit algorithm, and exp/iat/nbf/sub/aud/iss all required.

Verified tokens are remembered per process (the exact token string, up to `cache_size` of them): a
client sends the same access token with every request for its lifetime, and checking its signature
and claims again each time cost about a tenth of a cached read's CPU. A remembered token is still
refused once it expires; only tokens that passed the full check are ever remembered, so a forged or
altered token never matches one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from domain.identity.errors import Unauthorized


class JwtCodec:
    def __init__(
        self,
        *,
        key: str,
        algorithm: str,
        audience: str,
        issuer: str,
        leeway_seconds: int = 5,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm.lower() == "none":
            raise ValueError("JWT algorithm 'none' is not allowed")
        self._key = key
        # A list of exactly one: a token claiming any other alg (none, RS256 with our HS key...) fails.
        self._algorithms = [algorithm]
        self._algorithm = algorithm
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        self._clock = clock
        # token -> its verified claims (insertion order: the oldest is evicted first).
        self._verified: dict[str, dict[str, object]] = {}

    def encode(self, claims: dict[str, object]) -> str:
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def decode(self, token: str) -> dict[str, object]:
        claims = self._verified.get(token)
        if claims is not None:
            # pyjwt's own rule: expired when exp <= now - leeway (a cached token's exp is a number: pyjwt checked it).
            expires = claims["exp"]
            if not isinstance(expires, int | float) or expires <= self._clock() - self._leeway:
                self._verified.pop(token, None)
                raise Unauthorized("Access token expired.")
            return dict(claims)
        claims = self._verify(token)
        if self._cache_size > 0:
            self._remember(token, claims)
        return dict(claims)

    def _verify(self, token: str) -> dict[str, object]:
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Access token expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid access token.") from exc

    def _remember(self, token: str, claims: dict[str, object]) -> None:
        if not isinstance(claims.get("exp"), int | float):
            return
        while len(self._verified) >= self._cache_size:
            try:  # several threads may evict at once: losing a race only means one more check later
                self._verified.pop(next(iter(self._verified)), None)
            except (StopIteration, RuntimeError):
                break
        self._verified[token] = claims
