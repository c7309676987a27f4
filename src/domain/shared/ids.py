"""The IdGenerator port and a time-ordered UUID generator.

Ids are `uuid.UUID` chosen by the domain (not by the database), so an aggregate has its id before
it is saved and a whole use case can be built before one row is written. Version-7 UUIDs (48-bit
millisecond timestamp first) keep B-tree inserts near the right edge of the index and make ids
roughly sortable by creation time, which keyset pagination likes.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Protocol


class IdGenerator(Protocol):
    def new_id(self) -> uuid.UUID: ...


def uuid7(unix_ms: int, rand: bytes) -> uuid.UUID:
    """An RFC 9562 version-7 UUID from a millisecond timestamp and 10 random bytes."""
    if len(rand) != 10:
        raise ValueError("uuid7 needs 10 random bytes")
    value = (unix_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(rand, "big")
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return uuid.UUID(int=value)


class Uuid7Generator:
    def new_id(self) -> uuid.UUID:
        return uuid7(time.time_ns() // 1_000_000, os.urandom(10))
