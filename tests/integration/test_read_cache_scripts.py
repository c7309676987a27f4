"""The read cache's scripts on a socket of their own (adapters.cache.script_connection), against real
Redis servers: the same answers as redis-py on the same pool (its database, its password, TCP or a
Unix socket), redis-py's errors when Redis fails, and a new connection once it is back; and the read cache's way to
them, kept per thread: it follows a cache that new settings replace, and a forked worker's is its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import ConnectionPool, Redis
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from adapters.cache.script_connection import ScriptConnection
from tests.integration.test_read_cache import RedisNode

pytestmark = [pytest.mark.integration]

ECHO = "return {redis.call('GET', KEYS[1]), ARGV[1]}"


def test_a_script_answers_as_through_redis_py_then_fails_as_it_and_reconnects() -> None:
    node = RedisNode()
    try:
        pool = ConnectionPool.from_url(f"redis://127.0.0.1:{node.port}/3", socket_timeout=0.5)
        script = ScriptConnection.for_pool(pool)
        assert script is not None and ScriptConnection.for_pool(pool) is script  # one per thread
        Redis(connection_pool=pool).set("k", "v")  # in database 3: the script must have selected it
        assert script.eval(ECHO, ["k"], ["a"]) == Redis(connection_pool=pool).eval(ECHO, 1, "k", "a") == [b"v", b"a"]
        with pytest.raises(ResponseError):
            script.eval("return redis.call('NO-SUCH-COMMAND')", [], [])
        assert script.eval(ECHO, ["k"], [7]) == [b"v", b"7"]  # an error reply leaves it in step
        node.stop()
        with pytest.raises(RedisConnectionError):
            script.eval(ECHO, ["k"], ["a"])
        node = RedisNode(port=node.port)  # Redis back (empty): the next call connects again
        assert script.eval(ECHO, ["k"], ["b"]) == [None, b"b"]
        node.stop()
        node = RedisNode(port=node.port)  # restarted between two calls: the kept socket is dead
        assert script.eval(ECHO, ["k"], ["c"]) == [None, b"c"]  # retried once, on a new connection
    finally:
        node.stop()


def test_a_password_and_a_unix_socket_are_used_as_redis_py_uses_them(tmp_path: Path) -> None:
    path = str(tmp_path / "redis.sock")
    node = RedisNode("--requirepass", "s3cret", "--unixsocket", path, "--unixsocketperm", "700")
    try:
        for pool in (
            ConnectionPool.from_url(f"redis://:s3cret@127.0.0.1:{node.port}/2"),
            ConnectionPool(connection_class=UnixDomainSocketConnection, path=path, password="s3cret", db=2),
        ):
            Redis(connection_pool=pool).set("k", "through " + pool.connection_class.__name__)
            script = ScriptConnection.for_pool(pool)
            assert script is not None
            assert script.eval(ECHO, ["k"], ["x"]) == [b"through " + pool.connection_class.__name__.encode(), b"x"]
        refused = ScriptConnection.for_pool(ConnectionPool.from_url(f"redis://:wrong@127.0.0.1:{node.port}/0"))
        assert refused is not None
        with pytest.raises(RedisError):
            refused.eval(ECHO, ["k"], ["x"])
    finally:
        node.stop()


def test_a_connection_it_cannot_make_plainly_stays_with_redis_py() -> None:
    assert ScriptConnection.for_pool(ConnectionPool(connection_class=SSLConnection, host="127.0.0.1")) is None


# --- the read cache's way to Redis, resolved once per thread (adapters.cache.read_cache._Route) ---


def test_the_read_cache_follows_a_cache_replaced_by_new_settings() -> None:
    """Its client and script socket are kept per thread and cache object: a cache that settings
    replace (another Redis, a local-memory cache) is reached, not the one it replaced."""
    from django.test import override_settings

    from adapters.cache.read_cache import ReadCache
    from domain.application.queries.cache import user
    from tests.integration.test_read_cache import _caches

    first, second = RedisNode(), RedisNode()
    cache = ReadCache()
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "route-test"}}
    try:
        with override_settings(CACHES=_caches(first.url)):
            assert cache.get_or_build("r", [user(1)], "v", lambda: b"on the first") == b"on the first"
        calls_on_first = {k: n for k, n in first.command_calls().items() if k != "info"}  # INFO: the asking
        with override_settings(CACHES=_caches(second.url)):
            assert cache.get_or_build("r", [user(1)], "v", lambda: b"on the second") == b"on the second"
            cache.bump([user(1)])
            assert cache.get_or_build("r", [user(1)], "v", lambda: b"after the bump") == b"after the bump"
        with override_settings(CACHES=locmem):
            assert cache.get_or_build("r", [user(1)], "v", lambda: b"in memory") == b"in memory"
            assert cache.get("r", [user(1)], "v") == b"in memory"
        assert {k: n for k, n in first.command_calls().items() if k != "info"} == calls_on_first  # nothing more there
        assert second.dbsize() == 3  # the user's version and the two values stored there
    finally:
        first.stop()
        second.stop()


def test_a_forked_worker_opens_a_script_socket_of_its_own() -> None:
    """granian forks its workers after the app is imported: a child that kept its parent's socket
    would interleave its commands and replies with the parent's."""
    import os

    from django.test import override_settings

    from adapters.cache import read_cache
    from adapters.cache.read_cache import ReadCache
    from domain.application.queries.cache import user
    from tests.integration.test_read_cache import _caches

    node = RedisNode()
    cache = ReadCache()
    try:
        with override_settings(CACHES=_caches(node.url)):
            cache.bump([user(7)])
            parent_script = read_cache._routes.by_alias["default"].script
            assert parent_script is not None
            reader, writer = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: answer through the pipe, never return into pytest
                try:
                    cache.bump([user(7)])
                    child_script = read_cache._routes.by_alias["default"].script
                    os.write(writer, b"own" if child_script is not parent_script else b"parent's")
                finally:
                    os._exit(0)
            os.close(writer)
            answer = os.read(reader, 16)
            os.waitpid(pid, 0)
            os.close(reader)
            assert answer == b"own"
            assert read_cache._routes.by_alias["default"].script is parent_script  # the parent keeps its own
    finally:
        node.stop()


def test_fresh_versions_are_drawn_in_the_range_of_one_drawn_alone() -> None:
    from adapters.cache.read_cache import _fresh_versions

    drawn = [v for _ in range(200) for v in _fresh_versions(3)]
    assert len(drawn) == 600 and len(set(drawn)) == 600
    assert all(1 <= v <= 1 << 48 for v in drawn)
    assert max(drawn) > 1 << 46  # spread over the range, not small numbers
