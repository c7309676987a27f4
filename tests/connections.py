"""The services as the suite is configured with them. Connection strings for raw drivers and
subprocesses come from the database Django uses (pytest-django's test database), never from an
assumed host and port: the embedded fallback server listens only on a Unix socket, so its "host" is
a directory. Broker keys are cleaned by the tests' instance prefix only (the Redis may be shared)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import redis
from django.conf import settings
from django.db import connections

from adapters.cache.redis_clients import delete_prefixed

ROOT = Path(__file__).resolve().parents[1]
_URL_PARTS = ("host", "port", "user", "password", "dbname")


@cache
def _libpq_keywords() -> frozenset[str]:
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def libpq_params(alias: str = "default") -> dict[str, str]:
    """What Django passes to psycopg.connect for this alias, less the Python-only arguments
    (cursor factory, adapters context, prepare threshold) and the client encoding it sets itself."""
    params = connections[alias].get_connection_params()
    return {
        key: str(value)
        for key, value in params.items()
        if key in _libpq_keywords() and key != "client_encoding" and value not in (None, "")
    }


def conninfo(alias: str = "default") -> str:
    """A libpq conninfo string ("host=/path/to/socket-dir dbname=test_x user=postgres")."""
    return psycopg.conninfo.make_conninfo(**libpq_params(alias))


def database_url(alias: str = "default", *, dbname: str = "") -> str:
    """The same as a postgresql:// URL (for DATABASE_URL): a socket directory as host is
    percent-encoded, which both libpq and dj-database-url read back as a path. `dbname`: another
    database on the same server."""
    params = libpq_params(alias)
    if dbname:
        params["dbname"] = dbname
    auth = quote(params.get("user", ""), safe="")
    if params.get("password"):
        auth += ":" + quote(params["password"], safe="")
    netloc = quote(params.get("host", ""), safe="") + (f":{params['port']}" if params.get("port") else "")
    url = f"postgresql://{auth}@{netloc}/{quote(params['dbname'], safe='')}"
    extra = {key: value for key, value in params.items() if key not in _URL_PARTS}
    return f"{url}?{urlencode(extra)}" if extra else url


def delete_broker_keys() -> None:
    """Every broker key of the tests' instance (queues, unacked messages, bindings): only those."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix")
    if settings.CELERY_BROKER_URL and prefix:
        delete_prefixed(redis.Redis.from_url(settings.CELERY_BROKER_URL), prefix)


def app_environment(**extra: str) -> dict[str, str]:
    """The environment for an app subprocess (a Celery worker, a script) on the suite's test
    database and broker; `extra` last (e.g. another instance's APP_INSTANCE)."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "APP_ENV": "test",
        "DATABASE_URL": database_url(),
        "DB_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **extra,
    }
