"""The read cache's scripts on a socket of their own (adapters.cache.script_connection), against real
Redis servers: the same answers as redis-py on the same pool (its database, its password, TCP or a
Unix socket), redis-py's errors when Redis fails, and a new connection once it is back."""

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
