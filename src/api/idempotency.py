"""Money POSTs: an Idempotency-Key header, the first response stored and replayed.

Same key + same request -> the stored response again, byte for byte (with `Idempotent-Replayed:
true`); same key + another request -> 409; two concurrent requests with one key -> one effect (see
the store).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse

from api.deps import services
from api.http.security import principal_of
from domain.shared.errors import InvalidInput

HEADER = "Idempotency-Key"


def idempotent(request: HttpRequest, body: Any, action: Callable[[], tuple[int, dict[str, Any]]]) -> HttpResponse:
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise InvalidInput(f"This operation moves money: send an {HEADER} header (a unique value per operation).")
    principal = principal_of(request)
    store = services().idempotency
    fingerprint = store.fingerprint(request.method or "POST", request.path, body)

    def rendered() -> tuple[int, bytes]:
        # Encoded once, as JsonResponse would: these bytes are what is sent now and on every replay.
        status, answer = action()
        return status, json.dumps(answer, cls=DjangoJSONEncoder).encode()

    result, replayed = store.run_once(user_id=principal.user_id, key=key, fingerprint=fingerprint, action=rendered)
    response = HttpResponse(result.body, status=result.status_code, content_type="application/json")
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response
