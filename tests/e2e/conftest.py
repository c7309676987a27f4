from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client
from django.test.client import ClientHandler, conditional_content_removal

from api.hot_reads import EarlyPath
from tests.factories import PASSWORD, UserFactory


class FrontHandler(ClientHandler):
    """The test client's handler behind the production WSGI front (api.hot_reads.HotReadsFront): a
    hit of a hot read is answered by its early path, the rest by Django, as under the server."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.early = EarlyPath()

    def __call__(self, environ: dict[str, Any]) -> HttpResponse:
        early = self.early.answer(environ)
        if early is None:
            return super().__call__(environ)
        request, response = early
        conditional_content_removal(request, response)
        response.wsgi_request = request  # type: ignore[attr-defined]  # as ClientHandler attaches it
        return response


class FrontClient(Client):
    """Django's test client through the same front the servers run (config.wsgi)."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__(**defaults)
        self.handler = FrontHandler(enforce_csrf_checks=False)


@pytest.fixture
def client() -> Client:
    return FrontClient()


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
