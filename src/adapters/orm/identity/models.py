"""Users (with a public UUID and a role) and the hashed refresh tokens of their sessions."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class Role(models.TextChoices):
        CLIENT = "client", "Client"
        AGENT = "agent", "Agent"
        ADMIN = "admin", "Admin"

    # The id shown outside; the integer key stays internal (joins, partitions).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CLIENT, db_index=True)
    phone = models.CharField(max_length=32, blank=True)
    document_id = models.CharField("national id", max_length=32, blank=True)
    # The agent (or admin) who onboarded this client: with the credits it collects, what makes a
    # client part of an agent's portfolio before any credit exists. NULL for users made otherwise.
    onboarded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="onboarded", db_index=False
    )

    class Meta:
        db_table = "identity_user"
        # Prefix-search indexes on lower(...) text_pattern_ops live in migration 0002 (raw SQL).
        indexes = [
            # An agent's onboarded clients; most users have none, so only the rows that do.
            models.Index(
                fields=["onboarded_by"],
                name="user_onboarded_by_idx",
                condition=models.Q(onboarded_by__isnull=False),
            )
        ]

    def save(self, *args: object, **kwargs: object) -> None:
        # Admins manage the book through the Django admin; the role decides, not a separate flag.
        if self.role == self.Role.ADMIN:
            self.is_staff = True
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class RefreshTokenRecord(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    family_id = models.UUIDField(db_index=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "identity_refresh_token"
        indexes = [models.Index(fields=["expires_at"], name="refresh_token_expires_idx")]

    def __str__(self) -> str:
        return f"refresh token of {self.user_id} ({self.family_id})"
