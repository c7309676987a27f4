"""The idempotency store on PostgreSQL (the port: domain.application.idempotency).

The claim is an INSERT ... ON CONFLICT DO NOTHING on (user, key), in the caller's unit of work,
sent with its first round trip. A second request with the same key waits on the unique index until
the first commits, then finds the key taken (its unit of work rolls back and the stored answer is
read); if the first rolled back (a refused payment), the second proceeds as new. So two concurrent
requests with one key produce exactly one effect, without a lock service.

The answer is stored as the exact bytes the first request answered and replayed as they are: a
replay is byte-identical (it went through jsonb before, which reorders an object's keys).
"""

from __future__ import annotations

from django.db import connection

from adapters.sql import batch
from domain.application.idempotency import Answer, KeyTaken, Stored


class SqlIdempotencyStore:
    def claim(self, owner: int, key: str, fingerprint: str, *, ahead: bool = False) -> None:
        # Through the batch, prepared and bound on the server. Ahead, it rides the protected call's
        # first round trip (a payment's credit lock) as its first statement. A key already held
        # answers no row: its check raises there, before the rest of the round trip is looked at.
        batch.defer(
            "INSERT INTO idempotency_record (user_id, key, request_hash, created_at) "
            "VALUES (%s, %s, %s, now()) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [owner, key, fingerprint],
            _claimed,
        )
        if not ahead:
            batch.flush()

    def stored(self, owner: int, key: str) -> Stored | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT request_hash, status_code, response_bytes FROM idempotency_record "
                "WHERE user_id = %s AND key = %s",
                [owner, key],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        stored_hash, status, body = row
        return Stored(stored_hash, Answer(status, bytes(body) if body is not None else b""))

    def answer(self, owner: int, key: str, answer: Answer) -> None:
        # Deferred: it rides the unit of work's last round trip, with the writes it answers for.
        batch.defer(
            "UPDATE idempotency_record SET status_code = %s, response_bytes = %s WHERE user_id = %s AND key = %s",
            [answer.status, answer.body, owner, key],
        )


def _claimed(result: batch.Result) -> None:
    if not result.rows:
        raise KeyTaken
