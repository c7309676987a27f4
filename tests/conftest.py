from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module

import pytest
from django.apps import AppConfig
from django.apps import apps as django_apps
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate

from tests.connections import delete_broker_keys


@pytest.fixture(scope="session", autouse=True)
def _leave_no_keys_behind() -> Iterator[None]:
    """The suite's cache and broker keys, left by a run that died too, go before and after it; on a
    shared Redis nothing else is touched (cache.clear() deletes the key prefix's keys only)."""
    cache.clear()
    delete_broker_keys()
    yield
    cache.clear()
    delete_broker_keys()


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> None:
    """Throttle counters and cached reads must not leak from one test into the next."""
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        cache.clear()


def _reference_data_as_migrated(sender: AppConfig, using: str = DEFAULT_DB_ALIAS, **_: object) -> None:
    """A transactional test's flush empties every table, the catalog's seeded currencies and
    periodicities too; the flush then sends post_migrate, and this puts them back as the data
    migration left them, so no test depends on running before the first transactional one."""
    if sender.label == "catalog":
        seeds = import_module("adapters.orm.catalog.migrations.0002_seed_reference_data")
        seeds.seed_reference_data(django_apps, using)


post_migrate.connect(_reference_data_as_migrated, dispatch_uid="tests.reference_data_as_migrated")
