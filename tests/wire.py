"""What the database connection sends, read from libpq's trace of the protocol."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TypeVar

from django.db import connection
from psycopg import pq

T = TypeVar("T")


def round_trips(action: Callable[[], T]) -> tuple[T, list[list[str]]]:
    """`action`'s result and what it sent, by round trip (each ends in one ReadyForQuery): a statement
    by the start of its text when it is parsed (or sent as a simple query), "(prepared)" when a
    prepared one is bound."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile(mode="w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            result = action()
        finally:
            pgconn.untrace()
        trace.seek(0)
        # One message per line, except the lines a statement's own newlines add: those start otherwise.
        messages = [line.split("\t") for line in trace.read().splitlines() if line[:2] in ("F\t", "B\t")]
    trips: list[list[str]] = [[]]
    for direction, _, kind, *rest in messages:
        if direction == "F" and kind in ("Query", "Parse"):
            trips[-1].append(rest[0].strip().split('"')[-2 if kind == "Parse" else 1][:40])
        elif direction == "F" and kind == "Bind":
            trips[-1].append("(prepared)")
        elif direction == "B" and kind == "ReadyForQuery":
            trips.append([])
    return result, [trip for trip in trips if trip]


def statements(trip: list[str]) -> list[str]:
    """A round trip's statements without the binds of prepared ones."""
    return [statement for statement in trip if statement != "(prepared)"]
