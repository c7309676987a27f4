"""Responses of hot reads served from the read cache as stored bytes.

The body is validated by the endpoint's response schema and encoded exactly as Ninja would, once,
on a miss; a hit returns the stored bytes with no database query and no serialization.

What is cached is validated as Ninja would (`encode`), through a plain-pydantic twin of the schema:
Ninja validates a response by wrapping every object of it (each nested schema: each row, each money
amount) in a `DjangoGetter` that resolves fields one Python call at a time, about 1 ms for a page of
20 credits on the benchmark machine; the twin (same fields, types and constraints; the API's schemas
have no validators or resolvers) validates the same dicts in pydantic-core, some 15 times faster.

The list pages, asked for on every request and never cached, are written straight from their
dicts (`json_response`): even the twin's validation and dump were a fifth of a credits page's
instructions (4.31 M against 3.49 M, `bench/instructions.py`). What each endpoint writes is pinned
instead by a test per list endpoint: its bytes are exactly what its schema's validation and Ninja's
renderer make of them (`tests/e2e/test_reads.py::test_a_list_page_is_what_ninja_would_render_from_its_schema`).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.http import HttpResponse
from ninja import Schema
from pydantic import BaseModel, create_model

from api.deps import services
from api.http.json_bytes import dumps
from domain.application.queries.cache import Subject
from domain.identity.model import Principal


def encode(schema: type[Schema], body: dict[str, Any]) -> bytes:
    """`body` validated by `schema` and rendered as Ninja renders a response (same bytes)."""
    return dumps(plain_twin(schema).model_validate(body).model_dump())


def json_response(body: dict[str, Any]) -> HttpResponse:
    """A list page's answer, written straight from its dicts (see above: no validation per request)."""
    return HttpResponse(dumps(body), content_type="application/json")


@dataclass(frozen=True, slots=True)
class CachedRead:
    """Where a hot read's bytes live in the read cache: its name, what they depend on, its variant."""

    name: str
    subjects: tuple[Subject, ...]
    variant: str


@dataclass(frozen=True, slots=True)
class HotRead:
    """A cached read that the early path (api.hot_reads) may answer before URL resolution and Ninja.

    Its endpoint and the early path call the same two functions: `where` (the cache entry for this
    caller and these path parameters) and `answer` (the body this caller gets from the stored bytes,
    or None when the endpoint must decide, e.g. a 404). The early path answers only a hit that
    `answer` accepts; anything else (no token, a miss, a refusal) goes the full way."""

    path: re.Pattern[str]  # the full path; its named groups are the endpoint's path parameters
    where: Callable[[Principal, dict[str, str]], CachedRead]
    answer: Callable[[Principal, bytes], bytes | None] = lambda principal, stored: stored


def cached_bytes(read: CachedRead, build: Callable[[], bytes]) -> bytes:
    return services().read_cache.get_or_build(read.name, read.subjects, read.variant, build)


def cached_response(read: CachedRead, build: Callable[[], bytes]) -> HttpResponse:
    return HttpResponse(cached_bytes(read, build), content_type="application/json")


@cache
def plain_twin(model: type[BaseModel]) -> type[BaseModel]:
    """A plain pydantic model with `model`'s fields (nested schemas twinned too). A schema with
    validators, resolvers or a config beyond Ninja's default keeps its own (slower) validation."""
    if not _twinnable(model):
        return model
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = _twin_type(info.annotation)
        if annotation is _UNSUPPORTED:
            return model
        fields[name] = (annotation, info)
    return create_model(f"Plain{model.__name__}", __module__=__name__, **fields)


_UNSUPPORTED = object()


def _twinnable(model: type[BaseModel]) -> bool:
    decorators = model.__pydantic_decorators__
    own = (
        decorators.validators,
        decorators.field_validators,
        decorators.field_serializers,
        decorators.model_serializers,
        decorators.computed_fields,
    )
    model_validators = [n for n in decorators.model_validators if n != "_run_root_validator"]
    resolvers = getattr(model, "_ninja_resolvers", {})
    config = {k: v for k, v in model.model_config.items() if k not in {"from_attributes", "title", "defer_build"}}
    return not any(own) and not model_validators and not resolvers and not config


def _twin_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        twin = plain_twin(annotation)
        return _UNSUPPORTED if twin is annotation and issubclass(annotation, Schema) else twin
    origin = typing.get_origin(annotation)
    if origin is None:
        return annotation
    args = tuple(_twin_type(a) for a in typing.get_args(annotation))
    if any(a is _UNSUPPORTED for a in args):
        return _UNSUPPORTED
    if origin in (typing.Union, types.UnionType):
        return typing.Union[args]  # noqa: UP007 - built from a tuple of types
    if origin in (list, dict, tuple, set, frozenset):
        return origin[args]
    if origin is typing.Literal:
        return annotation
    return _UNSUPPORTED
