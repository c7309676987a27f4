"""Money POSTs: an Idempotency-Key header, the first response stored and replayed.

Same key + same request -> the stored response again, byte for byte (with `Idempotent-Replayed:
true`); same key + another request -> 409; two concurrent requests with one key -> one effect. The
mechanism is the use cases' (`domain.application.idempotency.run_once`): the key is claimed in the
unit of work of the use case it protects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from api.deps import services
from api.http.json_bytes import dumps
from api.http.security import principal_of
from domain.application.idempotency import Answer, fingerprint, run_once
from domain.shared.errors import InvalidInput

HEADER = "Idempotency-Key"
_META = "HTTP_" + HEADER.upper().replace("-", "_")  # its WSGI name (request.headers builds every header's)


def idempotency_key(request: HttpRequest) -> str:
    key = request.META.get(_META, "").strip()
    if not key:
        raise InvalidInput(f"This operation moves money: send an {HEADER} header (a unique value per operation).")
    return key


def idempotent(request: HttpRequest, body: Any, action: Callable[[], tuple[int, dict[str, Any]]]) -> HttpResponse:
    key = idempotency_key(request)
    svc = services()

    def rendered() -> Answer:
        # Encoded once: these bytes are what is sent now and on every replay.
        status, answer = action()
        return Answer(status, dumps(answer))

    answer, replayed = run_once(
        svc.ports.uow,
        svc.idempotency,
        owner=principal_of(request).user_id,
        key=key,
        fingerprint=fingerprint(request.method or "POST", request.path, body),
        action=rendered,
        # The actions are use cases: their first step is a statement (the credit's or the payment's
        # lock) and they act only inside their unit of work, so the claim can ride that statement.
        claim_ahead=True,
    )
    response = HttpResponse(answer.body, status=answer.status, content_type="application/json")
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response
