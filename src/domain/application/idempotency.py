"""One idempotency mechanism: a request's key is claimed inside the unit of work of the use case it
protects, so the claim, the money and the stored answer commit together or not at all.

Same key + same request -> the first answer again, exactly (the stored bytes); same key + another
request -> Conflict; two concurrent requests with one key -> one effect (the store's claim waits
for the first to commit or roll back: a rolled-back claim is gone, the second runs as new).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from domain.shared.errors import Conflict, InvalidInput
from domain.shared.unit_of_work import UnitOfWork

MAX_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Answer:
    """What the protected call answered: a status and its content, exactly as first sent."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Stored:
    fingerprint: str
    answer: Answer


class IdempotencyStore(Protocol):
    def claim(self, owner: int, key: str, fingerprint: str) -> Stored | None:
        """None when the key is claimed now, for this call; else what the first call stored (it
        waits for a concurrent first call to finish)."""

    def answer(self, owner: int, key: str, answer: Answer) -> None:
        """Store the answer of the call that claimed the key, in the same unit of work."""


def fingerprint(method: str, path: str, body: object) -> str:
    """The request as a digest: its method, path and canonical body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def require_valid_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters.")
    return key


def run_once(
    uow: UnitOfWork,
    store: IdempotencyStore,
    *,
    owner: int,
    key: str,
    fingerprint: str,
    action: Callable[[], Answer],
) -> tuple[Answer, bool]:
    """Run `action` once per (owner, key) and return (answer, replayed).

    `action` runs inside this unit of work: the use case it calls joins it (one transaction)."""
    require_valid_key(key)
    with uow:
        stored = store.claim(owner, key, fingerprint)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise Conflict(
                    "This Idempotency-Key was already used with a different request.",
                    details={"idempotency_key": key},
                )
            return stored.answer, True
        answer = action()
        store.answer(owner, key, answer)
        uow.commit()
    return answer, False
