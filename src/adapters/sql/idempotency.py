"""The idempotency store on PostgreSQL (the port: domain.application.idempotency).

The claim is an INSERT ... ON CONFLICT DO NOTHING on (user, key), in the caller's unit of work. A
second request with the same key waits on the unique index until the first commits, then finds
the stored answer; if the first rolled back (a refused payment), the second proceeds as new. So
two concurrent requests with one key produce exactly one effect, without a lock service.

The answer is stored as the exact bytes the first request answered and replayed as they are: a
replay is byte-identical (it went through jsonb before, which reorders an object's keys).
"""

from __future__ import annotations

from django.db import connection

from adapters.sql import batch
from domain.application.idempotency import Answer, Stored


class SqlIdempotencyStore:
    def claim(self, owner: int, key: str, fingerprint: str) -> Stored | None:
        # Through the batch: prepared and bound on the server, like the rest of the payment's statements.
        (claimed,) = batch.run(
            [
                (
                    "INSERT INTO idempotency_record (user_id, key, request_hash, created_at) "
                    "VALUES (%s, %s, %s, now()) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                    [owner, key, fingerprint],
                )
            ]
        )
        if claimed.rows:
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT request_hash, status_code, response_bytes FROM idempotency_record "
                "WHERE user_id = %s AND key = %s",
                [owner, key],
            )
            stored_hash, status, body = cursor.fetchone()
        return Stored(stored_hash, Answer(status, bytes(body) if body is not None else b""))

    def answer(self, owner: int, key: str, answer: Answer) -> None:
        # Deferred: it rides the unit of work's last round trip, with the writes it answers for.
        batch.defer(
            "UPDATE idempotency_record SET status_code = %s, response_bytes = %s WHERE user_id = %s AND key = %s",
            [answer.status, answer.body, owner, key],
        )
