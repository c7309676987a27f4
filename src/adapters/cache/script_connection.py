"""The read cache's two Lua scripts (a hit's lookup, a write's bump) and a miss's SET of the value,
sent on a socket of their own, packed and parsed by hiredis, beside redis-py rather than through it.

Why: a hit is one EVAL, and through redis-py 8 (its retry wrapper, connection pool, observability
hooks and response callbacks) one EVAL costs ~90 µs of CPU here against ~33 µs for the same bytes
packed and parsed by hiredis, which redis-py itself uses for that: a sixth of a cache hit's CPU and
two of those per payment (BENCHMARKS.md, "The read cache's scripts on a socket of their own").
Everything else (values, versions on a sharded or local cache, health) stays with django-redis.

Only for what redis-py's pool would connect to plainly: TCP or a Unix socket, password and
database as configured, its timeouts. Anything else (TLS, a custom connection class) keeps
redis-py (`for_pool` answers None). A socket is per thread and per process (a forked worker never
shares its parent's); a failure closes it and raises redis-py's own `ConnectionError` or
`TimeoutError`, so callers fail open exactly as they do with redis-py, and the next call connects
again. A kept connection found closed is retried once on a new one, as redis-py does.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import hiredis
from redis.connection import Connection, ConnectionPool, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_local = threading.local()


class ScriptConnection:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader()

    @staticmethod
    def for_pool(pool: ConnectionPool) -> ScriptConnection | None:
        """This thread's connection to the Redis `pool` connects to, or None to keep redis-py."""
        kwargs = pool.connection_kwargs
        if pool.connection_class is Connection:
            where: tuple[Any, ...] = ("tcp", kwargs.get("host", "localhost"), kwargs.get("port", 6379))
        elif pool.connection_class is UnixDomainSocketConnection:
            where = ("unix", kwargs["path"])
        else:
            return None
        key = (*where, kwargs.get("db", 0), kwargs.get("username"), kwargs.get("password"), os.getpid())
        known: dict[tuple[Any, ...], ScriptConnection] = _local.__dict__.setdefault("connections", {})
        found = known.get(key)
        if found is None:
            found = known[key] = ScriptConnection(
                {
                    "where": where,
                    "db": kwargs.get("db", 0),
                    "username": kwargs.get("username"),
                    "password": kwargs.get("password"),
                    "timeout": kwargs.get("socket_timeout"),
                    "connect_timeout": kwargs.get("socket_connect_timeout") or kwargs.get("socket_timeout"),
                }
            )
        return found

    def eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVAL `script` with `keys` and `args`: its reply, parsed by hiredis (bytes, not str)."""
        return self._command("EVAL", script, len(keys), *keys, *args)

    def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """SET `key` to `value` (bytes as they are), expiring after `ttl_seconds`."""
        self._command("SET", key, value, "EX", ttl_seconds)

    # --- internals ------------------------------------------------------------------------------

    def _command(self, *parts: Any) -> Any:
        reused = self._sock is not None
        try:
            reply = self._send(parts)
        except TimeoutError as exc:
            self.close()
            raise RedisTimeoutError(f"Timeout reading from the read cache's Redis: {exc}") from exc
        except OSError as exc:
            self.close()
            if not reused:
                raise RedisConnectionError(f"Error talking to the read cache's Redis: {exc}") from exc
            # A connection kept from before may have been closed meanwhile (Redis restarted, an idle
            # timeout): once more on a new one, as redis-py retries. Both scripts bear a repeat (a
            # bump that ran but lost its reply moves the versions on twice: they only need to move).
            try:
                reply = self._send(parts)
            except OSError as again:
                self.close()
                raise RedisConnectionError(f"Error talking to the read cache's Redis: {again}") from again
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))  # the connection is still in step: kept
        return reply

    def _send(self, parts: tuple[Any, ...]) -> Any:
        sock = self._sock or self._connect()
        sock.sendall(hiredis.pack_command(parts))
        return self._read(sock)

    def _read(self, sock: socket.socket) -> Any:
        while True:
            reply = self._reader.gets()
            if reply is not False:
                return reply
            data = sock.recv(65536)
            if not data:
                raise OSError("the connection was closed by Redis")
            self._reader.feed(data)

    def _connect(self) -> socket.socket:
        settings = self._settings
        kind, *address = settings["where"]
        if kind == "tcp":
            sock = socket.create_connection(tuple(address), timeout=settings["connect_timeout"])
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(settings["connect_timeout"])
            sock.connect(address[0])
        sock.settimeout(settings["timeout"])
        self._sock, self._reader = sock, hiredis.Reader()
        hello: list[tuple[Any, ...]] = []
        if settings["password"] is not None:
            user = (settings["username"],) if settings["username"] else ()
            hello.append(("AUTH", *user, settings["password"]))
        if settings["db"]:
            hello.append(("SELECT", settings["db"]))
        for parts in hello:
            sock.sendall(hiredis.pack_command(parts))
            reply = self._read(sock)
            if isinstance(reply, hiredis.ReplyError):
                self.close()
                raise RedisConnectionError(f"The read cache's Redis refused {parts[0]}: {reply}")
        return sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
