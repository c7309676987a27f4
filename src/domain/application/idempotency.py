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


class KeyTaken(Exception):
    """A claim found its key held by an earlier call (raised by the store, caught by `run_once`)."""


class IdempotencyStore(Protocol):
    def claim(self, owner: int, key: str, fingerprint: str, *, ahead: bool = False) -> None:
        """Claim the key for this call, or raise `KeyTaken` if an earlier call holds it (waiting for
        a concurrent first call to commit or roll back). With `ahead` a store may send the claim
        with the unit of work's next round trip (the protected call's first statement) instead of
        now: `KeyTaken` is raised there, at the latest before COMMIT, and the unit of work rolls back."""

    def stored(self, owner: int, key: str) -> Stored | None:
        """What the call that holds the key stored (None if it is gone)."""

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
    claim_ahead: bool = False,
) -> tuple[Answer, bool]:
    """Run `action` once per (owner, key) and return (answer, replayed).

    `action` runs inside this unit of work: the use case it calls joins it (one transaction).

    With `claim_ahead` the claim rides the action's first round trip (a payment's credit lock: one
    round trip fewer): when the key turns out to be taken, the action has started and what it did is
    rolled back, then the first answer is replayed. Only for actions that do nothing outside their
    unit of work before their first statement (the use cases: their effects wait for the commit)."""
    require_valid_key(key)
    try:
        with uow:
            store.claim(owner, key, fingerprint, ahead=claim_ahead)
            answer = action()
            store.answer(owner, key, answer)
            uow.commit()
        return answer, False
    except KeyTaken:
        pass  # the unit of work is rolled back: nothing the action did stays
    # Read after the rollback: the first call has committed (the claim waited for it), and a
    # claimed key's record is never deleted.
    stored = store.stored(owner, key)
    if stored is None:
        raise RuntimeError(f"Idempotency key {key!r} is taken but has no record.")
    if stored.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request.",
            details={"idempotency_key": key},
        )
    return stored.answer, True
