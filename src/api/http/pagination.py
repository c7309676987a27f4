"""Cursor (keyset) pagination on the wire: `?limit=&cursor=` in, `{data, next_cursor, has_more}` out.

The cursor is the last row's sort key, JSON in URL-safe base64. It is opaque to clients but not
secret: tampering only moves the position, and every query still applies the caller's scope.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar
from uuid import UUID

import orjson
from ninja import Schema
from pydantic import Field

from api.http.request_model import RequestModel
from domain.shared.errors import InvalidInput
from domain.shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest

T = TypeVar("T")

# A cursor's tagged values back to their types: date, datetime, UUID, Decimal.
_TAGS: dict[str, Callable[[str], object]] = {
    "d": date.fromisoformat,
    "t": datetime.fromisoformat,
    "u": UUID,
    "n": Decimal,
}


class PageQuery(RequestModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Rows per page, at most {MAX_LIMIT}.")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the previous page.")


class PageOut(Schema, Generic[T]):
    data: list[T]
    next_cursor: str | None
    has_more: bool


def _tag(value: object) -> list[object]:
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, UUID):
        return ["u", str(value)]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    if isinstance(value, int | str) and not isinstance(value, bool):
        return ["v", value]
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def encode_cursor(key: tuple[object, ...] | None) -> str | None:
    if key is None:
        return None
    # orjson: the same compact JSON as json.dumps in a tenth of its time (non-ASCII text as UTF-8,
    # which decode_cursor reads back alike).
    raw = orjson.dumps([_tag(v) for v in key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> tuple[object, ...] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != arity:
            raise ValueError("wrong arity")
        values: list[object] = []
        for tag, value in parts:
            if tag == "v":
                if not isinstance(value, int | str) or isinstance(value, bool):
                    raise ValueError("bad scalar")
                values.append(value)
            else:
                values.append(_TAGS[tag](value))
        return tuple(values)
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidInput("The cursor is not valid; start again from the first page.") from exc


# What a key's value must be, per letter of `kinds` (a date is not a datetime here).
_KINDS = {
    "t": lambda v: isinstance(v, datetime) and v.tzinfo is not None,
    "d": lambda v: type(v) is date,
    "u": lambda v: isinstance(v, UUID),
    "n": lambda v: isinstance(v, Decimal),
    "i": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "s": lambda v: isinstance(v, str),
}


def page_request(query: PageQuery, arity: int, kinds: str = "") -> PageRequest:
    """`kinds` (one letter of _KINDS per key part) refuses a hand-made cursor whose values have the
    wrong types with a 422; unchecked, they would reach the SQL and fail there (a 500)."""
    after = decode_cursor(query.cursor, arity)
    if after is not None and kinds and not all(_KINDS[k](v) for k, v in zip(kinds, after, strict=True)):
        raise InvalidInput("The cursor is not valid; start again from the first page.")
    return PageRequest(limit=query.limit, after=after)
