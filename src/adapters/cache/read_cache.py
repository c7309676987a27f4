"""Hot reads cached as ready-to-send JSON bytes in Redis, invalidated exactly on commit.

Why bytes: a cache hit must cost less than the query it replaces, so the stored value is the
serialized response body, returned as is (no model, no schema, no JSON encoding on a hit; on one
Redis not even django-redis' pickling: see `_store`).

Why versions instead of deletes: a reader that started before a write could otherwise put the old
figures back after the write deleted them. Every cached value is keyed by the current versions of
what it depends on (the user, the credit, and a global generation); a write bumps the versions on
commit, so a value built from older data is never looked up again. A read after a write therefore
never shows a stale balance. The nightly job bumps the global generation (it changes every credit).

Misses are built from the primary (a replica may lag behind the version that was just bumped);
the cache itself is what takes these reads off the database.

One round trip per hit: on a single Redis (django-redis' DefaultClient) a small Lua script reads the
versions and the value under them at once; each round trip costs more CPU than the rest of a hit
(loopback TCP in this VM), so this about halves a hit. The scripts go on a socket of their own
(adapters.cache.script_connection: a third of redis-py's CPU per command). Sharded Redis
(ShardClient) spreads the keys over nodes a script cannot span: there it is two round trips
(versions, then the value).

Fail-open: the cache is django-redis with IGNORE_EXCEPTIONS; with Redis down the lookup answers
nothing and `set` does nothing, so every read is a miss served from the database, just slower.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from django.core.cache import caches
from django_redis.client import DefaultClient, ShardClient
from prometheus_client import Counter
from redis.exceptions import RedisError

from adapters.cache.script_connection import ScriptConnection
from adapters.db.routing import use_primary
from domain.application.queries.cache import Subject

OWED_RETRY_SECONDS = 0.2
_owed = threading.Event()  # this process lost a bump and has not made up for it yet
_owed_lock = threading.Lock()
_owed_count = 0  # bumps owed so far: a repayment clears _owed only if none was owed during it
_owed_thread: threading.Thread | None = None
_unreached: set[str] = set()  # shards of a sharded cache this process could not reach (see _stamp_of)
CACHE_LOOKUPS = Counter("read_cache_lookups_total", "Read-cache lookups by name and outcome.", ["name", "outcome"])
GLOBAL = "v:global"
# The values stored as raw bytes (one Redis): a key space of their own, so a value pickled by an
# earlier release or by a sharded configuration under the same name is never served as bytes.
RAW = "b:"
log = logging.getLogger(__name__)

# KEYS: the version keys; ARGV[1]: the value key without its stamp. Returns {stamp, value or nil}.
# The value key is not among KEYS (it depends on what the script reads): fine on one Redis node.
_LOOKUP_LUA = """
local parts = {}
for i, key in ipairs(KEYS) do parts[i] = redis.call('GET', key) or '0' end
local stamp = table.concat(parts, '.')
return {stamp, redis.call('GET', ARGV[1] .. stamp)}
"""

# KEYS: version keys to move on; ARGV[i]: a fresh starting value for KEYS[i] if it has none yet (at
# random, see _incr). Every key of one bump in one round trip.
_BUMP_LUA = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key) else redis.call('SET', key, ARGV[i]) end
end
return #KEYS
"""


class _Route(NamedTuple):
    """How this thread reaches the cache object `cache`: its django-redis client when that is one
    Redis (scripts and MGET reach every key; else None: a sharded Redis or a local-memory cache goes
    through the cache's own per-key calls), and the script socket to its primary (None: through
    redis-py), which serves lookups and bumps alike (one server in settings; a replica listed after
    it would lag behind the bumps)."""

    cache: Any
    client: DefaultClient | None
    script: ScriptConnection | None


class _Routes(threading.local):
    def __init__(self) -> None:
        self.by_alias: dict[str, _Route] = {}


_routes = _Routes()


