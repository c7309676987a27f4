"""An answer asked for now and read later: the adapter may send the question with its next round
trip (e.g. with the credit's lock) instead of a round trip of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Later(Protocol[T_co]):
    def get(self) -> T_co:
        """The answer (sent now if it has not gone yet)."""
        ...


@dataclass(frozen=True, slots=True)
class Ready(Generic[T]):
    """An answer already at hand (in-memory adapters)."""

    value: T

    def get(self) -> T:
        return self.value
