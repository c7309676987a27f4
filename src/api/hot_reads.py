"""Cache hits of the hot reads answered in front of Django's WSGI handler: before its request
signals, URL resolution, the inner middleware and Ninja's machinery, which cost more CPU than the
hit itself (BENCHMARKS.md, "The request cycle").

`HotReadsFront` is the WSGI application the servers run (config.wsgi). For a GET without a query
string whose path is one of HOT_READS (the raw path: their patterns are ASCII, so no decoding can
change a match), `EarlyPath.answer` authenticates the bearer token with the API's own `bearer`, asks
the read cache for the endpoint's own entry (`HotRead.where`) and cuts the caller's answer from it
with the endpoint's own check (`HotRead.answer`). It answers only that: no token, a bad one, a miss,
a refusal or a cache that cannot be trusted goes to Django's handler, where the endpoint builds,
stores or refuses as always. So the two paths cannot disagree on who sees what;
tests/e2e/test_hot_reads.py shows them byte-identical, at the WSGI level too.

The answer then goes out through the same middleware the full path runs before this point: the
entries of settings.API_MIDDLEWARE above `EarlyAnswers` (request id and access line, metrics, security
headers, the error envelope, the input guard, the Host check), built as Django builds its chain, so
a foreign Host is the same 400 and every header is the same. Django's own handler leaves
`EarlyAnswers` out of its chain: it only marks the place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch, get_resolver, resolve
from django.utils.log import log_response

from api.app import MOUNT
from api.clients.router import MY_SUMMARY
from api.credits.router import DETAIL
from api.deps import services
from api.http.cached import HotRead
from api.http.pipeline import chain
from api.http.security import bearer

HOT_READS: tuple[HotRead, ...] = (MY_SUMMARY, DETAIL)
ROOT = "/" + MOUNT.rstrip("/")
MARK = "api.hot_reads.EarlyAnswers"
logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class EarlyAnswers:
    """The place of the early answers in settings.API_MIDDLEWARE (after the Host check): `EarlyPath`
    runs the entries above it. In Django's own chain it is not used."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        raise MiddlewareNotUsed


class EarlyPath:
    def __init__(self) -> None:
        self._routes: dict[HotRead, ResolverMatch] = {}
        # The API is built and its services wired when the URLconf is imported, which Django does at
        # the first URL resolution; a worker's first request may be answered here, before any.
        get_resolver().url_patterns  # noqa: B018 - the import is the point
        self._outer = chain(settings.API_MIDDLEWARE[: settings.API_MIDDLEWARE.index(MARK)], _prepared)

    def answer(self, environ: dict[str, Any]) -> tuple[WSGIRequest, HttpResponse] | None:
        """The request and its answer when it is a hit this caller may see, else None (untouched)."""
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING") or not path.startswith(ROOT):
            return None
        for hot in HOT_READS:
            found = hot.path.fullmatch(path, len(ROOT))
            if found is not None:
                break
        else:
            return None
        request = WSGIRequest(environ)
        try:
            body = self._hit(request, hot, found.groupdict())
        except Exception:  # the full path meets the same fault and answers it in the API's terms
            logger.exception("the early path failed; the request goes the full way")
            return None
        if body is None:
            return None
        request.early_answer = HttpResponse(body, content_type="application/json")  # type: ignore[attr-defined]
        response: HttpResponse = self._outer(request)
        if response.status_code >= 400:  # as Django's handler logs them (a foreign Host's 400)
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return request, response

    def _hit(self, request: WSGIRequest, hot: HotRead, params: dict[str, str]) -> bytes | None:
        principal = bearer(request)
        if principal is None:
            return None
        read = hot.where(principal, params)
        stored = services().read_cache.get(read.name, read.subjects, read.variant)
        body = None if stored is None else hot.answer(principal, stored)
        if body is None:
            return None
        request.auth = principal  # type: ignore[attr-defined]  # as Ninja sets it: the caller, for whoever asks
        request.resolver_match = self._match(hot, request.path_info, params)  # the metrics' route label
        return body

    def _match(self, hot: HotRead, path: str, params: dict[str, str]) -> ResolverMatch:
        """The match URL resolution would give (resolved once per hot read: its view and route)."""
        first = self._routes.get(hot)
        if first is None:
            first = self._routes[hot] = resolve(path)
        if first.kwargs == params:
            return first
        app_names: list[str | None] = [*first.app_names]
        namespaces: list[str | None] = [*first.namespaces]
        return ResolverMatch(first.func, (), params, first.url_name, app_names, namespaces, route=first.route)


def _prepared(request: HttpRequest) -> HttpResponse:
    return request.early_answer  # type: ignore[attr-defined]


class HotReadsFront:
    """The WSGI application: a hit answered by `EarlyPath`, everything else by Django's handler."""

    def __init__(self, django_app: WSGIApp) -> None:
        self.django_app = django_app
        self.early = EarlyPath()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        early = self.early.answer(environ)
        if early is None:
            return _as_bytes(self.django_app(environ, start_response))
        _, response = early
        headers = [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        if response.streaming:  # no outer middleware streams an API answer; were one to, the server closes it
            return response
        # The bytes, not the response: closing a Django response sends request_finished, whose
        # receivers (database connections, caches) have nothing to do for an answer that used none.
        return [response.content]


def _as_bytes(answer: Iterable[bytes]) -> Iterable[bytes]:
    """Django's answer as one list of bytes, closed here (request_finished sent) before the server
    gets it, as the early path hands its answers: a WSGI server sends a list in one go, and walks any
    other iterable chunk by chunk before closing it (under granian, `response_iter`: a fifth of a
    no-op's GIL-held samples, though within the noise in CPU; BENCHMARKS.md, "Django's answers handed
    to the server as bytes"). A streaming answer (a file, a generator) stays an iterator the server
    walks and closes."""
    if not isinstance(answer, HttpResponse):  # streaming responses are not HttpResponse subclasses
        return answer
    try:
        return [answer.content]
    finally:
        answer.close()
