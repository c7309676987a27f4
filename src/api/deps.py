"""The services the API calls, handed over by config.bootstrap at start-up (the API builds none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.identity.services import AuthService

if TYPE_CHECKING:
    from adapters.cache.read_cache import ReadCache
    from adapters.jobs.service import JobsService
    from adapters.queries import ReadQueries
    from adapters.queries.audit import AuditQueries
    from adapters.queries.catalog import CatalogQueries
    from domain.application.idempotency import IdempotencyStore
    from domain.application.ports import Ports
    from domain.shared.money import (
        Currency,
    )  # type-only: importing them loads ORM models, which needs Django set up first


@dataclass(frozen=True)
class Services:
    auth: AuthService
    health: Callable[[], list[Any]]
    catalog_queries: CatalogQueries
    ports: Ports
    idempotency: IdempotencyStore
    currency: Callable[[str], Currency]
    reads: ReadQueries
    read_cache: ReadCache
    jobs: JobsService
    audit: AuditQueries


_services: Services | None = None


def install(services: Services) -> None:
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise RuntimeError("API services are not wired: config.bootstrap must run first")
    return _services