def _forget_routes() -> None:
    # A forked worker must not write to its parent's script sockets.
    global _routes
    _routes = _Routes()


os.register_at_fork(after_in_child=_forget_routes)


class ReadCache:
    def __init__(self, alias: str = "default", ttl_seconds: int = 600) -> None:
        self._alias = alias
        self._ttl = ttl_seconds

    @property
    def _cache(self) -> Any:  # django-redis's (untyped): its set() answers True/False, or None failing open
        return caches[self._alias]

    def _route(self) -> _Route:
        """Resolved once per thread and cache object (a hit or a bump made four look-ups of a
        microsecond or more each: the cache, its client twice, the script socket); a new cache
        object (settings changed) is resolved again."""
        cache = caches[self._alias]
        route = _routes.by_alias.get(self._alias)
        if route is None or route.cache is not cache:
            client = getattr(cache, "client", None)
            if not isinstance(client, DefaultClient) or isinstance(client, ShardClient):
                client = None
            script = None if client is None else ScriptConnection.for_pool(client.get_client().connection_pool)
            route = _routes.by_alias[self._alias] = _Route(cache, client, script)
        return route

    def get(self, name: str, subjects: Iterable[Subject], variant: str) -> bytes | None:
        """The cached bytes of `name` for these subjects, or None (a miss, Redis not answering, or
        a bump this process still owes): what the early path of hot reads asks (api.hot_reads)."""
        if not self._pay_owed():
            return None
        _, hit = self._lookup(*_keys(name, subjects, variant))
        if hit is not None:
            _counted(name, "hit")
        return hit

    def get_or_build(self, name: str, subjects: Iterable[Subject], variant: str, build: Callable[[], bytes]) -> bytes:
        """The cached bytes of `name` for these subjects, or `build()` stored under their versions."""
        if not self._pay_owed():
            # Redis missed a bump of this process: what it holds may be older than the database.
            _counted(name, "bypass")
            with use_primary():
                return build()
        version_keys, prefix = _keys(name, subjects, variant)
        stamp, hit = self._lookup(version_keys, prefix)
        if hit is not None:
            _counted(name, "hit")
            return hit
        _counted(name, "miss")
        # Built from the primary: a lagging replica would put old figures under the new versions.
        with use_primary():
            body = build()
        # None: Redis did not answer, so the versions are unknown. A TTL of 0 keeps nothing (the
        # benchmark's cold runs): Redis would refuse the SET, a warning logged on every miss.
        if stamp is not None and self._ttl > 0:
            self._store(prefix, stamp, body)
        return body

    def _lookup(self, version_keys: list[str], prefix: str) -> tuple[str | None, Any]:
        """(stamp of the current versions, the value stored under it or None)."""
        cache, client, script = self._route()
        if client is None:
            stamp = self._stamp_of(version_keys)
            return stamp, None if stamp is None else cache.get(prefix + stamp)
        try:
            keys = [cache.make_key(k) for k in version_keys]
            if script is not None:
                raw_stamp, raw = script.eval(_LOOKUP_LUA, keys, [cache.make_key(RAW + prefix)])
            else:
                raw_stamp, raw = client.get_client(write=False).eval(
                    _LOOKUP_LUA, len(keys), *keys, cache.make_key(RAW + prefix)
                )
        except RedisError as exc:  # fail open, as django-redis' IGNORE_EXCEPTIONS does
            log.warning("read cache unavailable: %s", exc)
            self._owe()  # bumps of other processes may be lost with the link: see _owe
            return None, None
        return raw_stamp.decode(), raw

    def _store(self, prefix: str, stamp: str, body: bytes) -> None:
        """Keep `body` under the versions `stamp` for the TTL. On one Redis the bytes are stored as
        they are, under the RAW key space, and a hit returns them as read: django-redis pickles a
        value, and its `decode` first tries `int()` on the bytes (a ValueError whose message quotes
        them), then unpickles: 5.5 % of a cache hit's instructions. A sharded or local-memory cache
        keeps its own format."""
        cache, client, script = self._route()
        if client is None:
            cache.set(prefix + stamp, body, self._ttl)
            return
        key = cache.make_key(RAW + prefix) + stamp  # what the lookup script reads: ARGV[1] .. stamp
        try:
            if script is not None:
                script.set(key, body, self._ttl)
            else:
                client.get_client(write=True).set(key, body, ex=self._ttl)
        except RedisError as exc:  # fail open: the next read builds it again
            log.warning("read cache unavailable: %s", exc)
            self._owe()

    def stamp(self, subjects: Iterable[Subject]) -> str | None:
        """The current versions of `subjects` and the global generation, as one string that changes
        whenever one of them is bumped (in any process): what a process-local copy of data that
        depends on them is checked against. None when they cannot be known (Redis did not answer,
        or this process still owes a bump): then no local copy may be trusted."""
        if not self._pay_owed():
            return None
        keys = [GLOBAL, *(s.version_key for s in subjects)]
        cache, client, _ = self._route()
        if client is None:
            return self._stamp_of(keys)
        try:
            raw = client.get_client(write=False).mget([cache.make_key(k) for k in keys])
        except RedisError as exc:
            log.warning("read cache unavailable: %s", exc)
            self._owe()
            return None
        return ".".join(v.decode() if v is not None else "0" for v in raw)

    def _stamp_of(self, version_keys: list[str]) -> str | None:
        """The versions as a stamp on a sharded Redis (one MGET per shard holding some of them) or a
        local-memory cache; None when a shard did not answer. Not "0" for what could not be read:
        a value stored under a made-up stamp would be found again after later writes (one shard
        down: `make stress-cluster` served a balance from before three payments). None too from a
        shard answering again after this process could not reach it: the global generation is owed
        first (see _owe), per shard so that one shard down does not flush every shard's values."""
        cache = self._cache
        client = getattr(cache, "client", None)
        if not isinstance(client, ShardClient):  # local memory: this process's own versions
            versions = cache.get_many(version_keys)
            return ".".join(str(versions.get(k, 0)) for k in version_keys)
        made = [cache.make_key(k) for k in version_keys]
        by_node: dict[str, list[int]] = {}
        for i, key in enumerate(made):
            by_node.setdefault(client.get_server_name(key), []).append(i)
        parts: list[str] = ["0"] * len(made)
        for name, positions in by_node.items():
            try:
                values = client._serverdict[name].mget([made[i] for i in positions])
            except RedisError as exc:  # fail open: unknown versions, so nothing is read or stored
                log.warning("read cache shard unavailable: %s", exc)
                _unreached.add(name)
                return None
            for i, value in zip(positions, values, strict=True):
                parts[i] = "0" if value is None else value.decode()
        if _unreached and (healed := _unreached.intersection(by_node)):
            _unreached.difference_update(healed)
            self._owe()
            return None
        return ".".join(parts)

    def bump(self, subjects: Iterable[Subject]) -> None:
        """Make every cached value that depends on these subjects unreachable (one round trip)."""
        keys = [subject.version_key for subject in subjects]
        cache, client, script = self._route()
        if client is None:
            if not all([self._incr(key) for key in keys]):
                self._owe()
            return
        try:
            made = [cache.make_key(k) for k in keys]
            fresh = _fresh_versions(len(keys))
            if script is not None:
                script.eval(_BUMP_LUA, made, fresh)
            else:
                client.get_client(write=True).eval(_BUMP_LUA, len(made), *made, *fresh)
        except RedisError as exc:  # fail open: the bump is owed
            log.warning("read cache unavailable: %s", exc)
            self._owe()

    def bump_all(self) -> None:
        if not self._incr(GLOBAL):
            self._owe()

    # A bump Redis never got (unreachable: fail-open swallowed the error) would leave the values
    # cached before it reachable again once Redis answers: a balance from before a payment served
    # for up to the TTL (`make stress` showed it by cutting the app off from Redis during payments).
    # So a lost bump is owed: this process serves nothing from the cache until it has bumped the
    # global generation (everything cached before becomes unreachable), and a background thread
    # retries that every OWED_RETRY_SECONDS. Any other failure to reach Redis owes it too: another
    # process may have lost a bump to the same outage, and its retry can come up to a socket timeout
    # plus OWED_RETRY_SECONDS after the link heals, while this process would serve the old values
    # (`make stress` again, 1 run in 5). A process that met the outage repays before its first read
    # after it; one that never tried Redis meanwhile relies on the others' retries.
    def _owe(self) -> None:
        global _owed_thread, _owed_count
        with _owed_lock:
            _owed_count += 1
            _owed.set()
            if _owed_thread is None or not _owed_thread.is_alive():
                _owed_thread = threading.Thread(target=self._repay_owed, daemon=True, name="read-cache-owed")
                _owed_thread.start()

    def _repay_owed(self) -> None:
        while not self._pay_owed():
            time.sleep(OWED_RETRY_SECONDS)

    def _pay_owed(self) -> bool:
        """True when this process owes no bump (any more). The debt stays visible to every thread
        until a repayment has landed (cleared before, a read in another thread during the attempt,
        which can wait a socket timeout for a lost reply, served the old values: a test caught it)."""
        if not _owed.is_set():
            return True
        owed = _owed_count
        if not self._incr(GLOBAL):
            return False
        with _owed_lock:
            if _owed_count != owed:  # another loss meanwhile, maybe after the bump landed
                return False
            _owed.clear()
        return True

    def _incr(self, key: str) -> bool:
        """Move a version on; False when Redis could not be told (fail-open answers None)."""
        cache = self._cache
        try:
            return cache.incr(key) is not None
        except ValueError:  # no version yet: start it (a racing add is harmless, both move it on)
            # At a random value, not 1: after Redis lost its keys (a restart, a flush) a version
            # starting over could meet again one a process remembers from before, with other data.
            # On a sharded Redis, SET NX asked for directly, not through `add`: django-redis's sharded
            # client passes the shard on from its `add` to its own `set`, which warns that this will
            # become an error. Any other cache (one Redis, local memory: no `nx`) adds.
            if isinstance(getattr(cache, "client", None), ShardClient):
                added = cache.set(key, _fresh_version(), timeout=None, nx=True)
            else:
                added = cache.add(key, _fresh_version(), timeout=None)
            if added is None:
                return False
            if added:
                return True
            try:
                return cache.incr(key) is not None
            except ValueError:
                return cache.set(key, _fresh_version(), timeout=None) is not None


def _keys(name: str, subjects: Iterable[Subject], variant: str) -> tuple[list[str], str]:
    """The version keys a value depends on (the global generation first) and its key without the stamp."""
    return [GLOBAL, *(s.version_key for s in subjects)], f"r:{name}:{variant}:"


def _fresh_versions(n: int) -> list[int]:
    """n fresh versions, each in 1..2**48, from one draw of the system's randomness: a bump's keys
    are two, and each draw is a system call."""
    drawn = secrets.token_bytes(6 * n)
    return [1 + int.from_bytes(drawn[6 * i : 6 * i + 6]) for i in range(n)]


def _fresh_version() -> int:
    return _fresh_versions(1)[0]


_lookups: dict[tuple[str, str], Any] = {}


def _counted(name: str, outcome: str) -> None:
    """One lookup in CACHE_LOOKUPS; the labelled child is kept (`labels()` builds its key anew on
    every call: three times the increment's own cost)."""
    child = _lookups.get((name, outcome))
    if child is None:
        child = _lookups[(name, outcome)] = CACHE_LOOKUPS.labels(name, outcome)
    child.inc()
