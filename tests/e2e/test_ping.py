"""The liveness ping (also the benchmark's no-op): no auth, no dependency, an empty object."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


@pytest.mark.django_db
def test_ping_answers_an_empty_object_without_auth_or_queries(client: Client) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/ping")
    assert response.status_code == 200
    assert response.json() == {}
    assert len(queries) == 0
