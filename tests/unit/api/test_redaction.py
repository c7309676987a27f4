"""The log filter's second net: credentials by their shape, where no request says what they are
(a Celery worker, a management command), and the record's every part (message and arguments,
exception text, extras) scrubbed."""

from __future__ import annotations

import base64
import logging

import pytest

from api.http.redaction import REDACTED, RedactSecretsFilter, redact_text

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3OTY0MDUxNjl9"
    ".sVjtU6nXekV81e8Qgn7uoe07hXaF4IX2oug6HEk6BlE"
)
BASIC = base64.b64encode(b"ana:Secret-pw-77").decode()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Unexpected auth - 'Basic {BASIC}'", BASIC),
        (f"Unexpected auth - 'Token {JWT}'", JWT),
        ("header was Bearer abc123def", "abc123def"),
        (f"a token in a query: /x?t={JWT}&y=1", JWT),
        ("login {'username': 'ana', 'password': 'Secret with spaces 1'}", "Secret with spaces 1"),
        ('{"refresh_token": "r3fr3sh-value-xyz", "other": 1}', "r3fr3sh-value-xyz"),
        ("POST /login password=hunter2-long&next=/", "hunter2-long"),
        ("META {'HTTP_AUTHORIZATION': 'Digest u=1, r=2', 'HTTP_COOKIE': 'sessionid=abcdef99'}", "abcdef99"),
        ("Idempotency-Key: key-of-the-client-1", "key-of-the-client-1"),
    ],
)
def test_credentials_are_redacted_by_their_shape(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted and REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "request",
        "/api/v1/credits/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/payments",
        "Invalid or expired refresh token.",
        "Authentication required: a valid bearer access token.",
        "The password is not acceptable.",
        "nightly delinquency done",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def _filtered(record: logging.LogRecord) -> logging.LogRecord:
    assert RedactSecretsFilter().filter(record) is True
    return record


def test_the_message_arguments_exception_and_extras_are_scrubbed() -> None:
    try:
        raise ValueError(f"could not decode Bearer {JWT}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("jobs", logging.ERROR, __file__, 1, "auth header %s", (f"Token {JWT}",), exc_info)
    record.headers = {"Authorization": f"Basic {BASIC}", "Accept": "application/json"}
    record.password = "Extra-pw-99"
    record.params = ("x", f"Bearer {JWT}")
    record.count = 3
    _filtered(record)
    text = logging.Formatter().format(record)
    for secret in (JWT, BASIC, "Extra-pw-99"):
        assert secret not in text and secret not in repr(record.__dict__)
    assert "ValueError" in text  # the traceback is kept, scrubbed
    assert record.headers["Accept"] == "application/json" and record.count == 3


def test_a_record_filtered_twice_stays_the_same() -> None:
    record = _filtered(logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %d", (f"Token {JWT}", 5), None))
    once = record.getMessage()
    assert _filtered(record).getMessage() == once == f"Token {REDACTED} and 5"


def test_a_record_that_cannot_be_redacted_is_withheld_not_raised() -> None:
    """A log call must not fail because of the filter, and must not leak when redaction fails."""
    loop: list = []
    loop.append(loop)  # a structure the recursive walk cannot finish
    record = logging.LogRecord("jobs", logging.INFO, __file__, 1, "state %s", (f"Token {JWT}",), None)
    record.state = loop
    _filtered(record)
    text = logging.Formatter().format(record)
    assert "withheld" in text and JWT not in text and not hasattr(record, "state")
