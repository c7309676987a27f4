"""Every keyset list answers a forged cursor (right length, wrong value types) with a 422; before,
/credits and /transactions handed the values to PostgreSQL and answered 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

LISTS = [
    "/api/v1/credits",
    "/api/v1/transactions",
    "/api/v1/collections/due-today",
    "/api/v1/clients",
    "/api/v1/audit",
]


@pytest.mark.parametrize("path", LISTS)
def test_a_forged_cursor_is_a_422(client: Client, login: Callable[..., dict], path: str) -> None:
    UserFactory(username="root-cursor", role="admin")
    token = login("root-cursor")["access_token"]
    arity = 1 if path.endswith("/clients") else 2
    cursor = base64.urlsafe_b64encode(json.dumps([["v", 5]] * arity).encode()).decode().rstrip("=")
    response = client.get(f"{path}?cursor={cursor}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 422, (path, response.status_code, response.content[:200])
    assert response.json()["error"]["code"] == "invalid_input"
