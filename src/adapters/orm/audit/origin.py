"""Where a request came from, for the audit trail: the same client address the login throttle
uses (X-Forwarded-For's first hop only when TRUST_X_FORWARDED_FOR says a balancer sets it)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from adapters.sql.audit import valid_ip
from domain.application.audit import Origin


def origin_of(request: HttpRequest) -> Origin:
    address = request.META.get("REMOTE_ADDR", "")
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            address = forwarded.split(",")[0].strip()
    return Origin(
        ip=valid_ip(address),
        user_agent=request.headers.get("User-Agent", "")[:300],
        # Set by api.http.middleware.RequestIdMiddleware on every request (admin included).
        request_id=getattr(request, "request_id", ""),
    )
