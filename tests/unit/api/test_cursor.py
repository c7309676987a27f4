"""Keyset pages and cursors, without a database."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.http.pagination import decode_cursor, encode_cursor
from domain.shared.errors import InvalidInput
from domain.shared.pagination import MAX_LIMIT, Page, PageRequest

keys = st.tuples(
    st.one_of(
        st.dates(),
        st.datetimes(timezones=st.just(UTC)),
        st.uuids(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.text(max_size=20),
        st.decimals(allow_nan=False, allow_infinity=False, places=4),
    ),
    st.uuids(),
)


@given(keys)
def test_cursor_round_trips_every_key_type(key: tuple[object, ...]) -> None:
    assert decode_cursor(encode_cursor(key), 2) == key


@given(keys)
def test_a_cursor_handed_out_before_orjson_wrote_them_still_reads(key: tuple[object, ...]) -> None:
    """Cursors were json.dumps' output (non-ASCII text as \\u escapes) until orjson wrote them (as
    UTF-8): one a client kept from before the change reads back the same position."""
    from api.http.pagination import _tag

    earlier = json.dumps([_tag(v) for v in key], separators=(",", ":")).encode()
    assert decode_cursor(base64.urlsafe_b64encode(earlier).decode().rstrip("="), 2) == key


@pytest.mark.parametrize(
    "bad",
    [
        "!!!",
        "bm90IGpzb24",
        encode_cursor((1,)),
        encode_cursor((1, 2, 3)),
        "W1sieCIsMV0sWyJ2IiwyXV0",
        "W1sidiIsdHJ1ZV0sWyJ2IiwxXV0",
    ],
)
def test_bad_cursors_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(bad, 2)


def test_empty_cursor_is_the_first_page_and_floats_are_refused() -> None:
    assert decode_cursor(None, 2) is None and encode_cursor(None) is None
    with pytest.raises(TypeError):
        encode_cursor((1.5, 2))
    with pytest.raises(TypeError):
        encode_cursor((True, 2))


def test_page_from_rows_uses_the_extra_row_only_to_say_there_is_more() -> None:
    request = PageRequest(limit=2)
    more = Page.from_rows([1, 2, 3], request, key_of=lambda r: (r,))
    assert list(more.items) == [1, 2] and more.has_more and more.next_key == (2,)
    last = Page.from_rows([1, 2], request, key_of=lambda r: (r,))
    assert list(last.items) == [1, 2] and not last.has_more and last.next_key is None
    empty = Page.from_rows([], request, key_of=lambda r: (r,))
    assert list(empty.items) == [] and empty.next_key is None


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1])
def test_limit_bounds(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        PageRequest(limit=limit)


def test_cursor_values_keep_their_types() -> None:
    key = (date(2026, 1, 31), datetime(2026, 1, 31, 12, tzinfo=UTC), uuid.UUID(int=5), Decimal("1.50"), 7, "x")
    assert [type(v) for v in decode_cursor(encode_cursor(key), 6)] == [type(v) for v in key]
