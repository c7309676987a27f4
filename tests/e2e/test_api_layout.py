"""The API's layout: one package per module, each router mounted under its own prefix, and a
published document that does not move when the code does (paths, methods and operationIds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

from django.test import Client
from ninja import Router, Schema
from pydantic import BaseModel

from api import app

PUBLISHED = json.loads((Path(__file__).parent / "openapi_operations.json").read_text())


def _operations() -> dict[str, str]:
    document = Client().get("/api/v1/openapi.json").json()
    return {
        f"{method.upper()} {path}": operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_every_published_operation_keeps_its_path_method_and_operation_id() -> None:
    assert _operations() == PUBLISHED


def test_each_package_router_is_mounted_under_its_own_prefix() -> None:
    for prefix, router in app.MOUNTS:
        assert prefix.startswith("/") and len(prefix) > 1, f"{router} mounted at {prefix!r}"
        module = next(op.view_func.__module__ for view in router.path_operations.values() for op in view.operations)
        assert module.startswith("api.") and module.endswith(".router"), module
        for path in router.path_operations:
            assert not path.startswith(prefix + "/") and path != prefix, f"{prefix} repeated in {path}"


def test_paths_are_served_under_the_prefix_of_the_router_that_declares_them() -> None:
    served = {key.split(" ", 1)[1] for key in PUBLISHED}
    for prefix, router in app.MOUNTS:
        for path in router.path_operations:
            assert f"/api/v1{prefix}{path}" in served or not _documented(router, path)


def _documented(router: Router, path: str) -> bool:
    return any(op.include_in_schema for op in router.path_operations[path].operations)


def test_the_credit_reads_and_writes_share_the_credits_router() -> None:
    from api.credits import router as credits

    methods = {m for view in [credits.router.path_operations[""]] for op in view.operations for m in op.methods}
    assert methods == {"GET", "POST"}
    assert [prefix for prefix, router in app.MOUNTS if router is credits.router] == ["/credits"]


def _models_within(annotation: object) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, at any depth (list[X], X | None, nested fields)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_within(field.annotation)
    for argument in get_args(annotation):
        yield from _models_within(argument)


def test_what_a_request_brings_is_validated_without_ninjas_from_the_orm_wrapper() -> None:
    # Ninja's Schema wraps every value it validates in a DjangoGetter (for reading ORM objects'
    # attributes): validating a payment's body cost ten times what pydantic alone costs (~50 µs
    # against ~5). What a request brings is plain data, so its models are plain pydantic models.
    wrapped = set()
    for _, router in app.MOUNTS:
        for view in router.path_operations.values():
            for operation in view.operations:
                for param_model in operation.models:
                    for field in param_model.model_fields.values():
                        wrapped |= {m.__name__ for m in _models_within(field.annotation) if issubclass(m, Schema)}
    assert not wrapped, f"request models built on ninja.Schema: {sorted(wrapped)}"


def _served_api_patterns() -> list[str]:
    from django.urls import get_resolver

    (api_resolver,) = [p for p in get_resolver().url_patterns if str(p.pattern) == app.MOUNT]
    return [str(p.pattern) for p in api_resolver.url_patterns]


def test_django_tries_the_hot_endpoints_paths_first() -> None:
    served = _served_api_patterns()
    for path in ("ping", "credits", "credits/<credit_id>/payments", "transactions", "collections/due-today"):
        assert path in served[:15], f"{path} is tried {served.index(path) + 1}th"


def test_the_order_changes_what_is_tried_first_never_what_answers() -> None:
    from config.urls import api

    served = _served_api_patterns()
    declared = [str(p.pattern) for p in api.urls[0]]
    assert sorted(served) == sorted(declared)
    # Within each first segment (one router's paths), the declared order is kept.
    for first in {p.split("/", 1)[0] for p in declared}:
        assert [p for p in served if p.split("/", 1)[0] == first] == [
            p for p in declared if p.split("/", 1)[0] == first
        ]
