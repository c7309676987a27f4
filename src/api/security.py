"""Bearer authentication of access tokens and role guards."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from api.deps import services
from domain.identity.model import Principal, Role
from domain.shared.errors import Forbidden, Unauthorized


class JWTBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        try:
            principal = services().auth.authenticate(token)
        except Unauthorized:
            return None  # Ninja turns this into AuthenticationError -> 401 envelope
        request.principal = principal  # type: ignore[attr-defined]
        return principal


bearer = JWTBearer()


def principal_of(request: HttpRequest) -> Principal:
    return request.auth  # type: ignore[attr-defined,no-any-return]


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
