"""Login, rotation, reuse detection, token attacks and throttling over HTTP with real JWTs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import jwt
import pytest
from django.conf import settings
from django.test import Client

from adapters.orm.identity.models import RefreshTokenRecord
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _claims(user: object, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": str(user.public_id),  # type: ignore[attr-defined]
        "uid": user.pk,  # type: ignore[attr-defined]
        "role": user.role,  # type: ignore[attr-defined]
        "name": user.username,  # type: ignore[attr-defined]
        "aud": settings.JWT_AUDIENCE,
        "iss": settings.JWT_ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _forge(claims: dict[str, object], key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.JWT_SIGNING_KEY, algorithm=algorithm)


def test_login_then_me(client: Client, login: Callable[..., dict]) -> None:
    user = UserFactory(username="maria", role="agent")
    tokens = login("maria")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == int(settings.JWT_ACCESS_TTL.total_seconds())
    me = client.get("/api/v1/me", **_bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == {"id": str(user.public_id), "username": "maria", "role": "agent"}
    # Only a hash of the refresh token is stored.
    assert not RefreshTokenRecord.objects.filter(token_hash=tokens["refresh_token"]).exists()
    assert RefreshTokenRecord.objects.filter(user=user).count() == 1


def test_login_failures_share_one_message(client: Client) -> None:
    UserFactory(username="maria")
    unknown = client.post("/api/v1/auth/token", {"username": "nobody", "password": "x"}, "application/json")
    wrong = client.post("/api/v1/auth/token", {"username": "maria", "password": "x"}, "application/json")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.json()["error"]["code"] == "unauthorized"


def test_inactive_user_cannot_log_in(client: Client) -> None:
    UserFactory(username="gone", is_active=False)
    response = client.post(
        "/api/v1/auth/token", {"username": "gone", "password": "correct-horse-battery"}, "application/json"
    )
    assert response.status_code == 401


def test_refresh_rotation_and_reuse_revokes_family(client: Client, login: Callable[..., dict]) -> None:
    UserFactory(username="maria")
    first = login("maria")
    rotated = client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, "application/json")
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", **_bearer(second["access_token"])).status_code == 200

    reuse = client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, "application/json")
    assert reuse.status_code == 401
    assert reuse.json()["error"]["details"] == {"family_revoked": True}
    after = client.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}, "application/json")
    assert after.status_code == 401
    assert RefreshTokenRecord.objects.filter(revoked_at__isnull=True).count() == 0


def test_logout_revokes_the_session(client: Client, login: Callable[..., dict]) -> None:
    UserFactory(username="maria")
    tokens = login("maria")
    out = client.post("/api/v1/auth/logout", {"refresh_token": tokens["refresh_token"]}, "application/json")
    assert out.status_code == 204
    again = client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, "application/json")
    assert again.status_code == 401


@pytest.mark.parametrize(
    "attack",
    [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "tampered",
        "alg_none",
        "wrong_key",
        "missing_exp",
        "missing_sub",
        "hs_rs_confusion",
        "other_hmac",
        "garbage",
    ],
)
def test_bad_access_tokens_get_401(client: Client, attack: str) -> None:
    user = UserFactory(username="maria", role="client")
    now = int(time.time())
    if attack == "expired":
        token = _forge(_claims(user, iat=now - 600, nbf=now - 600, exp=now - 300))
    elif attack == "not_yet_valid":
        token = _forge(_claims(user, nbf=now + 600, exp=now + 900))
    elif attack == "wrong_audience":
        token = _forge(_claims(user, aud="someone-else"))
    elif attack == "wrong_issuer":
        token = _forge(_claims(user, iss="evil"))
    elif attack == "tampered":
        good = _forge(_claims(user))
        header, _payload, signature = good.split(".")
        evil = _forge(_claims(user, role="admin")).split(".")[1]
        token = f"{header}.{evil}.{signature}"
    elif attack == "alg_none":
        token = jwt.encode(_claims(user, role="admin"), key=None, algorithm="none")  # type: ignore[arg-type]
    elif attack == "wrong_key":
        token = _forge(_claims(user), key="another-key-of-sufficient-length-0123456789")
    elif attack == "missing_exp":
        token = _forge(_claims(user, exp=None))
    elif attack == "missing_sub":
        token = _forge(_claims(user, sub=None))
    elif attack == "hs_rs_confusion":
        # An attacker's own RSA key signs an RS256 token: only our one algorithm is accepted.
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(_claims(user, role="admin"), private, algorithm="RS256")
    elif attack == "other_hmac":
        # Our own key but another HMAC: the algorithm list has exactly one entry.
        token = _forge(_claims(user), algorithm="HS512")
    else:
        token = "not.a.jwt"
    response = client.get("/api/v1/me", **_bearer(token))
    assert response.status_code == 401, attack
    assert response.json()["error"]["code"] == "unauthorized"
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_forged_token_with_the_right_key_is_accepted_control(client: Client) -> None:
    """Control for the attack matrix: a well-formed token signed with our key passes."""
    user = UserFactory(username="maria")
    response = client.get("/api/v1/me", **_bearer(_forge(_claims(user))))
    assert response.status_code == 200


def test_missing_token_is_401(client: Client) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_login_throttled_per_username_with_retry_after(client: Client) -> None:
    UserFactory(username="maria")
    limit = settings.LOGIN_THROTTLE_PER_USERNAME
    for n in range(limit):
        bad = client.post(
            "/api/v1/auth/token",
            {"username": "maria", "password": "nope"},
            "application/json",
            REMOTE_ADDR=f"10.0.0.{n + 1}",
        )
        assert bad.status_code == 401
    throttled = client.post(
        "/api/v1/auth/token",
        {"username": "maria", "password": "correct-horse-battery"},
        "application/json",
        REMOTE_ADDR="10.0.1.1",
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= settings.LOGIN_THROTTLE_WINDOW_SECONDS


def test_login_throttled_per_address(client: Client) -> None:
    UserFactory(username="maria")
    for n in range(settings.LOGIN_THROTTLE_PER_ADDRESS):
        client.post(
            "/api/v1/auth/token",
            {"username": f"guess{n}", "password": "nope"},
            "application/json",
            REMOTE_ADDR="10.9.9.9",
        )
    blocked = client.post(
        "/api/v1/auth/token",
        {"username": "maria", "password": "correct-horse-battery"},
        "application/json",
        REMOTE_ADDR="10.9.9.9",
    )
    assert blocked.status_code == 429
    elsewhere = client.post(
        "/api/v1/auth/token",
        {"username": "maria", "password": "correct-horse-battery"},
        "application/json",
        REMOTE_ADDR="10.9.9.10",
    )
    assert elsewhere.status_code == 200
