"""A hand-made cursor of the right length but with values of the wrong types is a 422, not SQL."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime

import pytest

from api.http.pagination import PageQuery, encode_cursor, page_request
from domain.shared.errors import InvalidInput


def forged(parts: list[list[object]]) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("kinds", "key"),
    [
        ("tu", (datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4())),
        ("du", (date(2026, 1, 1), uuid.uuid4())),
        ("ti", (datetime(2026, 1, 1, tzinfo=UTC), 42)),
        ("s", ("client7",)),
    ],
)
def test_the_servers_own_cursors_pass(kinds: str, key: tuple[object, ...]) -> None:
    assert page_request(PageQuery(cursor=encode_cursor(key)), len(key), kinds).after == key


@pytest.mark.parametrize(
    ("kinds", "parts"),
    [
        ("tu", [["v", 5], ["v", 1]]),
        ("tu", [["d", "2026-01-01"], ["u", str(uuid.uuid4())]]),  # a date where a datetime goes
        ("tu", [["t", "2026-01-01T00:00:00"], ["u", str(uuid.uuid4())]]),  # no time zone
        ("du", [["t", "2026-01-01T00:00:00+00:00"], ["u", str(uuid.uuid4())]]),  # a datetime is no date
        ("du", [["d", "2026-01-01"], ["v", "x"]]),
        ("ti", [["t", "2026-01-01T00:00:00+00:00"], ["v", "1"]]),
        ("s", [["v", 1]]),
    ],
)
def test_forged_cursors_are_refused(kinds: str, parts: list[list[object]]) -> None:
    with pytest.raises(InvalidInput):
        page_request(PageQuery(cursor=forged(parts)), len(parts), kinds)
