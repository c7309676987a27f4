"""Hostile input, schema-driven: schemathesis fuzzes every operation of /api/v1/openapi.json, signed in
as a client, an agent and an admin, with valid and deliberately invalid data (positive and negative
generation). Every answer must be a non-5xx whose status code, content type and body are the ones the
schema declares for that operation.

The requests go through Django's WSGI handler in-process (schemathesis' WSGI transport), inside the
test's transaction. Examples per operation are few and derandomized so `make test` stays fast and
repeatable; `stress/scenarios/hostile.py` runs the same over HTTP with hundreds of cases per role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from ninja import Schema
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from stress.scenarios.hostile import unknown_query_only

from tests.builders import open_credit, pay, payment_account
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

EXAMPLES_PER_OPERATION = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def book() -> dict[str, Any]:
    """A small book: an admin, an agent with a client who has an active credit with a payment."""
    admin = UserFactory(role="admin")
    agent = UserFactory(role="agent")
    client = UserFactory(role="client")
    payment_account("COP")
    credit = open_credit(client, agent)
    pay(credit, "100.00")
    return {"admin": admin, "agent": agent, "client": client, "credit": credit}


@pytest.fixture
def wsgi_app() -> Iterator[Callable[..., Any]]:
    """Django's WSGI app as a server runs it, minus what Django's own test client also switches off:
    closing the database connection around each request, which would end the test's transaction.
    (The test client connects those handlers again after each of its requests, hence per call.)"""
    handler = get_wsgi_application()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        return handler(environ, start_response)

    try:
        yield app
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], failures: list[str]) -> int:
    """Run `operation`'s cases in `mode`; every failed check goes to `failures`. Returns the calls made."""
    calls = 0

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: schemathesis.Case) -> None:
        nonlocal calls
        calls += 1
        response = case.call(headers={**(case.headers or {}), **headers})
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as exc:  # collect them all: one run shows every mismatch
            if unknown_query_only(case, operation, exc):
                return  # undeclared query parameters are ignored by design
            failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")

    fuzz()
    return calls


@pytest.mark.parametrize("role", ["client", "agent", "admin"])
def test_every_operation_as_each_role(
    role: str, book: dict[str, Any], login: Callable[..., dict], wsgi_app: Any
) -> None:
    token = login(book[role].username)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                calls += _fuzz(operation, mode, headers, failures)
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): only the positive run applies.
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n\n".join(failures)
    assert calls > 0


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_no_two_schemas_share_a_component_name() -> None:
    """OpenAPI components are keyed by class name: two schemas with one name and the document
    describes one of them for both (jobs' per-currency KPIs once stood in for /portfolio/kpis')."""
    import api.app  # noqa: F401  (imports every router module)

    by_name: dict[str, set[str]] = {}
    for cls in _subclasses(Schema):
        if cls.__module__.startswith("api."):
            by_name.setdefault(cls.__name__, set()).add(cls.__module__)
    assert {name: mods for name, mods in by_name.items() if len(mods) > 1} == {}


def test_the_document_declares_the_generic_answers(client: Any) -> None:
    """Unparsable bodies (400), oversized ones (413) and parameters that do not parse (422) are
    answers every such operation gives; the schema says so."""
    document = client.get("/api/v1/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(operation["responses"]), f"{method} {path}"
            if any(p["in"] in ("path", "query") for p in operation.get("parameters", [])):
                assert "422" in operation["responses"], f"{method} {path}"
