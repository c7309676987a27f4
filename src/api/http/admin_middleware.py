"""The admin's middleware (sessions, the CSRF cookie, `request.user`, messages), skipped under /api/.

They serve the admin's cookie sessions; the API authenticates each request by its bearer token and
uses none of them, yet they cost about a fifth of a cached read's CPU (measured with the benchmark,
BENCHMARKS.md). Under /api/ the request goes straight through; elsewhere they run as Django's own.
Served, an /api/ request no longer reaches them at all (api.http.pipeline sends it through
settings.API_MIDDLEWARE); the skip holds for any chain built without that split.
CSRF's process_view still runs for every view (Django collects it apart), and Ninja's views are
csrf_exempt. Subclasses of Django's classes, so the admin's checks of MIDDLEWARE recognise them.

A module of its own: importing django.contrib.auth's middleware needs the app registry, and
api.http.middleware is imported while logging is configured, before it.
"""

from __future__ import annotations

from collections.abc import Awaitable

from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware import csrf
from django.utils.deprecation import MiddlewareMixin

from api.http.pipeline import API_PREFIX


class _NotForTheApi(MiddlewareMixin):
    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_NotForTheApi, sessions_middleware.SessionMiddleware):
    pass


class CsrfViewMiddleware(_NotForTheApi, csrf.CsrfViewMiddleware):
    pass


class AuthenticationMiddleware(_NotForTheApi, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(_NotForTheApi, messages_middleware.MessageMiddleware):
    pass
