"""The NinjaAPI at /api/v1/: one router per module, one error envelope."""

from __future__ import annotations

from ninja import NinjaAPI

from api import book_commands
from api.audit import router as audit
from api.catalog import router as catalog
from api.clients import router as clients
from api.collections import router as collections
from api.credits import router as credits_read  # noqa: F401  (registers the credit GETs on book_commands.router)
from api.deps import Services, install
from api.health import router as health
from api.http.errors import install_error_handlers
from api.http.input_guard import JsonBodyParser
from api.http.openapi_docs import DocumentedAPI
from api.identity import router as identity
from api.jobs import router as jobs
from api.portfolio import router as portfolio
from api.transactions import router as transactions


def build_api(services: Services) -> NinjaAPI:
    install(services)
    api = DocumentedAPI(
        title="Fintech Credits API",
        version="1.0.0",
        description="Credits, installments, split payments, late fees and a double-entry ledger.",
        urls_namespace="api-v1",
        parser=JsonBodyParser(),
    )
    install_error_handlers(api)
    api.add_router("", identity.router)
    api.add_router("", health.router)
    api.add_router("", catalog.router)
    api.add_router("", book_commands.router)  # credits_read registers its GETs on this router too
    api.add_router("", transactions.router)
    api.add_router("", collections.router)
    api.add_router("", clients.router)
    api.add_router("", portfolio.router)
    api.add_router("", jobs.router)
    api.add_router("", audit.router)
    return api
