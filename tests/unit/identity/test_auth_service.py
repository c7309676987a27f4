"""Token rules of the identity service, on in-memory fakes (no database, no crypto)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.identity.errors import Throttled, Unauthorized
from domain.identity.model import (
    Principal,
    RefreshOutcome,
    RefreshToken,
    Role,
    TokenPolicy,
    access_claims,
    hash_refresh_token,
    judge_refresh,
    principal_from_claims,
)
from domain.identity.services import BAD_CREDENTIALS, AuthService, ThrottlePolicy
from tests.unit.identity.fakes import FakeAttempts, FakeClock, FakeCodec, FakeRefreshStore, FakeUsers

POLICY = TokenPolicy(audience="aud", issuer="iss", access_ttl=timedelta(minutes=5), refresh_ttl=timedelta(days=1))
ALICE = Principal(public_id=uuid.UUID(int=1), user_id=1, role=Role.CLIENT, username="alice")


@pytest.fixture
def world() -> dict:
    clock = FakeClock()
    users = FakeUsers()
    users.add(ALICE, "s3cret")
    store = FakeRefreshStore()
    attempts = FakeAttempts(clock)
    counter = iter(range(1, 10_000))
    service = AuthService(
        credentials=users,
        directory=users,
        codec=FakeCodec(clock),
        refresh_tokens=store,
        attempts=attempts,
        transaction=store.transaction,
        clock=clock,
        policy=POLICY,
        throttle=ThrottlePolicy(window_seconds=60, per_username=3, per_address=5),
        new_secret=lambda: f"refresh-secret-{next(counter):04d}",
    )
    return {"service": service, "clock": clock, "users": users, "store": store}


def test_login_issues_access_token_that_authenticates(world: dict) -> None:
    pair = world["service"].login("alice", "s3cret", "10.0.0.1")
    assert world["service"].authenticate(pair.access_token) == ALICE
    assert pair.expires_in == 300
    # Only the hash of the refresh token is stored.
    assert list(world["store"].rows) == [hash_refresh_token(pair.refresh_token)]


def test_unknown_user_and_wrong_password_get_the_same_message(world: dict) -> None:
    service = world["service"]
    with pytest.raises(Unauthorized) as unknown:
        service.login("nobody", "s3cret", "10.0.0.1")
    with pytest.raises(Unauthorized) as wrong:
        service.login("alice", "wrong", "10.0.0.2")
    assert unknown.value.message == wrong.value.message == BAD_CREDENTIALS


def test_access_token_expires(world: dict) -> None:
    pair = world["service"].login("alice", "s3cret", "10.0.0.1")
    world["clock"].advance(minutes=5)
    with pytest.raises(Unauthorized):
        world["service"].authenticate(pair.access_token)


def test_refresh_rotates_and_old_token_works_once(world: dict) -> None:
    service = world["service"]
    first = service.login("alice", "s3cret", "10.0.0.1")
    second = service.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert service.authenticate(second.access_token) == ALICE
    third = service.refresh(second.refresh_token)
    assert third.refresh_token not in {first.refresh_token, second.refresh_token}


def test_reuse_of_spent_refresh_token_revokes_the_whole_family(world: dict) -> None:
    service, store = world["service"], world["store"]
    first = service.login("alice", "s3cret", "10.0.0.1")
    second = service.refresh(first.refresh_token)
    with pytest.raises(Unauthorized) as reused:
        service.refresh(first.refresh_token)
    assert reused.value.details == {"family_revoked": True}
    # The revocation was committed although the call failed: the newest token is dead too.
    assert all(t.revoked_at is not None for t in store.rows.values())
    with pytest.raises(Unauthorized):
        service.refresh(second.refresh_token)


def test_other_families_survive_a_reuse(world: dict) -> None:
    service = world["service"]
    phone = service.login("alice", "s3cret", "10.0.0.1")
    laptop = service.login("alice", "s3cret", "10.0.0.1")
    service.refresh(phone.refresh_token)
    with pytest.raises(Unauthorized):
        service.refresh(phone.refresh_token)
    assert service.refresh(laptop.refresh_token).principal == ALICE


def test_expired_refresh_token_is_refused_without_revoking(world: dict) -> None:
    service, store = world["service"], world["store"]
    pair = service.login("alice", "s3cret", "10.0.0.1")
    world["clock"].advance(days=1)
    with pytest.raises(Unauthorized) as expired:
        service.refresh(pair.refresh_token)
    assert expired.value.details == {}
    assert all(t.revoked_at is None for t in store.rows.values())


def test_unknown_refresh_token_is_refused(world: dict) -> None:
    with pytest.raises(Unauthorized):
        world["service"].refresh("never-issued-token-xxxxxxxx")


def test_refresh_of_deactivated_user_revokes_family(world: dict) -> None:
    service = world["service"]
    pair = service.login("alice", "s3cret", "10.0.0.1")
    world["users"].deactivate("alice")
    with pytest.raises(Unauthorized):
        service.refresh(pair.refresh_token)
    assert all(t.revoked_at is not None for t in world["store"].rows.values())


def test_logout_revokes_family_and_ignores_unknown_tokens(world: dict) -> None:
    service = world["service"]
    pair = service.login("alice", "s3cret", "10.0.0.1")
    service.logout("not-a-token-at-all-xxxxxx")
    service.logout(pair.refresh_token)
    with pytest.raises(Unauthorized):
        service.refresh(pair.refresh_token)


def test_login_throttled_per_username_after_failures(world: dict) -> None:
    service = world["service"]
    for address in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        with pytest.raises(Unauthorized):
            service.login("alice", "bad", address)
    with pytest.raises(Throttled) as throttled:
        service.login("alice", "s3cret", "4.4.4.4")  # even the right password waits
    assert 1 <= throttled.value.retry_after <= 60
    world["clock"].advance(seconds=61)
    assert service.login("alice", "s3cret", "4.4.4.4").principal == ALICE


def test_login_throttled_per_address_across_usernames(world: dict) -> None:
    service = world["service"]
    for n in range(5):
        with pytest.raises(Unauthorized):
            service.login(f"guess{n}", "bad", "9.9.9.9")
    with pytest.raises(Throttled):
        service.login("alice", "s3cret", "9.9.9.9")
    assert service.login("alice", "s3cret", "8.8.8.8").principal == ALICE


def test_successful_login_resets_the_username_counter(world: dict) -> None:
    service = world["service"]
    for _ in range(2):
        with pytest.raises(Unauthorized):
            service.login("alice", "bad", "1.1.1.1")
    service.login("alice", "s3cret", "1.1.1.1")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            service.login("alice", "bad", "1.1.1.1")
    assert service.login("alice", "s3cret", "1.1.1.1").principal == ALICE


def test_malformed_claims_are_unauthorized(world: dict) -> None:
    with pytest.raises(Unauthorized):
        world["service"].authenticate('fake.{"exp": 9999999999, "sub": "x", "role": "client", "uid": 1}')
    with pytest.raises(Unauthorized):
        world["service"].authenticate("garbage")


def test_claims_round_trip_and_required_fields() -> None:
    claims = access_claims(ALICE, now=FakeClock()(), policy=POLICY, jti="j")
    assert {"exp", "iat", "sub", "aud", "iss", "nbf"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 300
    assert principal_from_claims(claims) == ALICE
    with pytest.raises(ValueError, match="uid"):
        principal_from_claims({**claims, "uid": "1"})
    with pytest.raises(ValueError):
        principal_from_claims({**claims, "role": "superuser"})


def test_judge_refresh_order() -> None:
    now = FakeClock()()
    token = RefreshToken("h", uuid.uuid4(), 1, now, now + timedelta(hours=1))
    assert judge_refresh(token, now) is RefreshOutcome.ROTATE
    assert judge_refresh(token.mark_used(now), now) is RefreshOutcome.REUSED
    assert judge_refresh(token, now + timedelta(hours=1)) is RefreshOutcome.EXPIRED
    revoked = RefreshToken("h", uuid.uuid4(), 1, now, now, used_at=now, revoked_at=now)
    assert judge_refresh(revoked, now) is RefreshOutcome.REVOKED


def test_principal_role_helpers() -> None:
    admin = Principal(uuid.uuid4(), 2, Role.ADMIN)
    agent = Principal(uuid.uuid4(), 3, Role.AGENT)
    assert admin.is_admin and not admin.is_agent
    assert agent.is_agent and not agent.is_admin
