"""The holiday calendar from the catalog's rows, kept in memory while they have not changed.

The table is tiny and read on every daily schedule, so each process keeps the dates; what tells it
they changed is the read cache's versioned-key mechanism (adapters.cache.read_cache): a holiday
added, edited or deleted (any path: the API, the admin, the seeding, all through the model's
signals) bumps the ("catalog", "holidays") version in Redis, and every process compares that
version (with the global generation) with the one its dates were read under before using them. So
a credit opened right after a holiday was added, in any process, does not fall due on it.

- Without Redis (a local-memory cache) the version is the process's own, which is then the only
  process there is.
- Redis not answering, or a bump this process could not deliver: the version is unknown and the
  dates are read again from the database (correct, only slower), as the read cache does.
- The version is read at most once per RECHECK_SECONDS: a schedule asks about each of its dates in
  a few hundred microseconds, one Redis round trip serves it all. A change made in this process is
  seen at once (a local generation); one made in another process within that window of its commit,
  as if the schedule had been built a moment earlier.
"""

from __future__ import annotations

import itertools
import time
from datetime import date

from django.db import connection, transaction

from adapters.cache.read_cache import ReadCache
from domain.application.queries.cache import catalog

RECHECK_SECONDS = 0.05
HOLIDAYS = catalog("holidays")
_changes = itertools.count(1)
_local_generation = 0  # moved on by every change made in this process


def holidays_changed() -> None:
    """Make every process read the holidays again: now (this process at once; others when the write
    commits, or see the uncommitted state before that), and again on commit (what correctness rests
    on: a process that read the rows between the first bump and the commit read the old ones)."""
    global _local_generation
    _local_generation = next(_changes)
    versions = ReadCache()
    versions.bump([HOLIDAYS])
    transaction.on_commit(lambda: versions.bump([HOLIDAYS]))


class CatalogHolidayCalendar:
    def __init__(self, versions: ReadCache | None = None, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self._versions = versions or ReadCache()
        self._recheck = recheck_seconds
        # (the dates, the version they were read under, this process's generation then, checked at):
        # one tuple, replaced whole, so threads sharing the calendar never see half of an update.
        self._state: tuple[frozenset[date], str | None, int, float] = (frozenset(), None, -1, float("-inf"))

    def is_holiday(self, day: date) -> bool:
        days, stamp, generation, checked_at = self._state
        now = time.monotonic()
        if now - checked_at > self._recheck or generation != _local_generation:
            local = _local_generation
            current = self._versions.stamp([HOLIDAYS])
            if current is None or current != stamp or local != generation:
                days = self._read()
            self._state = (days, current, local, now)
        return day in days

    @staticmethod
    def _read() -> frozenset[date]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT date FROM catalog_holiday")
            return frozenset(row[0] for row in cursor.fetchall())
