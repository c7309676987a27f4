"""Hot reads cached as ready-to-send JSON bytes in Redis, invalidated exactly on commit.

Why bytes: a cache hit must cost less than the query it replaces, so the stored value is the
serialized response body, returned as is (no model, no schema, no JSON encoding on a hit).

Why versions instead of deletes: a reader that started before a write could otherwise put the old
figures back after the write deleted them. Every cached value is keyed by the current versions of
what it depends on (the user, the credit, and a global generation); a write bumps the versions on
commit, so a value built from older data is never looked up again. A read after a write therefore
never shows a stale balance. The nightly job bumps the global generation (it changes every credit).

Misses are built from the primary (a replica may lag behind the version that was just bumped);
the cache itself is what takes these reads off the database.

Fail-open: the cache is django-redis with IGNORE_EXCEPTIONS; with Redis down, `get_many` answers
nothing and `set` does nothing, so every read is a miss served from the database, just slower.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.cache import caches
from prometheus_client import Counter

from adapters.db.routing import use_primary

CACHE_LOOKUPS = Counter("read_cache_lookups_total", "Read-cache lookups by name and outcome.", ["name", "outcome"])
GLOBAL = "v:global"


@dataclass(frozen=True, slots=True)
class Subject:
    """Something cached values depend on: ("user", 42), ("credit", uuid)."""

    kind: str
    key: object

    @property
    def version_key(self) -> str:
        return f"v:{self.kind}:{self.key}"


def user(user_id: int) -> Subject:
    return Subject("user", user_id)


def credit(credit_id: object) -> Subject:
    return Subject("credit", credit_id)


class ReadCache:
    def __init__(self, alias: str = "default", ttl_seconds: int = 600) -> None:
        self._alias = alias
        self._ttl = ttl_seconds

    @property
    def _cache(self):  # type: ignore[no-untyped-def]
        return caches[self._alias]

    def get_or_build(self, name: str, subjects: Iterable[Subject], variant: str, build: Callable[[], bytes]) -> bytes:
        """The cached bytes of `name` for these subjects, or `build()` stored under their versions."""
        subjects = list(subjects)
        version_keys = [GLOBAL, *(s.version_key for s in subjects)]
        versions = self._cache.get_many(version_keys)
        stamp = ".".join(str(versions.get(k, 0)) for k in version_keys)
        key = f"r:{name}:{variant}:{stamp}"
        hit = self._cache.get(key)
        if hit is not None:
            CACHE_LOOKUPS.labels(name, "hit").inc()
            return hit
        CACHE_LOOKUPS.labels(name, "miss").inc()
        # Built from the primary: a lagging replica would put old figures under the new versions.
        with use_primary():
            body = build()
        self._cache.set(key, body, self._ttl)
        return body

    def bump(self, subjects: Iterable[Subject]) -> None:
        """Make every cached value that depends on these subjects unreachable."""
        for subject in subjects:
            self._incr(subject.version_key)

    def bump_all(self) -> None:
        self._incr(GLOBAL)

    def _incr(self, key: str) -> None:
        cache = self._cache
        try:
            cache.incr(key)
        except ValueError:  # no version yet: start it (a racing add is harmless, both move it on)
            if not cache.add(key, 1, timeout=None):
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, timeout=None)
