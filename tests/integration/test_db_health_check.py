"""The per-request health check of persistent connections: no round trip on a healthy connection,
and a connection the server closed is replaced before the request's first query."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection
from django.test import Client

from tests.connections import conninfo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def _server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_a_healthy_connection_is_checked_without_a_query(monkeypatch: pytest.MonkeyPatch) -> None:
    _server_pid()  # connected
    raw = connection.connection
    sent: list[str] = []
    real_cursor = raw.cursor

    def counting_cursor(*args: object, **kwargs: object) -> object:
        sent.append("cursor")
        return real_cursor(*args, **kwargs)

    monkeypatch.setattr(raw, "cursor", counting_cursor)
    assert connection.is_usable()
    assert sent == []  # Django's own check would have opened a cursor for SELECT 1


def test_a_connection_the_server_closed_is_replaced_before_the_next_request(settings: object) -> None:
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    first = _server_pid()
    with psycopg.connect(conninfo(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first])
    time.sleep(0.2)  # the termination notice reaches the socket
    assert not connection.is_usable()
    # What Django does at the start of a request; then the request's query runs on a new connection.
    connection.close_if_unusable_or_obsolete()
    response = Client().get("/api/v1/health")
    assert response.status_code == 200
    assert _server_pid() != first
