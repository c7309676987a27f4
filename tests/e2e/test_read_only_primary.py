"""A write that reaches a server in read-only mode (during a failover the balancer may still send a
connection to a standby being promoted, or to a demoted primary) is a 503 with Retry-After, like a
database that is down: the client retries with its Idempotency-Key. Found by the failover drill
(deploy/ha): such payments answered 500."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.db import connection

from tests.e2e.test_book_commands import _open, book, cop  # noqa: F401  (book is a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_a_payment_on_a_read_only_server_is_a_503_to_retry(book: dict, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    credit = _open(book)
    body = {"amount": cop("10.00"), "lines": [{"payment_account_id": book["cash"], "amount": cop("10.00")}]}
    key = uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute("SET default_transaction_read_only = on")
    try:
        with caplog.at_level(logging.WARNING):
            refused = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body, key=key)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = off")
    assert refused.status_code == 503, refused.content
    assert refused["Retry-After"] == "1" and refused.json()["error"]["code"] == "unavailable"
    # Logged once, as the warning with its cause; not also as Django's ERROR "Service Unavailable".
    assert [r.levelname for r in caplog.records if r.name == "api.errors"] == ["WARNING"]
    assert not [r for r in caplog.records if r.name == "django.request"], caplog.records
    retried = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body, key=key)
    assert retried.status_code == 201, retried.content  # the first attempt wrote nothing: it runs now


def test_a_commit_whose_answer_is_garbled_is_a_503_to_retry(book: dict, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Found by CI's failover drill: a server connection cut mid-COMMIT behind pgbouncer made psycopg
    raise its own InternalError (no SQLSTATE), answered 500. The outcome is unknown: 503, retry with the key."""
    import psycopg

    credit = _open(book)
    body = {"amount": cop("10.00"), "lines": [{"payment_account_id": book["cash"], "amount": cop("10.00")}]}

    def garbled(self: psycopg.Connection) -> None:
        raise psycopg.errors.InternalError("received 2 results from command 'COMMIT'")

    monkeypatch.setattr(psycopg.Connection, "commit", garbled)
    refused = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", body, key=uuid.uuid4().hex)
    monkeypatch.undo()
    assert refused.status_code == 503, refused.content
    assert refused["Retry-After"] == "1" and refused.json()["error"]["code"] == "unavailable"
