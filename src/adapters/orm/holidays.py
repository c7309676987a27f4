"""The holiday calendar from the catalog's rows, kept in memory for a minute (the table is tiny)."""

from __future__ import annotations

import time
from datetime import date

from django.db import connection


class CatalogHolidayCalendar:
    def __init__(self, ttl_seconds: float = 60.0) -> None:
        self._ttl = ttl_seconds
        self._days: frozenset[date] = frozenset()
        self._loaded_at = float("-inf")

    def is_holiday(self, day: date) -> bool:
        if time.monotonic() - self._loaded_at > self._ttl:
            with connection.cursor() as cursor:
                cursor.execute("SELECT date FROM catalog_holiday")
                self._days = frozenset(row[0] for row in cursor.fetchall())
            self._loaded_at = time.monotonic()
        return day in self._days
