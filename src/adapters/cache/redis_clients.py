"""django-redis clients whose clear() deletes this cache's keys only, and the Redis nodes behind a cache.

django-redis' clear() is FLUSHDB: on a Redis database shared with another deployment, another
checkout, or the Celery broker, it wipes their keys too. Every key this cache writes starts with
"<KEY_PREFIX>:" (Django's default key function: prefix:version:key), so clear() deletes those.
"""

from __future__ import annotations

from typing import Any

from django_redis.client import DefaultClient, ShardClient
from django_redis.client.default import _main_exceptions
from django_redis.exceptions import ConnectionInterrupted
from redis import Redis

_BATCH = 1000
_GLOB_SPECIAL = "\\*?[]"


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern."""
    return "".join("\\" + char if char in _GLOB_SPECIAL else char for char in text)


def delete_prefixed(client: Redis, prefix: str) -> int:
    """Delete every key that starts with `prefix` (SCAN + UNLINK in batches); how many went."""
    deleted = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=glob_escape(prefix) + "*", count=_BATCH):
        batch.append(key)
        if len(batch) == _BATCH:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


class PrefixScopedClient(DefaultClient):
    """One Redis (or a primary and its replicas): clear() deletes "<KEY_PREFIX>:*" only."""

    def clear(self, client: Redis | None = None) -> None:
        if client is None:
            client = self.get_client(write=True)
        try:
            delete_prefixed(client, f"{self._backend.key_prefix}:")
        except _main_exceptions as exc:
            raise ConnectionInterrupted(connection=client) from exc


class PrefixScopedShardClient(ShardClient):
    """Keys sharded over several nodes: clear() deletes "<KEY_PREFIX>:*" on each node only."""

    def clear(self, client: Any = None) -> None:
        for node in self._serverdict.values():
            try:
                delete_prefixed(node, f"{self._backend.key_prefix}:")
            except _main_exceptions as exc:
                raise ConnectionInterrupted(connection=node) from exc


def cache_nodes(cache: Any) -> dict[str, Redis]:
    """Each Redis node behind a Django cache, named host:port/db (never its password): one per shard of a
    sharded cache (django-redis' get_redis_connection refuses those), the server of a plain one, none
    for a cache that is not Redis."""
    client = getattr(cache, "client", None)
    if isinstance(client, ShardClient):
        nodes: list[Redis] = list(client._serverdict.values())
    elif isinstance(client, DefaultClient):
        nodes = [client.get_client(write=True)]
    else:
        return {}
    return {_where(node): node for node in nodes}


def _where(node: Redis) -> str:
    options = node.connection_pool.connection_kwargs
    place = options.get("path") or f"{options.get('host', '?')}:{options.get('port', 6379)}"
    return f"{place}/{options.get('db', 0)}"
