"""The API's request cycle: an /api/ request goes through the middleware that act on it, and only those.

Django runs settings.MIDDLEWARE as one chain for every path: each entry a layer of calls wrapped in
its own exception-to-response conversion. Six of its fifteen entries did nothing under /api/ (the
admin's sessions, CSRF, users and messages, WhiteNoise's static files, the early answers' mark), yet
each one was called, returned, and was converted around, on every request. `ApiPipeline`, the first
entry of settings.MIDDLEWARE, sends an /api/ request through settings.API_MIDDLEWARE instead (the
entries that act on it, in the same order, the three that set headers made one:
api.http.middleware.ApiHeadersMiddleware, and CommonMiddleware as ApiCommonMiddleware, its Host
check remembered; built once as Django builds its chain) and then to the
view as Django's handler calls it; every other path (the admin, static files, metrics) goes on down
settings.MIDDLEWARE as before. The hot reads' early answers go out through the same list, down to
its mark (api.hot_reads).

The API's views need none of the view hooks Django collects apart from the chain: CSRF guards
cookie sessions, which the API does not read (its callers send bearer tokens), Ninja's operations
are exempt from it, and its documentation pages answer GET and HEAD only (api.app.served_urls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

API_PREFIX = "/api/"
Handler = Callable[[HttpRequest], HttpResponse]


def chain(dotted_paths: list[str], inner: Handler) -> Handler:
    """These middleware around `inner`, as django.core.handlers.base.BaseHandler.load_middleware
    builds them (each one's exceptions turned into responses); none of them has view hooks."""
    handler = convert_exception_to_response(inner)
    for dotted in reversed(dotted_paths):
        try:
            middleware = import_string(dotted)(handler)
        except MiddlewareNotUsed:
            continue
        handler = convert_exception_to_response(middleware)
    return handler  # type: ignore[return-value]  # sync middleware: responses, never awaitables


class _Views(BaseHandler):
    """Django's own view call (URL resolution, the view, its exceptions), without view hooks."""

    def __init__(self) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self._get_response(request)  # type: ignore[attr-defined]  # private to Django's handlers


class ApiPipeline:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response  # the rest of settings.MIDDLEWARE: every other path
        self.api = chain(settings.API_MIDDLEWARE, _Views())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.api(request)
        return self.get_response(request)
