"""The JWT adapter: full verification, and the per-process memory of tokens already verified."""

from __future__ import annotations

import time

import jwt
import pytest

from adapters.auth.jwt_codec import JwtCodec
from domain.identity.errors import Unauthorized

KEY = "k" * 48


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _codec(clock: Clock, cache_size: int = 10) -> JwtCodec:
    return JwtCodec(key=KEY, algorithm="HS256", audience="aud", issuer="iss", cache_size=cache_size, clock=clock)


def _claims(now: float, ttl: int = 300, **extra: object) -> dict[str, object]:
    base = {"sub": "s", "uid": 1, "role": "client", "aud": "aud", "iss": "iss"}
    return {**base, "iat": int(now), "nbf": int(now), "exp": int(now) + ttl, **extra}


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    clock = Clock()
    codec = _codec(clock)
    token = codec.encode(_claims(clock.now, ttl=60))
    assert codec.decode(token)["uid"] == 1
    assert codec.decode(token)["uid"] == 1  # remembered
    clock.now += 60 + 5  # past exp, and past the leeway
    with pytest.raises(Unauthorized, match="expired"):
        codec.decode(token)


def test_callers_get_a_copy_of_the_remembered_claims() -> None:
    codec = _codec(Clock())
    token = codec.encode(_claims(time.time()))
    codec.decode(token)["uid"] = 99
    assert codec.decode(token)["uid"] == 1


def test_only_verified_tokens_are_remembered() -> None:
    clock = Clock()
    codec = _codec(clock)
    good = codec.encode(_claims(clock.now))
    codec.decode(good)
    forged = jwt.encode(_claims(clock.now, uid=2), "another-key-" * 4, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(Unauthorized, match="Invalid"):
            codec.decode(forged)
    # A token differing from a remembered one by a character is checked in full (and fails).
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    with pytest.raises(Unauthorized):
        codec.decode(tampered)


def test_the_memory_is_bounded() -> None:
    clock = Clock()
    codec = _codec(clock, cache_size=3)
    tokens = [codec.encode(_claims(clock.now, uid=i)) for i in range(5)]
    for token in tokens:
        codec.decode(token)
    assert len(codec._verified) == 3
    assert [codec.decode(t)["uid"] for t in tokens] == [0, 1, 2, 3, 4]
