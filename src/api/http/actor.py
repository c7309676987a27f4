"""Who calls a use case, as the API knows it: the authenticated principal, the channel and where
the request came from (for the audit trail; the parser itself is the domain's `origin_from`)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from api.http.security import principal_of
from domain.application.audit import origin_from
from domain.application.ports import Actor
from domain.ledger.model import Source


def actor_of(request: HttpRequest) -> Actor:
    source = Source.MOBILE if request.headers.get("X-Client", "").lower() == "mobile" else Source.WEB
    origin = origin_from(
        request.META.get("REMOTE_ADDR", ""),
        request.headers.get("X-Forwarded-For", ""),
        request.headers.get("User-Agent", ""),
        trust_forwarded=settings.TRUST_X_FORWARDED_FOR,
        # Set by the request-id middleware on every request.
        request_id=getattr(request, "request_id", ""),
    )
    return Actor.of(principal_of(request), source, origin)
