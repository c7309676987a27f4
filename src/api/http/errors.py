"""One error envelope for every error: {"error": {"code", "message", "details"}}.

Domain errors map to HTTP statuses in one table here.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from django.db import DataError, InterfaceError, InternalError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError, ValidationErrorContext

from api.http.json_bytes import dumps
from api.http.redaction import current_secrets, redact_text, redact_value
from domain.credits.errors import CreditNotOpen
from domain.identity.errors import Throttled, Unauthorized
from domain.shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, RuleViolated

log = logging.getLogger("api.errors")  # the name log consumers know

STATUS_OF: dict[type[DomainError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    RuleViolated: 422,
    Conflict: 409,
    # Money cannot move on a credit in its state (paid, closed, pending): a conflict with the resource.
    CreditNotOpen: 409,
    Unauthorized: 401,
    Forbidden: 403,
    Throttled: 429,
}

_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "throttled",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(Schema):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorOut(Schema):
    error: ErrorBody


class UnreadableBody(Exception):
    """A request body the server cannot read, said in the client's terms (raised by the body parser:
    `api.http.input_guard.JsonBodyParser`). Ninja wraps whatever its parser raises in a bare 400; the
    400 handler below answers with this one's code, message and details instead."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class EnvelopeAPI(NinjaAPI):
    """Ninja, with validation errors located as the client wrote the request.

    A view's single body schema is read as if the body were `{<parameter name>: body}`, so Ninja
    locates its fields as `["body", "body", "price"]` (the second "body" is the view's parameter
    name, nothing the client sent): that name is dropped, giving `["body", "price"]`.
    """

    def validation_error_from_error_contexts(self, error_contexts: list[ValidationErrorContext]) -> ValidationError:
        errors: list[dict[str, Any]] = []
        for context in error_contexts:
            wrapper = getattr(context.model, "__read_from_single_attr__", None)
            # Ninja drops each error's input (it may echo secrets); what was given is looked at here only.
            given = [err.get("input") for err in context.pydantic_validation_error.errors(include_url=False)]
            located = super().validation_error_from_error_contexts([context]).errors
            lists = getattr(context.model, "__ninja_collection_fields__", ())
            for err, value in zip(located, given, strict=True):
                loc = tuple(err.get("loc", ()))
                if wrapper and len(loc) > 1 and loc[1] == wrapper:
                    err["loc"] = (loc[0], *loc[2:])
                err.update(repeated_parameter(loc, value, lists) or {})
                errors.append(err)
        return ValidationError(errors)


def envelope(status: int, message: str, *, code: str | None = None, details: Any = None) -> HttpResponse:
    code = code or _CODE_OF_STATUS.get(status, "error")
    # No credential of the request goes back in an error (an echoed Idempotency-Key, a token in a
    # message): the same redaction as the log lines.
    secrets = current_secrets()
    body = {
        "error": {
            "code": code,
            "message": redact_text(message, secrets),
            "details": redact_value(details, secrets) if details else {},
        }
    }
    return HttpResponse(dumps(body), status=status, content_type="application/json")


def _status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def repeated_parameter(loc: tuple[Any, ...], given: object, list_fields: Collection[str]) -> dict[str, str] | None:
    """A field error in the client's terms when what failed is a query parameter given more than once
    (`JsonBodyParser.parse_querydict` passes its values on as a list, which a one-value field
    refuses with pydantic's words, "Input should be a valid string"), else None. A list field's own
    error is not a repetition."""
    if len(loc) == 2 and loc[0] == "query" and loc[1] not in list_fields and isinstance(given, list):
        return {
            "msg": f"Given more than once ({len(given)} times): this parameter takes one value.",
            "type": "repeated_parameter",
        }
    return None


def install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(DomainError)
    def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        status = _status_for(exc)
        response = envelope(status, exc.message, code=exc.code, details=exc.details)
        if isinstance(exc, Throttled):
            response["Retry-After"] = str(exc.retry_after)
        if status == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # Ninja's list of pydantic errors, trimmed of the input echo (it may hold secrets).
        fields = [
            {
                "loc": [str(part) for part in err.get("loc", [])],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors
        ]
        return envelope(422, "The request is not valid.", code="invalid_input", details={"fields": fields})

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = envelope(401, "Authentication required: a valid bearer access token.", code="unauthorized")
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return envelope(404, "Not found.")

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        cause = exc.__cause__
        if isinstance(cause, UnreadableBody):  # Ninja's "Cannot parse request body", from our parser
            return envelope(exc.status_code, cause.message, code=cause.code, details=cause.details)
        return envelope(exc.status_code, str(exc))

    @api.exception_handler(DataError)
    def unstorable_value(request: HttpRequest, exc: DataError) -> HttpResponse:
        # PostgreSQL refused a value the validation let through (out of a column's range, a character
        # it cannot store): the caller's input, and the use case's transaction rolled back with it.
        log.warning("database refused a value on %s %s: %s", request.method, request.path, _first_line(exc))
        return envelope(
            422, "A value in the request cannot be stored (out of range, or a character that is not allowed)."
        )

    @api.exception_handler(OperationalError)
    @api.exception_handler(InterfaceError)
    def database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The database is down, restarting or dropped the connection (`make stress` found a primary
        # restart answering 500s). A 503 says "retry": a money POST retried with its Idempotency-Key
        # replays what committed or runs again, never twice (the key's row commits with the payment).
        log.warning("database unavailable on %s %s: %s", request.method, request.path, _first_line(exc))
        response = envelope(503, "The service is briefly unavailable; retry in a moment.")
        response["Retry-After"] = "1"
        return response

    @api.exception_handler(InternalError)
    def refused_or_garbled(request: HttpRequest, exc: InternalError) -> HttpResponse:
        # A write that reached a server in read-only mode (SQLSTATE 25006): in a failover the balancer
        # may still hand out a standby being promoted or a demoted primary. Nothing was written: a
        # retry goes through once the primary is found (the failover drill found these answered 500).
        # Also psycopg's own InternalError, which has no SQLSTATE ("received 2 results from command
        # 'COMMIT'"): the connection behind pgbouncer was cut mid-COMMIT in a failover (CI's drill met
        # one 500). Its outcome is unknown: a 503, and the client's retry with its key settles it.
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if sqlstate == READ_ONLY_SQL_TRANSACTION or (exc.__cause__ is not None and sqlstate is None):
            return database_unavailable(request, exc)
        return unexpected(request, exc)

    @api.exception_handler(Exception)
    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The trace goes to the log with the request id; the caller gets no internals.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return envelope(
            500,
            "Internal error. Quote the request id when reporting it.",
            details={"request_id": getattr(request, "request_id", "-")},  # set by RequestIdMiddleware
        )


READ_ONLY_SQL_TRANSACTION = "25006"


class PlannedUnavailableFilter(logging.Filter):
    """Django logs every 5xx answer at ERROR ("Service Unavailable: /path"). A 503 is the API's planned
    answer while a dependency is away, already logged once as a warning with its cause; the ERROR line
    beside each one made a failover drill read like thousands of bugs. On the django.request logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503


def _first_line(exc: Exception) -> str:
    """A driver error's first line (the rest repeats the SQL); empty messages too."""
    return next(iter(str(exc).splitlines()), "")


ERROR_RESPONSES: dict[int, type[Schema]] = {401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
