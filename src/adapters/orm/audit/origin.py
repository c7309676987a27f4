"""The admin site's request origin, for the audit trail (the parser itself: domain.application.audit)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from domain.application.audit import Origin, origin_from


def origin_of(request: HttpRequest) -> Origin:
    return origin_from(
        request.META.get("REMOTE_ADDR", ""),
        request.headers.get("X-Forwarded-For", ""),
        request.headers.get("User-Agent", ""),
        trust_forwarded=settings.TRUST_X_FORWARDED_FOR,
        # Set by api.http.middleware.RequestIdMiddleware on every request (admin included).
        request_id=getattr(request, "request_id", ""),
    )
