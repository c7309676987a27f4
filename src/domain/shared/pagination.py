"""Keyset pages: a query port gets the last key seen and returns one more row than asked,
so `has_more` needs no COUNT and a deep page costs what the first one does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    # The sort key of the last row of the previous page, or None for the first page.
    after: tuple[object, ...] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_key: tuple[object, ...] | None
    has_more: bool

    @staticmethod
    def from_rows(rows: Sequence[T], request: PageRequest, key_of: Callable[[T], tuple[object, ...]]) -> Page[T]:
        """`rows` fetched with LIMIT limit+1; `key_of(row)` gives a row's sort key."""
        has_more = len(rows) > request.limit
        items = rows[: request.limit]
        return Page(items=items, next_key=key_of(items[-1]) if has_more and items else None, has_more=has_more)
