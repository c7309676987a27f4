"""Auth and who-am-I endpoints."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from api.deps import services
from api.http.errors import ErrorOut
from api.http.request_model import RequestModel
from api.http.security import bearer, client_address, principal_of
from domain.identity.services import TokenPair

router = Router(tags=["auth"])  # /auth
me_router = Router(tags=["auth"])  # /me: who am I


class TokenIn(RequestModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(RequestModel):
    refresh_token: str = Field(min_length=16, max_length=512)


class TokenOut(Schema):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int


class MeOut(Schema):
    id: UUID
    username: str
    role: str


def _pair_out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/token", response={200: TokenOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut}, auth=None)
def issue_token(request: HttpRequest, body: TokenIn) -> TokenOut:
    """Log in with username and password; returns a short-lived access token and a refresh token."""
    address = client_address(request, settings.TRUST_X_FORWARDED_FOR)
    return _pair_out(services().auth.login(body.username, body.password, address))


@router.post("/refresh", response={200: TokenOut, 401: ErrorOut, 422: ErrorOut}, auth=None)
def refresh_token(request: HttpRequest, body: RefreshIn) -> TokenOut:
    """Rotate a refresh token: it works once. Presenting a spent one revokes its whole family."""
    return _pair_out(services().auth.refresh(body.refresh_token))


@router.post("/logout", response={204: None, 422: ErrorOut}, auth=None)
def logout(request: HttpRequest, body: RefreshIn) -> Status:
    """Revoke the refresh token's family (this session on every device that shares it)."""
    services().auth.logout(body.refresh_token)
    return Status(204, None)


@me_router.get("", response={200: MeOut, 401: ErrorOut}, auth=bearer)
def me(request: HttpRequest) -> MeOut:
    principal = principal_of(request)
    return MeOut(id=principal.public_id, username=principal.username, role=principal.role.value)
