"""The early path of hot reads (api.hot_reads): a cache hit answered in front of Django's handler
gives the same bytes and headers as the full path, refuses exactly what the full path refuses, and
answers nothing it should not (a miss, a bad token, a stranger's credit) by itself.

The `client` fixture goes through the front (tests/e2e/conftest.FrontClient); a plain Django
`Client()` is the full path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, RequestFactory
from prometheus_client import REGISTRY

from api.hot_reads import EarlyPath
from tests.builders import business_today, open_credit, pay, payment_account
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

SUMMARY = "/api/v1/me/credit-summary"


@pytest.fixture
def early_answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the early path answered by itself (a spy on it; everything else ran as usual)."""
    answered: list[str] = []
    original = EarlyPath.answer

    def spy(self: EarlyPath, environ):  # type: ignore[no-untyped-def]
        early = original(self, environ)
        if early is not None:
            answered.append(early[0].path)
        return early

    monkeypatch.setattr(EarlyPath, "answer", spy)
    return answered


@pytest.fixture
def book(login: Callable[..., dict]) -> dict[str, str]:
    today = business_today()
    owner = UserFactory(username="hot-owner", role="client")
    agent = UserFactory(username="hot-agent", role="agent")
    UserFactory(username="hot-stranger", role="client")
    UserFactory(username="hot-other-agent", role="agent")
    UserFactory(username="hot-admin", role="admin")
    credit = open_credit(owner, agent, price="2400.00", on=today - timedelta(days=45))
    pay(credit, "150.00", on=today - timedelta(days=2))
    account = payment_account("COP")
    callers = ("owner", "stranger", "agent", "other-agent", "admin")
    tokens = {name: login(f"hot-{name}")["access_token"] for name in callers}
    return {"credit": f"/api/v1/credits/{credit.id}", "account": str(account.id), **tokens}


def _get(client: Client, path: str, token: str | None, **extra: str) -> tuple[int, bytes, dict[str, str]]:
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = client.get(path, HTTP_X_REQUEST_ID="hot-read-test", **extra)
    return response.status_code, response.content, dict(response.headers.items())


CALLERS = [
    (SUMMARY, "owner"),
    ("credit", "owner"),  # the client's side
    ("credit", "agent"),  # the staff side (cost and earnings)
    ("credit", "admin"),
]


@pytest.mark.parametrize(("path", "caller"), CALLERS)
def test_a_hit_answered_early_is_byte_identical_to_the_full_path(
    client: Client, book: dict[str, str], early_answers: list[str], path: str, caller: str
) -> None:
    path = book.get(path, path)
    token = book[caller]
    first = _get(client, path, token)  # a miss: the full path builds and stores
    assert first[0] == 200 and early_answers == []
    early = _get(client, path, token)
    assert early_answers == [path], "the second read is a hit the early path answers"
    full = _get(Client(), path, token)  # Django's handler alone
    assert early_answers == [path]
    assert early[0] == full[0] == 200
    assert early[1] == full[1] == first[1]
    assert early[2] == full[2], "same headers, same values"
    assert "no-store" in early[2]["Cache-Control"] and early[2]["X-Request-ID"] == "hot-read-test"


@pytest.mark.parametrize("caller", ["stranger", "other-agent"])
def test_a_stranger_gets_the_full_paths_404_even_when_the_credit_is_cached(
    client: Client, book: dict[str, str], early_answers: list[str], caller: str
) -> None:
    for warm in ("owner", "admin"):  # both sides' entries are in the cache
        assert _get(client, book["credit"], book[warm])[0] == 200
    early_answers.clear()
    refused = _get(client, book["credit"], book[caller])
    full = _get(Client(), book["credit"], book[caller])
    assert refused[0] == full[0] == 404
    assert refused[1] == full[1] and refused[2] == full[2]
    assert early_answers == [], "a refusal is the endpoint's to make"


@pytest.mark.parametrize("token", [None, "not-a-token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged"])
def test_without_a_valid_token_a_cached_read_is_the_full_paths_401(
    client: Client, book: dict[str, str], early_answers: list[str], token: str | None
) -> None:
    for path in (SUMMARY, book["credit"]):
        assert _get(client, path, book["owner"])[0] == 200
        assert _get(client, path, book["owner"])[0] == 200
        early_answers.clear()
        status, body, _ = _get(client, path, token)
        assert status == 401, body
        assert early_answers == []


