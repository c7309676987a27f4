"""The identity context's errors: credentials refused, too many attempts."""

from __future__ import annotations

from typing import Any

from domain.shared.errors import DomainError


class Unauthorized(DomainError):
    """Credentials are missing, wrong, expired or revoked."""

    code = "unauthorized"


class Throttled(DomainError):
    """Too many attempts; retry after `retry_after` seconds."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after
