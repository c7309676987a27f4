"""Answers every operation can give that no view declares: the schema must list them, or a client
generated from it (and schemathesis' conformance checks) meets undocumented statuses.

- a request body that is not JSON (or not UTF-8): 400, from Ninja's parser;
- a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413, from the error-envelope middleware;
- a path or query parameter that does not parse (a malformed UUID, a non-integer): 422.
All of them in the one error envelope.
"""

from __future__ import annotations

from typing import Any

from ninja.openapi.schema import OpenAPISchema

from api.http.errors import EnvelopeAPI

_ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
# Keyed by int, as Ninja keys the responses it declares: a "422" beside a 422 would reach the JSON as
# the same key twice, which Swagger UI refuses to render ("duplicated mapping key").
_GENERIC = {
    400: "The body is not JSON.",
    413: "The body is larger than the server accepts.",
    422: "A parameter or the body does not validate.",
}


def _document_generic_answers(schema: OpenAPISchema) -> OpenAPISchema:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[int, Any] = operation["responses"]
            wanted = []
            if "requestBody" in operation:
                wanted += [400, 413, 422]
            if any(p.get("in") in ("path", "query") for p in operation.get("parameters", [])):
                wanted.append(422)
            for status in wanted:
                responses.setdefault(status, {"description": _GENERIC[status], **_ERROR_REF})
    return schema


# Operation ids are published (generated clients name their methods after them), so they keep the
# module names the API was first published under: "api.<package>.router" answers as "api.<package>",
# and the packages listed here under their older module name.
_PUBLISHED_MODULE = {
    "api.credits": "api.credits_read",
    "api.credits.commands": "api.book_commands",
    "api.payments": "api.book_commands",
    "api.waivers": "api.book_commands",
}


def published_operation_id(module: str, view_name: str) -> str:
    package = module.removesuffix(".router")
    return f"{_PUBLISHED_MODULE.get(package, package)}_{view_name}".replace(".", "_")


class DocumentedAPI(EnvelopeAPI):
    def get_openapi_operation_id(self, operation: Any) -> str:
        return published_operation_id(operation.view_func.__module__, operation.view_func.__name__)

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> OpenAPISchema:
        return _document_generic_answers(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))
