"""Error envelope, request ids, health and metrics."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from django.test import Client

from api.http.middleware import new_request_id

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def _assert_envelope(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_unknown_api_path_is_404_envelope(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    _assert_envelope(response.json(), "not_found")


def test_wrong_method_is_405_envelope(client: Client) -> None:
    response = client.delete("/api/v1/auth/token")
    assert response.status_code == 405
    _assert_envelope(response.json(), "method_not_allowed")
    assert "POST" in response["Allow"]


def test_validation_error_is_422_envelope_with_fields(client: Client) -> None:
    response = client.post("/api/v1/auth/token", {"username": ""}, "application/json")
    assert response.status_code == 422
    body = response.json()
    _assert_envelope(body, "invalid_input")
    locs = {tuple(f["loc"]) for f in body["error"]["details"]["fields"]}
    assert ("body", "password") in locs


def test_malformed_json_is_an_envelope(client: Client) -> None:
    response = client.post("/api/v1/auth/token", "{not json", "application/json")
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"}


def test_request_id_is_generated_or_echoed(client: Client) -> None:
    generated = client.get("/api/v1/health")
    assert len(generated["X-Request-ID"]) == 32
    echoed = client.get("/api/v1/health", HTTP_X_REQUEST_ID="abc-123")
    assert echoed["X-Request-ID"] == "abc-123"
    hostile = client.get("/api/v1/health", HTTP_X_REQUEST_ID="bad id\r\nX-Evil: 1")
    assert hostile["X-Request-ID"] != "bad id\r\nX-Evil: 1"


def test_generated_request_ids_are_unique_and_a_forked_worker_draws_its_own(client: Client) -> None:
    ids = [client.get("/api/v1/ping")["X-Request-ID"] for _ in range(50)]
    assert len(set(ids)) == 50 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a server worker forked from a master that had already imported the app
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    ours = new_request_id()
    assert len(child) == 32 and child[:16] != ours[:16]  # another process, another prefix


def test_log_lines_are_json_with_the_request_id(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    from django.conf import settings as django_settings
    from pythonjsonlogger.json import JsonFormatter

    from api.http.middleware import RequestIdLogFilter

    capsys.readouterr()
    client.get("/api/v1/health", HTTP_X_REQUEST_ID="trace-42")
    access = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"api.access"' in line]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "trace-42" and line["logger"] == "api.access" and line["message"] == "request"
    assert line["status"] == 200 and line["path"] == "/api/v1/health" and line["level"] == "INFO"
    assert line["method"] == "GET" and isinstance(line["duration_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", line["ts"]), line["ts"]  # as the formatter's asctime
    # A request without an id of its own: the line carries the one made for it, as the answer does.
    answer = client.get("/api/v1/health")
    [made] = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"api.access"' in x]
    assert made["request_id"] == answer["X-Request-ID"] and len(made["request_id"]) == 32
    # The same keys, in the same order, as a line of the configured formatter (the access line is
    # written without it: its cost per request).
    fmt = django_settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(fmt["fmt"], rename_fields=fmt["rename_fields"])
    other = logging.LogRecord("api.other", logging.INFO, __file__, 1, "request", None, None)
    RequestIdLogFilter().filter(other)
    assert list(json.loads(formatter.format(other)))[:5] == list(line)[:5]
    # Outside a request the filter marks lines with "-".
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert RequestIdLogFilter().filter(outside) and outside.request_id == "-"


def test_the_access_line_redacts_a_credential_in_the_path_or_the_request_id(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    capsys.readouterr()
    client.get(f"/api/v1/credits/{token}", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID=token[:60])
    lines = [line for line in capsys.readouterr().err.splitlines() if '"api.access"' in line]
    assert lines and all(token[:40] not in line for line in lines), lines
    line = json.loads(lines[-1])
    assert "[redacted]" in line["path"] and "[redacted]" in line["request_id"], line


def test_log_level_above_info_writes_no_access_line(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    logging.getLogger("api.access").setLevel(logging.WARNING)
    try:
        client.get("/api/v1/health")
    finally:
        logging.getLogger("api.access").setLevel(logging.NOTSET)
    assert '"api.access"' not in capsys.readouterr().err


def test_health_reports_each_dependency(client: Client) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {c["name"]: c["status"] for c in body["checks"]} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
        "workers": "ok",  # nothing waits for a worker (tests/integration/test_worker_liveness.py)
        "nightly": "ok",  # no run yet, or the last one set no credit aside
        "partitions": "ok",
    }


def test_health_is_degraded_when_the_broker_is_unreachable(client: Client, settings: object) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    body = client.get("/api/v1/health").json()
    assert body["status"] == "degraded"
    assert {c["name"]: c["status"] for c in body["checks"]}["broker"] == "down"


def test_health_is_degraded_when_redis_is_unreachable(client: Client, settings: object) -> None:
    from django.core.cache import caches

    settings.CACHES = {  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1, "IGNORE_EXCEPTIONS": True},
        }
    }
    try:
        response = client.get("/api/v1/health")
    finally:
        caches._settings = None  # type: ignore[attr-defined]
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert {c["name"]: c["status"] for c in body["checks"]}["redis"] == "down"


def test_metrics_in_prometheus_format(client: Client) -> None:
    client.get("/api/v1/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'http_requests_total{method="GET",route="api/v1/health",status="200"}' in text
    assert "http_request_duration_seconds_bucket" in text


def test_security_headers_present(client: Client) -> None:
    response = client.get("/api/v1/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_openapi_schema_and_docs(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/v1/auth/token",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/health",
    } <= set(paths)
    assert client.get("/api/v1/docs").status_code == 200
