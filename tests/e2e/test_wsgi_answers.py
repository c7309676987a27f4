"""What the WSGI application the servers run (config.wsgi) hands them: Django's answers as one list
of bytes, already closed, so a server sends them in one go instead of walking an iterator (under
granian that walk was a fifth of a no-op's CPU); streaming answers stay iterators the server closes."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import request_finished
from django.http import StreamingHttpResponse

# request_finished closes what Django's handler would (database connections): not inside a test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def _environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
    }  # fmt: skip


class _Finished:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, **_: Any) -> None:
        self.count += 1


def test_djangos_answer_leaves_the_front_as_one_list_of_bytes_with_request_finished_sent() -> None:
    from config.wsgi import application

    finished = _Finished()
    request_finished.connect(finished)
    started: list[str] = []
    try:
        answer = application(_environ("/api/v1/ping"), lambda status, headers, exc_info=None: started.append(status))
        sent_before_the_server_had_the_bytes = finished.count
    finally:
        request_finished.disconnect(finished)
    assert started == ["200 OK"]
    assert type(answer) is list and len(answer) == 1
    assert answer[0] == b"{}"  # the ping's body
    assert sent_before_the_server_had_the_bytes == 1


def test_a_streaming_answer_stays_an_iterator_the_server_closes() -> None:
    from api.hot_reads import HotReadsFront

    def chunks() -> Iterator[bytes]:
        yield b"a,b\n"
        yield b"1,2\n"

    def streaming_app(environ: dict[str, Any], start_response: Any) -> StreamingHttpResponse:
        response = StreamingHttpResponse(chunks(), content_type="text/csv")
        start_response("200 OK", list(response.items()))
        return response

    finished = _Finished()
    request_finished.connect(finished)
    try:
        answer = HotReadsFront(streaming_app)(_environ("/export.csv"), lambda *args: None)
        assert isinstance(answer, StreamingHttpResponse)
        assert finished.count == 0, "the server closes it once it has walked it"
        assert b"".join(answer) == b"a,b\n1,2\n"
        answer.close()
        assert finished.count == 1
    finally:
        request_finished.disconnect(finished)
