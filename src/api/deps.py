"""The services the API calls, handed over by config.bootstrap at start-up (the API builds none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.identity.services import AuthService

if TYPE_CHECKING:  # type-only: importing them loads ORM models, which needs Django set up first
    from adapters.orm.catalog.queries import CatalogQueries
    from adapters.orm.catalog.services import CatalogService


@dataclass(frozen=True)
class Services:
    auth: AuthService
    health: Callable[[], list[Any]]
    catalog: CatalogService
    catalog_queries: CatalogQueries


_services: Services | None = None


def install(services: Services) -> None:
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise RuntimeError("API services are not wired: config.bootstrap must run first")
    return _services
