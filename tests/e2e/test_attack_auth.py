"""Attacks on authentication beyond tests/e2e/test_auth.py: tokens forged from a real one without our
key, tokens used in the wrong place, throttling that gives no user away, and login timing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password
from django.core.cache import cache
from django.test import Client, override_settings
from stress.scenarios import attacks
from stress.scenarios.attacks import Tally

from adapters.auth.django_stores import DjangoCredentialChecker
from tests.e2e.test_bola import django_call
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


class SlowerTestArgon2(Argon2PasswordHasher):
    """Costly enough (some milliseconds) that skipping the hash for unknown users would show."""

    algorithm = "argon2"
    time_cost = 2
    memory_cost = 8192
    parallelism = 1


def test_tokens_forged_from_a_real_one_are_refused(client: Client, login: Callable[..., dict]) -> None:
    UserFactory(username="victim", role="client")
    tally = Tally()
    tokens = login("victim")

    def new_session() -> dict:
        return login("victim")

    attacks.attack_tokens(tally, django_call(client), tokens["access_token"], new_session)
    assert tally.failed == 0 and tally.errors_5xx == 0, "\n".join(tally.lines)
    assert tally.passed >= 12


def test_the_token_endpoints_throttle_unknown_and_known_users_alike(client: Client) -> None:
    """No enumeration through the throttle: an unknown name locks out after as many tries, with the
    same answer, as a real one; and the per-username counter ignores case."""
    UserFactory(username="maria")
    call = django_call(client)
    seen = {}
    for name in ("maria", "nobody-here"):
        tally = Tally()
        seen[name] = attacks.brute_force(tally, call, name, limit_hint=20)
        assert tally.failed == 0, tally.lines
        cache.clear()
    assert seen["maria"] == seen["nobody-here"] > 1
    for n in range(seen["maria"] - 1):
        attacks.login(call, "MARIA" if n % 2 else "maria", "wrong")
    assert attacks.login(call, "Maria", "correct-horse-battery").status == 429


@override_settings(PASSWORD_HASHERS=["tests.e2e.test_attack_auth.SlowerTestArgon2"])
def test_login_timing_does_not_tell_unknown_users_from_known_ones(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dummy hash is made once per process with the hasher in force: make it again for this one.
    monkeypatch.setattr(DjangoCredentialChecker, "_dummy_hash", None)
    UserFactory(username="timed", password=make_password("correct-horse-battery"))
    tally = Tally()
    unknown, known = attacks.enumeration(tally, django_call(client), "timed", tries=20, reset=cache.clear)
    assert tally.failed == 0, f"{tally.lines}: unknown {unknown * 1000:.2f} ms, known {known * 1000:.2f} ms"
    # The hash really was costly here, so equal times mean the unknown user paid for one too.
    assert known > 0.002


def test_the_dummy_hash_uses_the_configured_hasher_and_its_cost() -> None:
    """Unknown users are checked against a hash made by the same hasher, with the same parameters,
    as real users' hashes: equal cost, so equal time."""
    DjangoCredentialChecker().verify("no-such-user-anywhere", "x")
    dummy = DjangoCredentialChecker._dummy_hash
    real = make_password("another-password-1")
    assert dummy is not None
    # argon2$argon2id$v=19$m=...,t=...,p=...$salt$hash: everything but salt and hash must match.
    assert dummy.split("$")[:4] == real.split("$")[:4]
