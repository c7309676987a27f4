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
    # request.META, not request.headers: that builds a mapping of every header on first use.
    meta = request.META
    source = Source.MOBILE if meta.get("HTTP_X_CLIENT", "").lower() == "mobile" else Source.WEB
    origin = origin_from(
        meta.get("REMOTE_ADDR", ""),
        meta.get("HTTP_X_FORWARDED_FOR", ""),
        meta.get("HTTP_USER_AGENT", ""),
        trust_forwarded=settings.TRUST_X_FORWARDED_FOR,
        # Set by the request-id middleware on every request.
        request_id=getattr(request, "request_id", ""),
    )
    return Actor.of(principal_of(request), source, origin)
