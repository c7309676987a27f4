"""Read routing per request: a writing request reads the primary, and its caller's next requests
too, for READ_YOUR_WRITES_SECONDS (the rules are in adapters/db/routing.py).

The caller is known only once the view has authenticated it (Ninja's JWT auth runs inside the
view, after middleware), so the user id is resolved lazily, at the first read that would go to a
replica. Any writing request by an identified caller notes the write, whatever its status: a
request that failed late may still have committed, and the price of a needless note is a few
seconds of that one user's reads on the primary.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from adapters.db import routing


def caller_id(request: HttpRequest) -> object | None:
    """The authenticated user's id: the JWT principal's, else the session user's if already loaded
    (never loaded from here: that would be a read deciding where reads go)."""
    principal = getattr(request, "auth", None) or getattr(request, "principal", None)
    user_id = getattr(principal, "user_id", None)
    if user_id is not None:
        return user_id
    user = request.__dict__.get("_cached_user")
    if user is not None and user.is_authenticated:
        return user.pk
    return None


class ReadRoutingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.DATABASE_REPLICAS:
            return self.get_response(request)
        writes = request.method not in routing.SAFE_METHODS
        scope = routing.RequestScope(user_id=lambda: caller_id(request), writes=writes)
        try:
            with routing.request_scope(scope):
                return self.get_response(request)
        finally:
            if writes and (user := caller_id(request)) is not None:
                routing.note_write(user)
