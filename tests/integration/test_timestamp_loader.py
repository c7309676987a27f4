"""Timestamps come back from PostgreSQL as aware datetimes in UTC, parsed by psycopg's C loader
(adapters.db.postgresql.base): the same values Django's own Python loader gives, at a fraction of
its cost on every row of every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections, transaction
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

from adapters.sql import batch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

TEXT = "SELECT '2026-03-01 12:34:56.789+05'::timestamptz, now() - now() + '2026-07-04 00:00:00+00'::timestamptz"
WANTED = [
    datetime(2026, 3, 1, 7, 34, 56, 789000, tzinfo=UTC),
    datetime(2026, 7, 4, tzinfo=UTC),
]


def test_timestamps_are_parsed_by_psycopgs_c_loader() -> None:
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(pg_types["timestamptz"].oid, Format.TEXT)
    # Django's is a Python class of its own (django.db.backends.postgresql.psycopg_any); psycopg's
    # optimised one lives in its compiled module.
    assert loader.__module__.startswith(("psycopg_binary", "psycopg_c")), loader


def test_a_django_cursor_reads_aware_utc_datetimes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(TEXT)
        row = list(cursor.fetchone())
    assert row == WANTED
    assert all(value.tzinfo is UTC for value in row)


def test_a_server_side_cursor_reads_aware_utc_datetimes() -> None:
    """What `QuerySet.iterator()` and the admin's pages use: a named cursor."""
    with transaction.atomic():
        cursor = connection.chunked_cursor()
        try:
            cursor.execute(TEXT)
            assert list(cursor.fetchone()) == WANTED
        finally:
            cursor.close()


def test_the_statement_batch_reads_aware_utc_datetimes() -> None:
    (result,) = batch.run([(TEXT, None)])
    assert list(result.rows[0]) == WANTED
    assert all(value.tzinfo is UTC for value in result.rows[0])


def test_a_database_in_another_time_zone_keeps_djangos_loader() -> None:
    """The C loader is used only where it gives Django's answer: a database configured with its own
    TIME_ZONE keeps Django's loader, and its datetimes in that zone."""
    other = type(connections["default"])({**connection.settings_dict, "TIME_ZONE": "America/Bogota"}, alias="tz_other")
    try:
        with other.cursor() as cursor:
            cursor.execute(TEXT)
            first, second = cursor.fetchone()
        assert first.tzinfo == ZoneInfo("America/Bogota")
        assert first == WANTED[0] and second == WANTED[1]
        assert first.utcoffset() == timedelta(hours=-5)
    finally:
        other.close()
