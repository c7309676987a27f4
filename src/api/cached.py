"""Responses of hot reads served from the read cache as stored bytes.

The body is validated by the endpoint's response schema and encoded exactly as Ninja would, once,
on a miss; a hit returns the stored bytes with no database query and no serialization.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpResponse
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from adapters.cache.read_cache import Subject
from api.deps import services


def encode(schema: type[Schema], body: dict[str, Any]) -> bytes:
    return json.dumps(schema.model_validate(body).model_dump(), cls=NinjaJSONEncoder).encode()


def cached_response(name: str, subjects: Iterable[Subject], variant: str, build: Callable[[], bytes]) -> HttpResponse:
    body = services().read_cache.get_or_build(name, subjects, variant, build)
    return HttpResponse(body, content_type="application/json")
