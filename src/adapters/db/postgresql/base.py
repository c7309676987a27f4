from __future__ import annotations

import select
from datetime import UTC
from typing import Any

import psycopg
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from django.db.backends.postgresql.base import ServerSideCursor  # type: ignore[attr-defined]  # under is_psycopg3
from django.db.backends.postgresql.psycopg_any import get_adapters_template  # type: ignore[import-untyped]  # no stubs
from django.utils.asyncio import async_unsafe
from psycopg.adapt import AdaptersMap
from psycopg.postgres import types as pg_types
from psycopg.pq import Format

_TIMESTAMPTZ = pg_types["timestamptz"].oid


def utc_adapters() -> AdaptersMap:
    """Django's adapters for USE_TZ in UTC, with psycopg's own timestamptz loader put back.

    Django registers a Python subclass of psycopg's loader that replaces each value's tzinfo with
    the connection's time zone; being Python, it also keeps psycopg's C loader out, so every
    timestamp of every row is parsed in Python: ~3.5 µs a value against ~0.2 in C (20 rows of two
    timestamps: 140-230 µs against 6-11, `bench/timestamp_loader.py`). In UTC the C
    loader gives the same value: it reads the session's TimeZone, which Django sets to UTC on every
    connection (`_configure_timezone`), and psycopg maps "UTC" to `datetime.timezone.utc`, the
    tzinfo Django's loader puts there."""
    adapters = AdaptersMap(get_adapters_template(True, UTC))
    adapters.register_loader(_TIMESTAMPTZ, psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT))  # type: ignore[arg-type]
    return adapters


_UTC_ADAPTERS = utc_adapters()


class DatabaseWrapper(PostgresDatabaseWrapper):
    def is_usable(self) -> bool:
        raw = self.connection
        if raw is None or raw.closed or getattr(raw, "broken", False):
            return False
        try:
            readable, _, _ = select.select([raw.fileno()], [], [], 0)
        except (OSError, ValueError):  # the socket is gone
            return False
        if not readable:  # idle and silent: nothing has closed it
            return True
        return super().is_usable()  # a notice, a notification or the end: ask the server

    @property
    def _timestamps_in_c(self) -> bool:
        return self.timezone is UTC  # USE_TZ, and no other TIME_ZONE for this database

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if self._timestamps_in_c:
            params["context"] = _UTC_ADAPTERS
        return params

    @async_unsafe
    def create_cursor(self, name: str | None = None) -> Any:
        # Django's own checks that the cursor's timestamptz loader is in the connection's time zone
        # by reading the loader's `timezone` attribute, which psycopg's C loader has not: the
        # connection's adapters were chosen for UTC above, so there is nothing to check. The rest
        # is Django's (5.2) cursor choice as it stands.
        if not self._timestamps_in_c:
            return super().create_cursor(name)
        if name is None:
            return self.connection.cursor()
        if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            return ServerSideCursor(self.connection, name=name, scrollable=False, withhold=self.connection.autocommit)
        return self.connection.cursor(name, scrollable=False, withhold=self.connection.autocommit)
