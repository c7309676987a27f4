from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a money POST, replayed for the same caller, key and body."""

    user_id = models.BigIntegerField()
    key = models.CharField(max_length=128)
    # SHA-256 of method, path and canonical body: the same key with another request is a 409.
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    # The first response's content, byte for byte (a replay sends exactly these bytes).
    response_bytes = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "idempotency_record"
        constraints = [models.UniqueConstraint(fields=["user_id", "key"], name="idempotency_user_key_uniq")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
