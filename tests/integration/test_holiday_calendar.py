"""The holiday calendar across processes (issue 11 §6): each process keeps the dates in memory and
reads them again as soon as the ("catalog", "holidays") version in Redis moved, which every change
to a holiday row does on commit, whichever process made it; with Redis not answering it reads the
database every time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from django.core.cache import caches
from django.db import connection

from adapters.cache.read_cache import ReadCache
from adapters.orm.catalog.models import Holiday
from adapters.sql.holidays import HOLIDAYS, RECHECK_SECONDS, CatalogHolidayCalendar
from tests.connections import database_url

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2031, 3, 17)


def _insert_behind_the_models_back(day: date) -> None:
    """A row as another process's commit leaves it: in the table, with no signal in this process."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO catalog_holiday (date, name) VALUES (%s, 'Elsewhere')", [day])


@pytest.mark.django_db
def test_the_dates_are_kept_until_the_version_moves_then_read_again() -> None:
    calendar = CatalogHolidayCalendar(recheck_seconds=0)
    assert not calendar.is_holiday(DAY)
    _insert_behind_the_models_back(DAY)
    assert not calendar.is_holiday(DAY)  # kept: nothing said the rows changed
    ReadCache().bump([HOLIDAYS])  # what the other process's commit does
    assert calendar.is_holiday(DAY)


@pytest.mark.django_db
def test_a_change_in_this_process_counts_at_once_even_within_the_recheck_window() -> None:
    calendar = CatalogHolidayCalendar(recheck_seconds=3600)
    assert not calendar.is_holiday(DAY)
    Holiday.objects.create(date=DAY, name="Added")
    assert calendar.is_holiday(DAY)
    Holiday.objects.filter(date=DAY).delete()
    assert not calendar.is_holiday(DAY)


@pytest.fixture
def redis_down(settings: object) -> Iterator[str]:
    settings.CACHES = {  # type: ignore[attr-defined]
        **settings.CACHES,  # type: ignore[attr-defined]
        "down": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1, "IGNORE_EXCEPTIONS": True},
        },
    }
    yield "down"
    caches._settings = None  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_with_redis_not_answering_the_database_is_read_every_time(redis_down: str) -> None:
    calendar = CatalogHolidayCalendar(ReadCache(alias=redis_down), recheck_seconds=0)
    assert not calendar.is_holiday(DAY)
    _insert_behind_the_models_back(DAY)
    assert calendar.is_holiday(DAY)


ADD_IN_ANOTHER_PROCESS = """
import django, sys
from datetime import date
django.setup()
from config.bootstrap import build_ports
from domain.application.ports import SYSTEM
from domain.application.use_cases import catalog
catalog.create_holiday(build_ports(), SYSTEM, day=date.fromisoformat(sys.argv[1]), name="From another process")
"""


@pytest.mark.django_db(transaction=True)
def test_a_holiday_added_by_another_process_counts_here_right_after() -> None:
    calendar = CatalogHolidayCalendar()  # as the app builds it
    assert not calendar.is_holiday(DAY)
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "APP_ENV": "test",
        "DATABASE_URL": database_url(),
    }
    subprocess.run([sys.executable, "-c", ADD_IN_ANOTHER_PROCESS, DAY.isoformat()], env=env, cwd=ROOT, check=True)
    time.sleep(RECHECK_SECONDS * 2)
    assert calendar.is_holiday(DAY)