def test_a_write_makes_the_next_read_go_the_full_way_and_show_it(
    client: Client, book: dict[str, str], early_answers: list[str]
) -> None:
    _get(client, SUMMARY, book["owner"])
    before = _get(client, SUMMARY, book["owner"])
    assert early_answers == [SUMMARY]
    credit_id = book["credit"].rsplit("/", 1)[1]
    paid = client.post(
        f"/api/v1/credits/{credit_id}/payments",
        {
            "amount": {"amount": "100.00", "currency": "COP"},
            "lines": [{"payment_account_id": int(book["account"]), "amount": {"amount": "100.00", "currency": "COP"}}],
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {book['agent']}",
        HTTP_IDEMPOTENCY_KEY="hot-read-write-1",
    )
    assert paid.status_code == 201, paid.content
    after = _get(client, SUMMARY, book["owner"])
    assert early_answers == [SUMMARY], "the write moved the version on: a miss, built the full way"
    assert after[1] != before[1]
    assert _get(client, SUMMARY, book["owner"])[1] == after[1]
    assert early_answers == [SUMMARY, SUMMARY]


def test_other_spellings_and_query_strings_go_the_full_way(
    client: Client, book: dict[str, str], early_answers: list[str]
) -> None:
    credit_id = book["credit"].rsplit("/", 1)[1]
    assert _get(client, book["credit"], book["owner"])[0] == 200
    upper = _get(client, f"/api/v1/credits/{credit_id.upper()}", book["owner"])
    with_query = _get(client, book["credit"] + "?x=1", book["owner"])
    assert early_answers == []
    assert upper[0] == with_query[0] == 200
    assert _get(client, book["credit"], book["owner"])[1] == upper[1] == with_query[1]
    assert early_answers == [book["credit"]]


def test_a_foreign_host_gets_the_full_paths_400_and_nothing_of_the_cached_read(
    client: Client, book: dict[str, str], early_answers: list[str]
) -> None:
    """The early answer goes out through the Host check (CommonMiddleware, above EarlyAnswers)."""
    cached = _get(client, SUMMARY, book["owner"])
    assert cached[0] == 200
    refused = _get(client, SUMMARY, book["owner"], HTTP_HOST="evil.example")
    full = _get(Client(), SUMMARY, book["owner"], HTTP_HOST="evil.example")
    assert refused[0] == full[0] == 400
    assert refused[1] == full[1] and refused[2] == full[2]
    assert cached[1] not in refused[1]


def _wsgi_get(app: Callable[..., Any], path: str, token: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """A GET as a WSGI server makes it: the status line, the header list and the body's bytes."""
    environ = RequestFactory().get(path, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID="wsgi-test").environ
    started: list[tuple[str, list[tuple[str, str]]]] = []
    result = app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()  # as a server does: Django's request_finished
    return started[0][0], sorted(started[0][1]), body


@pytest.mark.django_db(transaction=True)  # Django's own handler closes a connection left inside a test's transaction
@pytest.mark.parametrize(("path", "caller"), CALLERS)
def test_under_a_wsgi_server_the_front_answers_a_hit_as_djangos_handler_would(
    book: dict[str, str], early_answers: list[str], path: str, caller: str
) -> None:
    from config.wsgi import application, django_application

    path = book.get(path, path)
    token = book[caller]
    miss = _wsgi_get(application, path, token)  # passed on to Django, which builds and stores
    assert early_answers == []
    hit = _wsgi_get(application, path, token)
    assert early_answers == [path]
    full = _wsgi_get(django_application, path, token)
    assert hit[0] == miss[0] == full[0] == "200 OK"
    assert hit[2] == miss[2] == full[2]
    assert hit[1] == full[1] == miss[1], "the same headers with the same values"
    assert ("X-Request-ID", "wsgi-test") in hit[1] and ("Cache-Control", "no-store") in hit[1]


def _requests_of(route: str) -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "http_requests_total" and sample.labels.get("route") == route:
                total += sample.value
    return total


def test_an_early_answer_is_counted_under_its_endpoints_route(
    client: Client, book: dict[str, str], early_answers: list[str]
) -> None:
    route = "api/v1/credits/<credit_id>"
    _get(client, book["credit"], book["owner"])
    before = _requests_of(route)
    _get(client, book["credit"], book["owner"])
    assert early_answers == [book["credit"]]
    assert _requests_of(route) == before + 1


_FIRST_REQUEST = """
import io, sys
from config.wsgi import application
statuses = []
environ = {
    "REQUEST_METHOD": "GET", "PATH_INFO": sys.argv[1], "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http",
    "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "HTTP_AUTHORIZATION": "Bearer not-a-token",
}
body = b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
print(statuses[0], body.decode())
"""


@pytest.mark.parametrize("path", [SUMMARY, "/api/v1/credits/0b3c5b6e-1d2f-4a4b-9c9d-1e2f3a4b5c6d"])
def test_a_hot_read_as_a_fresh_workers_first_request_is_answered(path: str) -> None:
    """A server's worker may get a hot read before any other request: the early path must not find
    the API unwired (its services are wired when the URLconf is imported, at the first resolve)."""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST, path],
        env={**os.environ, "PYTHONPATH": str(root / "src"), "LOG_LEVEL": "WARNING"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("401 "), result.stdout + result.stderr[-3000:]
