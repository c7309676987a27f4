"""Refuse, before any view runs, input the server or PostgreSQL cannot take, with a clear 4xx:

- a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413 (Django raises RequestDataTooBig on the first read of
  `request.body`, inside Ninja's parameter parsing, where it surfaced as a 500);
- a NUL character anywhere in the path, the query or a JSON string: 422 naming where. PostgreSQL text
  cannot hold NUL, and psycopg refuses it only at the INSERT, deep in a use case (a 500 before).

The body is looked at only when its bytes could hold a NUL at all (one substring scan), so a normal
request pays nothing but that scan.

`JsonBodyParser` reads the bodies of the views: a body it cannot read is a 400 that says what is
wrong in the client's terms (nested too deeply, invalid JSON at line/column, not UTF-8, not JSON at
all), never the parser's own words (Ninja put those in the message with DEBUG on).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from api.http.errors import UnreadableBody, envelope

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


def _refuse_nul(locations: Sequence[tuple[str, ...]]) -> HttpResponse:
    fields = [
        {"loc": list(loc), "msg": "NUL characters are not allowed.", "type": "nul_character"} for loc in locations
    ]
    return envelope(422, "The request is not valid.", code="invalid_input", details={"fields": fields[:20]})


def check(request: HttpRequest) -> HttpResponse | None:
    """The refusal for `request`, or None when it may go on."""
    if NUL in request.path:
        return _refuse_nul([("path",)])
    # The query is parsed only when its raw text can hold a NUL at all (as itself or as %00): building
    # request.GET for every request cost more than the rest of this check.
    raw_query = request.META.get("QUERY_STRING", "")
    if NUL in raw_query or "%00" in raw_query:
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
    except (ValueError, RecursionError):
        return None  # the view's parser answers 400 for it, saying why
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


# What Python's json module says, in words about the client's document.
_JSON_PROBLEMS = (
    ("Expecting value", "a value is missing or is not a JSON value"),
    ("Expecting ',' delimiter", "a comma is missing between two items"),
    ("Expecting ':' delimiter", "a colon is missing after a key"),
    ("Expecting property name enclosed in double quotes", "a key must be in double quotes (no trailing comma)"),
    ("Unterminated string", "a string is not closed"),
    ("Invalid control character", "a string holds a raw control character (escape it)"),
    ("Invalid \\uXXXX escape", "a string holds an invalid \\u escape"),
    ("Invalid \\escape", "a string holds an invalid escape"),
    ("Extra data", "something follows the JSON value"),
)
_MEDIA_TYPE_SHOWN = 80


def _is_json_media_type(content_type: str) -> bool:
    # No Content-Type at all: most likely JSON with the header forgotten; say what is wrong with the JSON.
    return not content_type or content_type == "application/json" or content_type.endswith("+json")


def _json_problem(message: str) -> str:
    return next((said for prefix, said in _JSON_PROBLEMS if message.startswith(prefix)), "it is not JSON")


class JsonBodyParser(Parser):
    """The views' JSON bodies; what cannot be read raises `UnreadableBody` (a 400 in the envelope)."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:
            raise _unreadable(request, exc) from None
        if not isinstance(data, dict):
            # Every body of this API is an object. Ninja reads a non-object as "no fields given", so an
            # operation whose fields are all optional took `[]` or `null` for an empty request (found:
            # a portfolio analysis started by a body of `[{}, [], null]`).
            raise UnreadableBody(
                "body_not_object",
                f"The body must be a JSON object ({{...}}), not {_json_kind(data)}.",
                {"found": _json_kind(data)},
            )
        return data

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> dict[str, Any]:
        """The query's parameters. One given more than once that is not a list is passed on as the
        list of its values, which its field refuses: a 422 naming it (`errors.repeated_parameter`).
        Ninja's own took the last value and dropped the others unread: `?role=agent&role=client`
        listed clients alone (found by schemathesis over HTTP). A parameter no field declares is
        ignored, repeated or not."""
        result: dict[str, Any] = {}
        for key, values in data.lists():
            result[key] = values if key in list_fields or len(values) > 1 else values[0]
        return result


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), "a value")


def _unreadable(request: HttpRequest, exc: Exception) -> UnreadableBody:
    content_type = request.content_type or ""
    if not _is_json_media_type(content_type):
        return UnreadableBody(
            "not_json",
            "The body must be JSON, sent with Content-Type: application/json "
            f"(this one was sent as {content_type[:_MEDIA_TYPE_SHOWN]!r}).",
        )
    if isinstance(exc, RecursionError):
        return UnreadableBody(
            "json_too_deep",
            "The JSON body is nested too deeply to be read (no request of this API nests more than a few levels).",
        )
    if isinstance(exc, UnicodeDecodeError):
        return UnreadableBody(
            "body_not_utf8", f"The body is not UTF-8 text (byte {exc.start} cannot be read).", {"position": exc.start}
        )
    if isinstance(exc, json.JSONDecodeError):
        return UnreadableBody(
            "invalid_json",
            f"The body is not valid JSON at line {exc.lineno}, column {exc.colno}: {_json_problem(exc.msg)}.",
            {"line": exc.lineno, "column": exc.colno},
        )
    return UnreadableBody("invalid_json", "The body is not valid JSON.")
