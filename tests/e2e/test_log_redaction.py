"""No credential reaches a log line, an error envelope or a metric.

Each scenario sends one kind of secret the wrong way (a Basic header, a valid JWT under another
scheme, bearer garbage, a malformed header, cookies, an Idempotency-Key, a wrong password, a bad or
reused refresh token, a password the validators refuse) while EVERY logger is opened to DEBUG and
every handler the logging config installed writes into one buffer. The formatted lines (what an
operator's log store receives), the response bodies and the /metrics text must not contain the
secret. Run with DEBUG on (where django-ninja logged `Unexpected auth - '<header>'` at ERROR, once
through Django's own console handler and once through ours) and off.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from tests.builders import open_credit, payment_account
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def _handlers_of_the_config() -> list[tuple[logging.Logger, logging.Handler]]:
    """Every handler on every logger, except pytest's own capture handlers."""
    loggers = [logging.root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    return [(lg, h) for lg in loggers for h in lg.handlers if not type(h).__module__.startswith("_pytest")]


@contextmanager
def every_log_line() -> Iterator[io.StringIO]:
    """All loggers at DEBUG, every stream handler of the config writing (formatted, filtered) here."""
    out = io.StringIO()
    loggers = [logging.root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    swapped: list[tuple[logging.StreamHandler, Any]] = []
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    for _lg, handler in _handlers_of_the_config():
        if isinstance(handler, logging.StreamHandler):
            swapped.append((handler, handler.setStream(out)))
    try:
        yield out
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled


@dataclass
class Sent:
    """What a scenario sent: the secrets, and the responses that must not echo them."""

    secrets: list[str]
    responses: list[Any] = field(default_factory=list)


@dataclass
class World:
    client: Client
    access_token: str
    refresh_token: str
    agent_token: str
    credit_id: str
    account_id: int


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _get_me(client: Client, authorization: str) -> Any:
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=authorization)


def basic_header(w: World) -> Sent:
    blob = _b64("leak-client:Basic-Secret-pw-4417")
    return Sent([blob, "Basic-Secret-pw-4417"], [_get_me(w.client, f"Basic {blob}")])


def token_scheme_with_a_valid_jwt(w: World) -> Sent:
    signature = w.access_token.rsplit(".", 1)[1]
    return Sent([w.access_token, signature], [_get_me(w.client, f"Token {w.access_token}")])


def bearer_garbage(w: World) -> Sent:
    garbage = "garbage-Zq81vXk2-not-a-jwt-at-all"
    return Sent([garbage], [_get_me(w.client, f"Bearer {garbage}")])


def a_jwt_with_no_scheme(w: World) -> Sent:
    signature = w.access_token.rsplit(".", 1)[1]
    return Sent([w.access_token, signature], [_get_me(w.client, w.access_token)])


def a_jwt_with_junk_around_it(w: World) -> Sent:
    signature = w.access_token.rsplit(".", 1)[1]
    replies = [
        _get_me(w.client, f"Bearer  {w.access_token} trailing-Junk-99"),
        _get_me(w.client, f"bearer\t{w.access_token}"),
        _get_me(w.client, f"JWT {w.access_token}"),
    ]
    return Sent([w.access_token, signature, "trailing-Junk-99"], replies)


def cookies(w: World) -> Sent:
    w.client.cookies["sessionid"] = "sessionCookieSecret81x"
    w.client.cookies["csrftoken"] = "csrfCookieSecret27q"
    replies = [w.client.get("/api/v1/me"), w.client.get("/admin/"), w.client.post("/admin/login/", {})]
    w.client.cookies.clear()
    return Sent(["sessionCookieSecret81x", "csrfCookieSecret27q"], replies)


def idempotency_key(w: World) -> Sent:
    key = "idem-Key-Secret-5c1e9"
    body = {
        "amount": {"amount": "10.00", "currency": "COP"},
        "lines": [{"payment_account_id": w.account_id, "amount": {"amount": "10.00", "currency": "COP"}}],
    }

    def post(payload: dict, key: str) -> Any:
        return w.client.post(
            f"/api/v1/credits/{w.credit_id}/payments",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {w.agent_token}",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first = post(body, key)
    assert first.status_code == 201, first.content
    other = {**body, "amount": {"amount": "11.00", "currency": "COP"}}
    other["lines"] = [{"payment_account_id": w.account_id, "amount": {"amount": "11.00", "currency": "COP"}}]
    conflict = post(other, key)
    assert conflict.status_code == 409, conflict.content
    too_long = "idem-Overlong-Secret-" + "x" * 400
    return Sent([key, too_long[:40]], [post(body, key), conflict, post(body, too_long)])


def login_with_a_wrong_password(w: World) -> Sent:
    replies = [
        w.client.post(
            "/api/v1/auth/token", {"username": name, "password": "Wrong-Login-pw-6620"}, content_type="application/json"
        )
        for name in ("leak-client", "no-such-user-here")
    ]
    assert [r.status_code for r in replies] == [401, 401]
    admin_form = w.client.post("/admin/login/", {"username": "leak-client", "password": "Wrong-Login-pw-6620"})
    return Sent(["Wrong-Login-pw-6620"], [*replies, admin_form])


def refresh_with_a_bad_token(w: World) -> Sent:
    bad = "bad-Refresh-Secret-0a8f2e7d"
    replies = [
        w.client.post("/api/v1/auth/refresh", {"refresh_token": bad}, content_type="application/json"),
        w.client.post("/api/v1/auth/logout", {"refresh_token": bad}, content_type="application/json"),
        w.client.post("/api/v1/auth/refresh", {"refresh_token": "short-Secret"}, content_type="application/json"),
    ]
    return Sent([bad, "short-Secret"], replies)


def refresh_token_reused(w: World) -> Sent:
    first = w.client.post("/api/v1/auth/refresh", {"refresh_token": w.refresh_token}, content_type="application/json")
    assert first.status_code == 200, first.content
    reused = w.client.post("/api/v1/auth/refresh", {"refresh_token": w.refresh_token}, content_type="application/json")
    assert reused.status_code == 401, reused.content
    # The rotated pair came back in `first` (that is its job); the family is now revoked, so it is
    # refused too and must not be echoed either.
    rotated = first.json()["refresh_token"]
    again = w.client.post("/api/v1/auth/refresh", {"refresh_token": rotated}, content_type="application/json")
    assert again.status_code == 401
    return Sent([w.refresh_token, rotated], [reused, again])


def passwords_the_validators_refuse(w: World) -> Sent:
    def onboard(password: str) -> Any:
        body = {"username": "leak.new", "password": password, "first_name": "N", "last_name": "C"}
        return w.client.post(
            "/api/v1/clients", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {w.agent_token}"
        )

    numeric, long_one = "58203947182630417", "Overlong-Secret-pw-" + "y" * 200
    replies = [onboard(numeric), onboard(long_one)]
    assert [r.status_code for r in replies] == [422, 422], [r.content for r in replies]
    broken = w.client.post(
        "/api/v1/auth/token",
        '{"username": "leak-client", "password": "Broken-Json-pw-3391"',
        content_type="application/json",
    )
    return Sent([numeric, long_one[:40], "Broken-Json-pw-3391"], [*replies, broken])


SCENARIOS: list[Callable[[World], Sent]] = [
    basic_header,
    token_scheme_with_a_valid_jwt,
    bearer_garbage,
    a_jwt_with_no_scheme,
    a_jwt_with_junk_around_it,
    cookies,
    idempotency_key,
    login_with_a_wrong_password,
    refresh_with_a_bad_token,
    refresh_token_reused,
    passwords_the_validators_refuse,
]


@pytest.fixture
def world(client: Client, login: Callable[..., dict]) -> World:
    UserFactory(username="leak-client", role="client")
    agent = UserFactory(username="leak-agent", role="agent")
    credit = open_credit(UserFactory(username="leak-borrower", role="client"), agent)
    account = payment_account("COP")
    tokens = login("leak-client", PASSWORD)
    return World(
        client=client,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        agent_token=login("leak-agent", PASSWORD)["access_token"],
        credit_id=str(credit.id),
        account_id=account.id,
    )


@pytest.mark.parametrize("debug", [True, False], ids=["DEBUG", "no-DEBUG"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_no_secret_reaches_a_log_line_an_answer_or_a_metric(
    world: World, settings: Any, scenario: Callable[[World], Sent], debug: bool
) -> None:
    settings.DEBUG = debug
    with every_log_line() as out:
        sent = scenario(world)
    logged = out.getvalue()
    assert logged, "nothing was captured: the capture is broken, not the redaction"
    metrics = world.client.get("/metrics").content.decode()
    for secret in sent.secrets:
        assert secret not in logged, f"{secret!r} logged:\n" + "\n".join(
            line for line in logged.splitlines() if secret in line
        )
        # JSON log lines escape some characters: look for the escaped form too.
        assert json.dumps(secret)[1:-1] not in logged
        assert secret not in metrics
        for reply in sent.responses:
            assert secret not in reply.content.decode(errors="replace"), (reply.status_code, reply.content)


def test_every_log_handler_redacts() -> None:
    """A handler added beside the root's (Django's default `django` console and mail_admins
    handlers were two) would write what the root's filter scrubs: every handler carries it."""
    from api.http.redaction import RedactSecretsFilter

    bare = [
        (lg.name, type(h).__name__)
        for lg, h in _handlers_of_the_config()
        if not isinstance(h, logging.NullHandler) and not any(isinstance(f, RedactSecretsFilter) for f in h.filters)
    ]
    assert not bare
