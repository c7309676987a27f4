"""Response schemas read from the read models: a read model (a DTO of domain.application.queries)
is answered as it is, so its fields are written once, in the DTO, not again in a schema and a
third time in a dict mapper. The schema keeps its own name and documentation for the OpenAPI
document; the endpoint returns the DTO and Ninja reads it by attributes."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from ninja import Schema
from pydantic import Field, create_model


def schema_of(read_model: type, name: str, *, described: Mapping[str, str] | None = None) -> type[Schema]:
    """A Ninja schema called `name` with the read model's fields (names, types, order), each
    required; `described` gives a field its description in the OpenAPI document."""
    descriptions = described or {}
    unknown = set(descriptions) - {f.name for f in dataclasses.fields(read_model)}
    if unknown:
        raise TypeError(f"{read_model.__name__} has no field {sorted(unknown)}")
    types = typing.get_type_hints(read_model)
    fields: dict[str, Any] = {
        f.name: (types[f.name], Field(description=descriptions[f.name]) if f.name in descriptions else ...)
        for f in dataclasses.fields(read_model)
    }
    return create_model(name, __base__=Schema, __module__=read_model.__module__, **fields)
