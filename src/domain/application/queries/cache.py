"""The read cache as a port: what cached values depend on (subjects) and how a reader gets or
builds them; any write to a subject makes every value built on it unreachable."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Subject:
    """Something cached values depend on: ("user", 42), ("credit", uuid)."""

    kind: str
    key: object

    @property
    def version_key(self) -> str:
        return f"v:{self.kind}:{self.key}"


def user(user_id: int) -> Subject:
    return Subject("user", user_id)


def credit(credit_id: object) -> Subject:
    return Subject("credit", credit_id)


def catalog(name: str) -> Subject:
    """Reference data cached in each process (the holiday calendar): ("catalog", "holidays")."""
    return Subject("catalog", name)


class ReadCache(Protocol):
    def get(self, name: str, subjects: Iterable[Subject], variant: str) -> bytes | None:
        """The cached value, or None: never builds (a caller that can build asks get_or_build)."""
        ...

    def get_or_build(
        self, name: str, subjects: Iterable[Subject], variant: str, build: Callable[[], bytes]
    ) -> bytes: ...

    def bump(self, subjects: Iterable[Subject]) -> None: ...
