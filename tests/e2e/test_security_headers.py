"""Security headers on every kind of response, and errors that give nothing away (no trace, no secret)."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, override_settings

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

TRACE_MARKERS = ("Traceback", 'File "', ".py", "/work/", "site-packages", "SELECT ", "psycopg", "django.")


def _secrets() -> list[str]:
    """What must never appear in an answer: the keys and the database password (when there is one)."""
    found = [settings.SECRET_KEY, settings.JWT_SIGNING_KEY]
    password = urlparse(_database_url()).password or settings.DATABASES["default"].get("PASSWORD")
    if password:
        found.append(password)
    return found


def _database_url() -> str:
    import os

    return os.environ.get("DATABASE_URL", "")


def assert_security_headers(response: HttpResponse, *, where: str) -> None:
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["X-Frame-Options"] == "DENY", where
    assert response.get("Referrer-Policy"), where
    csp = response.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "default-src" in csp, where


def assert_api_json_headers(response: HttpResponse, *, where: str) -> None:
    assert_security_headers(response, where=where)
    assert "default-src 'none'" in response["Content-Security-Policy"], where
    assert "no-store" in response.get("Cache-Control", ""), where


@pytest.fixture
def token(client: Client, login: Callable[..., dict]) -> str:
    UserFactory(username="hdr-admin", role="admin")
    return str(login("hdr-admin")["access_token"])


def test_every_kind_of_api_answer_carries_the_headers(client: Client, token: str) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    answers = {
        "200 public": client.get("/api/v1/ping"),
        "200 authenticated": client.get("/api/v1/me", **auth),
        "200 cached read, a miss": client.get("/api/v1/me/credit-summary", **auth),
        "200 cached read, a hit on the early path": client.get("/api/v1/me/credit-summary", **auth),
        "200 list": client.get("/api/v1/credits", **auth),
        "200 health": client.get("/api/v1/health"),
        "200 openapi": client.get("/api/v1/openapi.json"),
        "401 no token": client.get("/api/v1/me"),
        "401 bad login": client.post("/api/v1/auth/token", {"username": "nobody", "password": "x"}, "application/json"),
        "404 unknown credit": client.get(f"/api/v1/credits/{uuid.uuid4()}", **auth),
        "404 unknown path": client.get("/api/v1/no-such-thing", **auth),
        "405": client.delete("/api/v1/me", **auth),
        "422": client.post("/api/v1/auth/token", {"username": ""}, "application/json"),
        "400 malformed json": client.post("/api/v1/auth/token", "{not json", "application/json"),
    }
    for where, response in answers.items():
        assert_api_json_headers(response, where=where)
        assert response.status_code == int(where[:3]), (where, response.status_code)


def test_token_answers_are_never_cached(client: Client, login: Callable[..., dict]) -> None:
    UserFactory(username="hdr-client")
    response = client.post(
        "/api/v1/auth/token", {"username": "hdr-client", "password": "correct-horse-battery"}, "application/json"
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    refreshed = client.post(
        "/api/v1/auth/refresh", {"refresh_token": response.json()["refresh_token"]}, "application/json"
    )
    assert refreshed.status_code == 200
    assert "no-store" in refreshed["Cache-Control"]


def test_pages_outside_the_api_carry_the_headers(client: Client) -> None:
    for where, response in {
        "metrics": client.get("/metrics"),
        "admin login": client.get("/admin/login/"),
        "admin redirect": client.get("/admin/"),
        "404 outside the api": client.get("/nothing-here"),
    }.items():
        assert_security_headers(response, where=where)
    admin = client.get("/admin/login/")
    assert admin.status_code == 200
    assert "script-src 'self'" in admin["Content-Security-Policy"]


def test_the_docs_page_has_a_policy_that_lets_swagger_run(client: Client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert_security_headers(response, where="docs")
    csp = response["Content-Security-Policy"]
    html = response.content
    # Every script and style the page loads is ours (no CDN: the docs work offline), every inline
    # script allowed by its hash.
    assets = re.findall(rb'<script src="([^"]+)"', html) + re.findall(rb'<link[^>]* href="([^"]+)"', html)
    assert len(assets) >= 3, html
    for src in assets:
        assert not urlparse(src.decode()).netloc and src.startswith(b"/static/"), src
    assert "http" not in csp, csp
    for script in re.findall(rb"<script>(.*?)</script>", html, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "connect-src 'self'" in csp  # it fetches /api/v1/openapi.json


@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_hsts_behind_a_tls_balancer_in_production_mode(client: Client) -> None:
    response = client.get("/api/v1/ping", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_settings_turn_hsts_on() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in {"APP_ENV", "DEBUG", "SECURE_HSTS_SECONDS"}}
    env.update(
        APP_ENV="production",
        SECRET_KEY="k" * 50,
        JWT_SIGNING_KEY="j" * 64,
        DEBUG="0",
        ALLOWED_HOSTS="api.example.com",
        PYTHONPATH=str(root / "src"),
    )
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seconds, _ = result.stdout.split(" ", 1)
    assert int(seconds) >= 15552000  # at least 180 days


def _assert_no_internals(response: HttpResponse, *, where: str) -> None:
    text = response.content.decode(errors="replace")
    for marker in TRACE_MARKERS:
        assert marker not in text, (where, marker, text[:300])
    for secret in _secrets():
        assert secret not in text, where


def test_an_unexpected_error_is_an_envelope_with_a_request_id_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    import api.identity.router

    def explode(request: object) -> object:
        # The exception text carries everything a careless handler would leak.
        raise RuntimeError(
            f'File "/work/main/src/api/identity.py", line 1: SELECT password FROM identity_user '
            f"{settings.SECRET_KEY} {settings.JWT_SIGNING_KEY} {_database_url()}"
        )

    monkeypatch.setattr(api.identity.router, "principal_of", explode)
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID="trace-me-42")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["details"] == {"request_id": "trace-me-42"}
    assert response["X-Request-ID"] == "trace-me-42"
    _assert_no_internals(response, where="ninja 500")
    assert_api_json_headers(response, where="ninja 500")


def test_a_crash_outside_ninja_gives_nothing_away(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.http.metrics

    def explode(*args: object) -> bytes:
        raise RuntimeError(f"{settings.SECRET_KEY} {_database_url()} Traceback")

    monkeypatch.setattr(api.http.metrics, "generate_latest", explode)
    response = Client(raise_request_exception=False).get("/metrics")
    assert response.status_code == 500
    _assert_no_internals(response, where="metrics 500")
    assert_security_headers(response, where="metrics 500")


def test_health_and_errors_never_show_secrets(client: Client, token: str) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for where, response in {
        "health": client.get("/api/v1/health"),
        "404": client.get(f"/api/v1/credits/{uuid.uuid4()}", **auth),
        "422": client.post("/api/v1/credits", {"client_id": "x"}, "application/json", **auth),
        "401": client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer x.y.z"),
        "bad login echoing a password": client.post(
            "/api/v1/auth/token", {"username": "a" * 151, "password": settings.SECRET_KEY}, "application/json"
        ),
    }.items():
        _assert_no_internals(response, where=where)
