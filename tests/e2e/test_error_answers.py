"""What a client reads in a 4xx (issue 11 §4, §6): a field's location once, as the client wrote it
(`["body", "price", ...]`, not `["body", "body", "price", ...]`), and a body that cannot be read
explained in the client's terms (nested too deeply, invalid JSON at line/column, not UTF-8, not
JSON at all), never the Python parser's own words, whether DEBUG is on or off."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from tests.e2e.test_book_commands import _open_body, book  # noqa: F401  (book is a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

# Words of Python's json module and interpreter a client has no use for.
INTERNALS = ("recursion", "decoding", "Expecting", "codec", "Traceback", "JSONDecodeError", "object at 0x", "char ")


def _fields(response: object) -> list[dict]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and body["error"]["code"] == "invalid_input", body
    return body["error"]["details"]["fields"]


def test_a_body_field_is_located_once(book: dict) -> None:  # noqa: F811
    response = book["agent"].post("/api/v1/credits", _open_body(book, price={"amount": "ten", "currency": "COP"}))
    assert response.status_code == 422, response.content
    locs = [f["loc"] for f in _fields(response)]
    assert ["body", "price", "amount"] in locs, locs
    assert all(loc[:2] != ["body", "body"] for loc in locs), locs


def test_a_missing_field_and_a_query_parameter_are_located_as_sent(client: Client, book: dict) -> None:  # noqa: F811
    missing = client.post("/api/v1/auth/token", {"username": "someone"}, "application/json")
    assert [f["loc"] for f in _fields(missing)] == [["body", "password"]]
    bad_query = book["admin"].get("/api/v1/audit?limit=lots")
    assert [f["loc"] for f in _fields(bad_query)] == [["query", "limit"]]


def _post(client: Client, body: bytes | str, content_type: str = "application/json") -> object:
    return client.post("/api/v1/auth/token", body, content_type=content_type)


CASES: dict[str, tuple[Callable[[], bytes | str], str, str, tuple[str, ...]]] = {
    # case: (body, content type, code, words the message must contain)
    "deeply nested": (lambda: "[" * 100_000 + "]" * 100_000, "application/json", "json_too_deep", ("nested",)),
    # The NUL guard reads such a body before the view (a 500 when its own parse hit the depth).
    "deeply nested with a NUL": (
        lambda: "[" * 100_000 + '"\\u0000"' + "]" * 100_000,
        "application/json",
        "json_too_deep",
        ("nested",),
    ),
    "deeply nested object": (lambda: '{"a":' * 50_000 + "1" + "}" * 50_000, "application/json", "json_too_deep", ()),
    "syntax error": (lambda: '{\n  "username": "x",\n  "password": }', "application/json", "invalid_json", ("line 3",)),
    "truncated": (lambda: '{"username": "x"', "application/json", "invalid_json", ("line 1",)),
    "not utf-8": (lambda: b'{"username": "\xff\xfe"}', "application/json", "body_not_utf8", ("UTF-8",)),
    "form body": (lambda: "username=x&password=y", "application/x-www-form-urlencoded", "not_json", ("Content-Type",)),
}


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unreadable_body_is_explained_in_the_clients_terms(
    client: Client, settings: object, case: str, debug: bool
) -> None:
    settings.DEBUG = debug  # type: ignore[attr-defined]  # the issue saw the parser's words with DEBUG on
    make_body, content_type, code, words = CASES[case]
    response = _post(client, make_body(), content_type)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == code, error
    message = error["message"]
    for word in words:
        assert word in message, message
    for internal in INTERNALS:
        assert internal not in message and internal not in str(error["details"]), (internal, error)


def test_a_json_syntax_error_says_where(client: Client) -> None:
    error = _post(client, '{"username": "x", "password": }').json()["error"]
    assert error["details"] == {"line": 1, "column": 31}
    assert error["message"].startswith("The body is not valid JSON")


@pytest.mark.parametrize(
    ("body", "found"), [("[]", "an array"), ("[{}, [], null]", "an array"), ("null", "null"), ('"x"', "a string")]
)
def test_a_body_that_is_not_an_object_is_refused_and_starts_nothing(book: dict, body: str, found: str) -> None:  # noqa: F811
    """Found by the hostile-schema fuzzing: `[{}, [], null]` started a portfolio analysis (202), since
    Ninja read a non-object as "no fields given" and every field of that request is optional."""
    from adapters.orm.jobs.models import Job

    admin = book["admin"]
    response = admin.client.post(
        "/api/v1/jobs/portfolio-analysis",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin.token}",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "body_not_object"
    assert response.json()["error"]["details"] == {"found": found}
    assert not Job.objects.exists()
    # An object, even an empty one, is still a request with every field at its default.
    started = admin.client.post(
        "/api/v1/jobs/portfolio-analysis",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {admin.token}",
    )
    assert started.status_code == 202, started.content
