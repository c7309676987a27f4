"""Refuse, before any view runs, input the server or PostgreSQL cannot take, with a clear 4xx:

- a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 (Django raises RequestDataTooBig on the first read of
  `request.body`, inside Ninja's parameter parsing, where it surfaced as a 500);
- a NUL character anywhere in the path, the query or a JSON string: 422 naming where. PostgreSQL text
  cannot hold NUL, and psycopg refuses it only at the INSERT, deep in a use case (a 500 before).

The body is looked at only when its bytes could hold a NUL at all (one substring scan), so a normal
request pays nothing but that scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from api.errors import envelope

NUL = "\x00"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _nul_paths(value: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield (*path, key)
            yield from _nul_paths(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, (*path, str(index)))


def _refuse_nul(locations: list[tuple[str, ...]]) -> HttpResponse:
    fields = [
        {"loc": list(loc), "msg": "NUL characters are not allowed.", "type": "nul_character"} for loc in locations
    ]
    return envelope(422, "The request is not valid.", code="invalid_input", details={"fields": fields[:20]})


def check(request: HttpRequest) -> HttpResponse | None:
    """The refusal for `request`, or None when it may go on."""
    if NUL in request.path:
        return _refuse_nul([("path",)])
    query = [("query", key) for key, values in request.GET.lists() if NUL in key or any(NUL in v for v in values)]
    if query:
        return _refuse_nul(query)
    if request.method not in _BODY_METHODS:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return envelope(413, "The request body is too large.", code="payload_too_large")
    if b"\\u0000" not in body:  # JSON writes NUL only as this escape (the hex digits are all zero)
        return None  # a raw NUL byte is not valid JSON: the parser answers 400 for it
    try:
        data = json.loads(body)
    except ValueError:
        return None
    found = list(_nul_paths(data, ("body",)))
    return _refuse_nul(found) if found else None


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            refused = check(request)
            if refused is not None:
                return refused
        return self.get_response(request)
