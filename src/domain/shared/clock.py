"""The Clock port: the domain never calls `datetime.now()` itself, so tests can fix time."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime (UTC)."""

    def today(self) -> date:
        """The business date: the date in the business's time zone, which may differ from UTC's."""


class SystemClock:
    """The real clock; `business_tz` decides what "today" is (a credit falls due at local midnight)."""

    def __init__(self, business_tz: tzinfo = UTC) -> None:
        self._tz = business_tz

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(self._tz).date()
