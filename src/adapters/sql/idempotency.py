"""Idempotency for money POSTs, claimed inside the same database transaction as the money write.

The claim is an INSERT ... ON CONFLICT DO NOTHING on (user, key). A second request with the same
key waits on the unique index until the first commits, then finds the stored response and replays
it; if the first rolled back (a refused payment), the second proceeds as new. So two concurrent
requests with one key produce exactly one effect, without a lock service.

The response is stored as the exact bytes the first request answered and replayed as they are: a
replay is byte-identical (it went through jsonb before, which reorders an object's keys).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from domain.shared.errors import Conflict, InvalidInput

MAX_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes  # the response's content, exactly as first sent


class IdempotencyStore:
    @staticmethod
    def fingerprint(method: str, path: str, body: object) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()

    @staticmethod
    def run_once(
        *, user_id: int, key: str, fingerprint: str, action: Callable[[], tuple[int, bytes]]
    ) -> tuple[StoredResponse, bool]:
        return run_once(user_id=user_id, key=key, fingerprint=fingerprint, action=action)


def run_once(
    *, user_id: int, key: str, fingerprint: str, action: Callable[[], tuple[int, bytes]]
) -> tuple[StoredResponse, bool]:
    """Run `action` once per (user, key) and return (response, replayed).

    `action` returns (status, the response's content) and runs in the same transaction as the claim.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO idempotency_record (user_id, key, request_hash, created_at) "
                "VALUES (%s, %s, %s, now()) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                [user_id, key, fingerprint],
            )
            claimed = cursor.fetchone()
            if claimed is None:
                cursor.execute(
                    "SELECT request_hash, status_code, response_bytes FROM idempotency_record "
                    "WHERE user_id = %s AND key = %s",
                    [user_id, key],
                )
                stored_hash, status, body = cursor.fetchone()
                if stored_hash != fingerprint:
                    raise Conflict(
                        "This Idempotency-Key was already used with a different request.",
                        details={"idempotency_key": key},
                    )
                return StoredResponse(status, bytes(body)), True
        status, body = action()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE idempotency_record SET status_code = %s, response_bytes = %s WHERE id = %s",
                [status, body, claimed[0]],
            )
    return StoredResponse(status, body), False
