from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def login(client: Client) -> Callable[..., dict]:
    def _login(username: str, password: str = PASSWORD, address: str = "127.0.0.1") -> dict:
        response = client.post(
            "/api/v1/auth/token",
            {"username": username, "password": password},
            content_type="application/json",
            REMOTE_ADDR=address,
        )
        assert response.status_code == 200, response.content
        return response.json()

    return _login


@pytest.fixture
def user_factory() -> type[UserFactory]:
    return UserFactory
