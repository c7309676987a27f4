"""Response schemas read from the read models: a read model (a DTO of domain.application.queries)
is answered as it is, so its fields are written once, in the DTO, not again in a schema and a
third time in a dict mapper. The schema keeps its own name and documentation for the OpenAPI
document; the endpoint returns the DTO and Ninja reads it by attributes."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from ninja import Schema
from pydantic import BeforeValidator, Field, create_model

from api.http.money import MoneyOut, money_dict
from domain.shared.money import Money


def schema_of(
    read_model: type,
    name: str,
    *,
    described: Mapping[str, str] | None = None,
    nested: Mapping[type, Any] | None = None,
) -> type[Schema]:
    """A Ninja schema called `name` with the read model's fields (names, types, order), each
    required; `described` gives a field its description in the OpenAPI document. Money fields are
    answered as `MoneyOut`; a tuple of read models as a list of the schema `nested` maps it to."""
    descriptions = described or {}
    unknown = set(descriptions) - {f.name for f in dataclasses.fields(read_model)}
    if unknown:
        raise TypeError(f"{read_model.__name__} has no field {sorted(unknown)}")
    types = typing.get_type_hints(read_model)
    fields: dict[str, Any] = {
        f.name: (
            _answered_as(types[f.name], nested or {}),
            Field(description=descriptions[f.name]) if f.name in descriptions else ...,
        )
        for f in dataclasses.fields(read_model)
    }
    return create_model(name, __base__=Schema, __module__=read_model.__module__, **fields)


def _money(value: Any) -> Any:
    return money_dict(value) if isinstance(value, Money) else value


# A Money read as {"amount": "…", "currency": "…"}; the document still names the MoneyOut schema.
_MONEY = Annotated[MoneyOut, BeforeValidator(_money)]


def _answered_as(hint: Any, nested: Mapping[type, Any]) -> Any:
    if hint is Money:
        return _MONEY
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and Money in typing.get_args(hint):
        return _MONEY | None
    if typing.get_origin(hint) in (tuple, list):
        item = typing.get_args(hint)[0]
        return list.__class_getitem__(nested[item]) if item in nested else hint
    return hint
