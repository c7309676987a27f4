"""What every money-moving endpoint shares: its error answers, the Idempotency-Key header it
documents, and the reason body of the admin's corrective commands."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.http.errors import ErrorOut
from api.http.request_model import RequestModel

ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
IDEMPOTENCY_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "maxLength": 128},
            "description": "Unique per operation: a retry with the same key and body replays the first response.",
        }
    ]
}
# The book's write operations are grouped under one tag in the API's documentation.
TAGS = ["book"]


class ReasonIn(RequestModel):
    reason: str = Field(min_length=3, max_length=500)
