"""Keeping credentials out of log lines and error envelopes.

Two nets, applied to every log record by `RedactSecretsFilter` (on every handler of the logging
config) and to every error envelope (`api.http.errors.envelope`):

1. The secrets of the request being served, by value: the Authorization, Proxy-Authorization,
   Cookie and Idempotency-Key headers (whole, and each credential inside them, a Basic header's
   decoded password included) and the values of password/token fields in its body. Wherever one
   of them turns up (a message, an SQL statement's parameters in a DEBUG log, an exception's text,
   an error's details) it is replaced. The request comes from the record itself (Django's
   `django.request` logs it as an extra) or from `current_request`, set by the outermost middleware.
2. Shapes, for lines written outside a request (workers, commands): an auth scheme followed by a
   credential, anything shaped like a JWT, and `password=...` / `"token": "..."` pairs.

The sources are fixed too (our bearer auth never logs the header); this is the net beneath them.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from django.http import HttpRequest

REDACTED = "[redacted]"

current_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("current_request", default=None)

# Headers whose values are credentials (or, for Idempotency-Key, a value only the caller should know),
# by their WSGI names (request.META: plain dict lookups, this runs for every request's log line).
SECRET_HEADERS = (
    "HTTP_AUTHORIZATION",
    "HTTP_PROXY_AUTHORIZATION",
    "HTTP_COOKIE",
    "HTTP_IDEMPOTENCY_KEY",
    "HTTP_X_CSRFTOKEN",
    "HTTP_X_API_KEY",
)
# Names of fields (body, query, log extras, "name=value" text) whose values are secrets.
_CREDENTIAL_NAMES = (
    r"(?:password|passwd|passphrase|secret|token|access_token|refresh_token|authorization|cookie|sessionid"
    r"|csrftoken|csrfmiddlewaretoken|idempotency[-_ ]key|api[-_]?key)"
)
_SECRET_FIELD = re.compile(rf"(?i)^(?:\w*[-_])?{_CREDENTIAL_NAMES}$")


@functools.lru_cache(maxsize=1024)
def _is_secret_name(name: str) -> bool:
    return _SECRET_FIELD.match(name) is not None


_BODY_HINT = re.compile(rb"(?i)pass|token|secret|key|cookie")
_MAX_BODY = 64 * 1024
# A secret shorter than this is not searched for by value (it would blank ordinary words); the
# shapes below still catch it where it sits next to its name.
_MIN_SECRET = 4

_CREDENTIAL = r"[A-Za-z0-9._~+/=-]"
_SHAPES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # "Bearer <credential>", "Basic <base64>", "Token <jwt>": a long token or one with a digit.
    (
        re.compile(
            rf"(?i)\b(basic|bearer|token|jwt|digest|negotiate)([ \t]+)"
            rf"({_CREDENTIAL}{{16,}}|{_CREDENTIAL}*[0-9]{_CREDENTIAL}*)"
        ),
        rf"\1\2{REDACTED}",
    ),
    # A JWT anywhere (header.payload.signature, the header base64 of '{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # password=..., 'password': '...', "refresh_token": "...", Authorization: ..., Cookie=...
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9]){_CREDENTIAL_NAMES}(['\"]?[ \t]*[:=][ \t]*)"
            r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s'\",;&}\]]+)"
        ),
        lambda m: m.group(0)[: m.start(1) - m.start(0)] + m.group(1) + REDACTED,
    ),
]


# Every shape above contains one of these: one search skips the three on most texts (a log line
# per request passes here, so this is on the hot path).
# Matched against the lower-cased text: a case-insensitive alternation costs five times as much.
_SHAPE_HINT = re.compile(
    r"basic|bearer|token|jwt|digest|negotiate|eyj|pass|secret|auth|cookie|session|csrf|idempotency|api.?key"
)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and every credential-shaped substring replaced."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if _SHAPE_HINT.search(text.lower()):
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
    return text


_KEPT_AS_IS = (bool, int, float, Decimal, date, time, UUID, Enum, type(None))


def redact_value(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """The same structure with every text in it redacted and every secret-named field blanked."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, _KEPT_AS_IS):
        return value
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"), secrets)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_name(k) else redact_value(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(redact_value(v, secrets) for v in value))
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact_value(v, secrets) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact_value(dataclasses.asdict(value), secrets)
    return redact_text(str(value), secrets)


