"""The admin's middleware (sessions, CSRF cookie, request.user, messages) is skipped under /api/."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from api.http import admin_middleware


def _seen(path: str) -> HttpRequest:
    seen: list[HttpRequest] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse("ok")

    chain = admin_middleware.MessageMiddleware(view)
    chain = admin_middleware.AuthenticationMiddleware(chain)
    chain = admin_middleware.SessionMiddleware(chain)
    chain(RequestFactory().get(path))
    return seen[0]


def test_api_requests_skip_sessions_users_and_messages() -> None:
    request = _seen("/api/v1/ping")
    assert not hasattr(request, "session")
    assert not hasattr(request, "user")
    assert not hasattr(request, "_messages")


def test_other_requests_get_them() -> None:
    request = _seen("/admin/")
    assert hasattr(request, "session") and hasattr(request, "user") and hasattr(request, "_messages")


def test_they_are_djangos_own_for_the_admin_checks() -> None:
    assert issubclass(admin_middleware.AuthenticationMiddleware, auth_middleware.AuthenticationMiddleware)
    assert "api.http.admin_middleware.SessionMiddleware" in settings.MIDDLEWARE


@pytest.mark.django_db
def test_the_admin_login_page_still_sets_its_csrf_cookie() -> None:
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert settings.CSRF_COOKIE_NAME in response.cookies
