"""Request ids, metrics and the error envelope for responses that did not come from a Ninja view."""

from __future__ import annotations

import base64
import contextvars
import hashlib
import itertools
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware

from api.http import metrics
from api.http.errors import envelope
from api.http.redaction import current_request, current_secrets, redact_text

access_log = logging.getLogger("api.access")
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdLogFilter(logging.Filter):
    """Puts the current request id on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _RequestIds:
    """Unique request ids without a system call each: a random 64-bit prefix per process (drawn again
    in a forked child, so workers never share one) and a counter, as 32 hex digits. uuid4() read
    os.urandom per request, and that system call let the server's threads take the GIL: about 7 %
    of the no-op request's samples under granian (py-spy). Unique is all a request id must be."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


new_request_id = _RequestIds().next


class RequestIdMiddleware:
    """Take the balancer's X-Request-ID when it is well formed, else make one; echo it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # request.META, not request.headers: that builds a mapping of every header on first use.
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        ours = not _VALID_ID.match(incoming)
        request_id = new_request_id() if ours else incoming
        token = request_id_var.set(request_id)
        request_token = current_request.set(request)  # whose secrets the log filter and envelopes redact
        request.request_id = request_id  # type: ignore[attr-defined]  # for the audit trail's origin
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            if access_log.isEnabledFor(logging.INFO):  # LOG_LEVEL, as for every line
                write_access_line(request_id, request, response.status_code, time.perf_counter() - started, ours=ours)
        finally:
            current_request.reset(request_token)
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


_access_lock = threading.Lock()
# Methods a client cannot put a secret in: the line writes them as they are.
_PLAIN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_stamp: tuple[int, str] = (-1, "")  # the current second as the formatter writes it (one strftime a second)


def write_access_line(
    request_id: str, request: HttpRequest, status: int, seconds: float, *, ours: bool = False
) -> None:
    """The access line, one JSON object like every log line (same keys as the configured formatter's),
    written to stderr without the logging machinery: a LogRecord, the redaction filter over every
    field and python-json-logger cost ~110 µs of CPU per request under granian (a quarter of a
    no-op request; LOG_LEVEL=WARNING measured 434 -> 325 µs) for five fields we already know. The
    fields a client controls (request id, method, path) are redacted as the filter would; a request
    id of `ours` (generated: hex digits) and a standard method need not be."""
    global _stamp
    now = time.time()
    second = int(now)
    if _stamp[0] != second:
        _stamp = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)))
    secrets = current_secrets()
    method = request.method or "-"
    line = orjson.dumps(
        {
            "ts": f"{_stamp[1]},{int(now % 1 * 1000):03d}",
            "level": "INFO",
            "logger": "api.access",
            "message": "request",
            "request_id": request_id if ours else redact_text(request_id, secrets),
            "method": method if method in _PLAIN_METHODS else redact_text(method, secrets),
            "path": redact_text(request.path, secrets),
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
    ).decode()
    with _access_lock:  # whole lines: the server's threads share the stream
        sys.stderr.write(line + "\n")


@contextmanager
def _uncounted() -> Iterator[list[int]]:
    yield [0]


class MetricsMiddleware:
    """Latency and count per route template (not per raw path: ids would explode the label set).

    The SQL statements of a request are counted by `count_queries`, which config installs (the
    database's instrumentation is an adapter: config.middleware.MetricsMiddleware)."""

    count_queries: Callable[[], AbstractContextManager[list[int]]] = staticmethod(_uncounted)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        with self.count_queries() as queries:
            response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        metrics.observe_request(
            request.method or "-", route, response.status_code, time.perf_counter() - started, queries[0]
        )
        return response


class ApiErrorEnvelopeMiddleware:
    """Wrap plain Django error pages under /api/ (unknown path 404, 405, 400...) in the envelope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            details = {"request_id": request_id_var.get()} if response.status_code >= 500 else None
            wrapped = envelope(response.status_code, _message(response), details=details)
            if response.has_header("Allow"):
                wrapped["Allow"] = response["Allow"]
            return wrapped
        return response


def _message(response: HttpResponse) -> str:
    if response.status_code == 404:
        return "Not found."
    if response.status_code == 405:
        return f"Method not allowed. Allowed: {response.get('Allow', '')}."
    return "The request could not be served."


# Nothing in a JSON answer may load, run or frame anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The admin's pages: its own scripts and styles only (it sets a few style attributes inline).
ADMIN_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Ninja's Swagger UI comes from our own static files (ninja is an installed app): nothing loads from
# elsewhere, so the docs work offline. An inline script, should the template gain one, by its hash.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_csp(html: bytes) -> str:
    """The docs page's CSP: its inline scripts by their sha256, so a changed template still works."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return DOCS_CSP.format(hashes=hashes)


class SecurityHeadersMiddleware:
    """What Django's SecurityMiddleware does not set: a Content-Security-Policy on every response,
    X-Frame-Options where Django's clickjacking middleware never runs (static files), and
    `Cache-Control: no-store` on every API answer (tokens, balances: nothing for a shared cache).

    Placed right after SecurityMiddleware, so whatever answers inside it (WhiteNoise, the error
    envelope, Django's error pages) goes out with them too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        path = request.path
        if "Content-Security-Policy" not in response:
            if path.startswith("/api/") and path.endswith("/docs") and not response.streaming:
                response["Content-Security-Policy"] = docs_csp(response.content)
            elif path.startswith("/admin/"):
                response["Content-Security-Policy"] = ADMIN_CSP
            else:
                response["Content-Security-Policy"] = API_CSP
        if "X-Frame-Options" not in response:
            response["X-Frame-Options"] = "DENY"
        if path.startswith("/api/") and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store"
        return response


class ApiHeadersMiddleware:
    """The headers of an API answer, in one step: what Django's SecurityMiddleware (the SSL redirect,
    HSTS, nosniff, the referrer and opener policies), `SecurityHeadersMiddleware` (CSP, no-store)
    and Django's XFrameOptionsMiddleware set on it, each where the view did not set its own. The
    three run for the site's paths still; under /api/ (settings.API_MIDDLEWARE) this replaces them.

    Those set six headers an answer, each through Django's header code (a charset check and
    conversion of name and value): ~11 µs of a no-op request's ~120 in process. Here the constant
    ones are made once, by that same code, and each answer gets the entries it lacks. What depends
    on the request goes through Django's middleware as before: the redirect when SECURE_SSL_REDIRECT
    is on, HSTS on a secure request when SECURE_HSTS_SECONDS is set; the docs' CSP hashes its page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._security = SecurityMiddleware(get_response)
        probe = HttpResponse()
        del probe["Content-Type"]
        self._security.process_response(HttpRequest(), probe)  # a plain request's: no HSTS
        probe["Content-Security-Policy"] = API_CSP
        probe["X-Frame-Options"] = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()
        probe["Cache-Control"] = "no-store"
        self._entries = tuple(probe.headers._store.items())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        security = self._security
        response = (security.redirect and security.process_request(request)) or self.get_response(request)
        store = response.headers._store
        if "content-security-policy" not in store and request.path.endswith("/docs") and not response.streaming:
            response["Content-Security-Policy"] = docs_csp(response.content)
        if "x-frame-options" not in store and getattr(response, "xframe_options_exempt", False):
            response["X-Frame-Options"] = "DENY"  # as SecurityHeadersMiddleware sets where Django's does not
        for lower, entry in self._entries:
            if lower not in store:
                store[lower] = entry
        if security.sts_seconds and request.is_secure():
            security.process_response(request, response)
        return response


class ApiCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware with its Host check remembered per Host header value.

    Each request's `get_host()` reads four settings through Django's lazy settings object and runs
    two regular expressions over the header, ~7 µs of a cached read's ~150 in process, for the same
    few Host values all day. Here a value once found allowed is remembered (at most HOSTS_KEPT of
    them: the header is the client's), and an unknown value takes Django's own check, which raises
    what it raises. The forbidden user agents, PREPEND_WWW, the slash redirect of a 404 and the
    Content-Length are Django's, unchanged; a change of any setting they read forgets what is kept."""

    HOSTS_KEPT = 64
    _SETTINGS = frozenset({"ALLOWED_HOSTS", "DEBUG", "USE_X_FORWARDED_HOST", "DISALLOWED_USER_AGENTS", "PREPEND_WWW"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self._allowed: set[str] = set()
        setting_changed.connect(self._setting_changed, weak=True)

    def _setting_changed(self, *, setting: str, **_: object) -> None:
        if setting in self._SETTINGS:
            self._allowed.clear()

    def process_request(self, request: HttpRequest) -> HttpResponsePermanentRedirect | None:
        raw = request._get_raw_host()  # type: ignore[attr-defined]  # what get_host() validates (not in the stubs)
        if raw in self._allowed:
            return None  # allowed before, under the same settings: nothing else here acts then
        response = super().process_request(request)
        if response is None and not settings.DISALLOWED_USER_AGENTS and not settings.PREPEND_WWW:
            if len(self._allowed) >= self.HOSTS_KEPT:
                self._allowed.clear()
            self._allowed.add(raw)
        return response
