"""The HolidayCalendar port: which dates a daily schedule must not fall on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol


class HolidayCalendar(Protocol):
    def is_holiday(self, day: date) -> bool: ...


class NoHolidays:
    def is_holiday(self, day: date) -> bool:
        return False


class FixedHolidays:
    """A calendar from a known set of dates (the catalog's holiday rows, or a test's)."""

    def __init__(self, days: Iterable[date]) -> None:
        self._days = frozenset(days)

    def is_holiday(self, day: date) -> bool:
        return day in self._days
