"""Wiring: the one place that builds domain services from their adapters."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction

from adapters.auth.django_stores import (
    CacheAttemptCounter,
    DjangoCredentialChecker,
    DjangoPrincipalDirectory,
    DjangoRefreshTokenStore,
)
from adapters.auth.jwt_codec import JwtCodec
from adapters.monitoring.health import probe_all
from adapters.orm.catalog.queries import CatalogQueries
from adapters.orm.catalog.services import CatalogService
from api.deps import Services
from domain.identity.model import TokenPolicy
from domain.identity.services import AuthService, ThrottlePolicy


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_auth_service() -> AuthService:
    return AuthService(
        credentials=DjangoCredentialChecker(),
        directory=DjangoPrincipalDirectory(),
        codec=JwtCodec(
            key=settings.JWT_SIGNING_KEY,
            algorithm=settings.JWT_ALGORITHM,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
        ),
        refresh_tokens=DjangoRefreshTokenStore(),
        attempts=CacheAttemptCounter(),
        transaction=transaction.atomic,
        clock=utc_now,
        policy=TokenPolicy(
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            access_ttl=settings.JWT_ACCESS_TTL,
            refresh_ttl=settings.JWT_REFRESH_TTL,
        ),
        throttle=ThrottlePolicy(
            window_seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS,
            per_username=settings.LOGIN_THROTTLE_PER_USERNAME,
            per_address=settings.LOGIN_THROTTLE_PER_ADDRESS,
        ),
    )


def bootstrap() -> Services:
    return Services(
        auth=build_auth_service(),
        health=probe_all,
        catalog=CatalogService(),
        catalog_queries=CatalogQueries(),
    )
