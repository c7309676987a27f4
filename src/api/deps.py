"""The services the API calls, typed on the domain's ports and handed over by config.bootstrap at
start-up: the API builds none and imports no adapter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.application.idempotency import IdempotencyStore
from domain.application.onboarding import PeopleRegistry
from domain.application.ports import Ports
from domain.application.queries.audit import AuditReads
from domain.application.queries.cache import ReadCache
from domain.application.queries.catalog import CatalogReads
from domain.application.queries.jobs import Jobs
from domain.application.queries.reads import Reads
from domain.identity.services import AuthService
from domain.shared.money import Currency


@dataclass(frozen=True)
class Services:
    auth: AuthService
    health: Callable[[], list[Any]]
    catalog_queries: CatalogReads
    ports: Ports
    idempotency: IdempotencyStore
    currency: Callable[[str], Currency]
    reads: Reads
    people: PeopleRegistry
    read_cache: ReadCache
    jobs: Jobs
    audit: AuditReads


_services: Services | None = None


def install(services: Services) -> None:
    global _services
    _services = services


def services() -> Services:
    if _services is None:
        raise RuntimeError("API services are not wired: config.bootstrap must run first")
    return _services