# --- the secrets of a request ---------------------------------------------------------------------


def _parts_of_header(name: str, value: str) -> set[str]:
    found = {value, value.strip()}
    if name == "HTTP_COOKIE":
        for pair in value.split(";"):
            found.add(pair.partition("=")[2].strip())
        return found
    words = value.split()
    found.update(w for w in words if len(w) >= 8)
    if len(words) > 1:
        found.add(value.strip().split(None, 1)[1])
    if words and (words[0].lower() == "basic" or len(words) == 1) and "." not in words[-1]:
        try:
            decoded = base64.b64decode(words[-1], validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            decoded = ""
        if ":" in decoded:  # Basic user:password
            found.update({decoded, decoded.partition(":")[2]})
    return found


def _secret_values(data: Any) -> Iterable[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _is_secret_name(key) and isinstance(value, str | int | float):
                yield str(value)
            else:
                yield from _secret_values(value)
    elif isinstance(data, list):
        for item in data:
            yield from _secret_values(item)


_JSON_SECRET_PAIR = re.compile(rf'(?i)"(?:\w*[-_])?{_CREDENTIAL_NAMES}"\s*:\s*"((?:[^"\\]|\\.)*)')


def _parts_of_body(body: bytes) -> set[str]:
    if len(body) > _MAX_BODY or not _BODY_HINT.search(body):
        return set()
    text = body.decode("utf-8", "replace")
    found: set[str] = set()
    try:
        found.update(_secret_values(json.loads(text)))
    except ValueError:
        # Not JSON (a form, or broken JSON): form pairs, then "name": "value" pairs as written.
        found.update(v for k, v in parse_qsl(text, keep_blank_values=False) if _is_secret_name(k))
        found.update(m.group(1) for m in _JSON_SECRET_PAIR.finditer(text))
    # The JSON-escaped form too: that is how a value containing quotes appears in a JSON text.
    found.update({json.dumps(s)[1:-1] for s in found})
    return found


def secrets_of(request: HttpRequest) -> tuple[str, ...]:
    """The request's secrets, longest first (so a secret is never half-replaced by a part of it)."""
    # The body counts only once read (the view parses it); a later call picks it up.
    body = request.__dict__.get("_body")
    cached = request.__dict__.get("_redaction_secrets")
    if cached is not None and (cached[0] or body is None):
        return cached[1]
    found: set[str] = set()
    meta = request.META
    for name in SECRET_HEADERS:
        value = meta.get(name)
        if value:
            found |= _parts_of_header(name, value)
    if isinstance(body, bytes):
        found |= _parts_of_body(body)
    secrets = tuple(sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True))
    request.__dict__["_redaction_secrets"] = (body is not None, secrets)
    return secrets


def current_secrets() -> tuple[str, ...]:
    request = current_request.get()
    return secrets_of(request) if request is not None else ()


# --- logging ---------------------------------------------------------------------------------------

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_exception_formatter = logging.Formatter()


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record with its secrets replaced: the message (with its arguments merged in), the
    exception and stack text, and every extra field. Put it on every handler (a filter on a logger
    does not see its children's records)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception as exc:  # a log call must never fail, nor leak when redaction does
            # The exception's type only: its message may quote the very value being redacted.
            record.msg = f"(log record from {record.name} withheld: redaction failed, {type(exc).__name__})"
            record.args = None
            record.exc_info = record.exc_text = record.stack_info = None
            for name in record.__dict__.keys() - _STANDARD_ATTRIBUTES:
                del record.__dict__[name]
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        request = record.__dict__.get("request")
        secrets = secrets_of(request) if isinstance(request, HttpRequest) else current_secrets()
        if isinstance(record.msg, dict) and not record.args:
            record.msg = redact_value(record.msg, secrets)
        else:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # arguments that do not fit the format: keep both, redacted
                message = f"{record.msg} {record.args}"
            record.msg, record.args = redact_text(message, secrets), None
        if record.exc_info:
            record.exc_text = _exception_formatter.formatException(record.exc_info)
            record.exc_info = None  # formatters would format the live exception again, unredacted
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        fields = record.__dict__
        for name in fields.keys() - _STANDARD_ATTRIBUTES:
            value = fields[name]
            fields[name] = REDACTED if _is_secret_name(name) and value else redact_value(value, secrets)
