"""Bearer authentication of access tokens and role guards."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from api.deps import services
from domain.identity.errors import Unauthorized
from domain.identity.model import Principal, Role
from domain.shared.errors import Forbidden


class JWTBearer(HttpBearer):
    def __call__(self, request: HttpRequest) -> Principal | None:
        # Ninja's own __call__ logs any other scheme's header in full at ERROR under DEBUG
        # ("Unexpected auth - 'Basic <base64 user:password>'"): a credential in the log. Not here:
        # anything but "Bearer <token>" is simply not authenticated (401).
        # request.META, not request.headers: that builds a mapping of every header on first use.
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != self.openapi_scheme or not token:
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        try:
            principal = services().auth.authenticate(token)
        except Unauthorized:
            return None  # Ninja turns this into AuthenticationError -> 401 envelope
        request.principal = principal  # type: ignore[attr-defined]
        return principal


bearer = JWTBearer()


def principal_of(request: HttpRequest) -> Principal:
    return request.auth  # type: ignore[attr-defined]


def require_role(request: HttpRequest, *roles: Role) -> Principal:
    principal = principal_of(request)
    if principal.role not in roles:
        raise Forbidden("Your role does not allow this operation.")
    return principal


def client_address(request: HttpRequest, trust_forwarded: bool) -> str:
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "unknown")
