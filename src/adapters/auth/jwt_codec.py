"""Access tokens with pyjwt: one explicit algorithm, and exp/iat/nbf/sub/aud/iss all required."""

from __future__ import annotations

import jwt

from domain.shared.errors import Unauthorized


class JwtCodec:
    def __init__(self, *, key: str, algorithm: str, audience: str, issuer: str, leeway_seconds: int = 5) -> None:
        if algorithm.lower() == "none":
            raise ValueError("JWT algorithm 'none' is not allowed")
        self._key = key
        # A list of exactly one: a token claiming any other alg (none, RS256 with our HS key...) fails.
        self._algorithms = [algorithm]
        self._algorithm = algorithm
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds

    def encode(self, claims: dict[str, object]) -> str:
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def decode(self, token: str) -> dict[str, object]:
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
