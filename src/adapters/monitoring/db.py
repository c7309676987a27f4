"""Every SQL statement, on every alias: counted per request and logged when slow.

A wrapper is attached to each new database connection (Django's `connection_created` signal), so
it covers the ORM, raw cursors, the admin, commands and Celery tasks alike. Slow statements are
logged with their SQL (truncated) and duration, never their parameters (they may hold personal data).
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created

log = logging.getLogger("db.slow")
_counter: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("db_query_counter", default=None)
MAX_SQL_IN_LOG = 500


def _wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        counter = _counter.get()
        if counter is not None:
            counter[0] += 1
        if elapsed_ms >= settings.SLOW_QUERY_MS:
            log.warning(
                "slow query",
                extra={
                    "duration_ms": round(elapsed_ms, 2),
                    "alias": context["connection"].alias,
                    "sql": sql[:MAX_SQL_IN_LOG],
                    "many": many,
                },
            )


def _attach(sender: object, connection: Any, **kwargs: object) -> None:
    if _wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_wrapper)


def install() -> None:
    connection_created.connect(_attach, dispatch_uid="monitoring.db.attach")


@contextmanager
def count_queries() -> Iterator[list[int]]:
    """Count the statements run in this block (on this thread); yields a one-item list."""
    counter = [0]
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)
