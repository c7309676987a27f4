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

A command can also be sent ahead (`eval_ahead`, `set_ahead`): written now, its reply read later
(`settle`, or before the connection's next command), so the caller works on while Redis does: a
payment's bump made as its change is staged (read before its COMMIT is sent), and a miss's SET of
the value (read whenever the connection is next used: only a failure matters, and it is logged).
Waiting for a reply costs the worker a sleep and a wake-up (BENCHMARKS.md, "Redis replies read
later").
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import hiredis
from redis.connection import Connection, ConnectionPool, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_local = threading.local()

# Told the outcome of a command sent ahead once its reply is read: None, or redis-py's error.
Answered = Callable[[Exception | None], None]


class ScriptConnection:
    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader()
        # The commands sent ahead whose replies are not read yet, in order: (command, told, whether it
        # went on a connection kept from before, which may have been closed meanwhile).
        self._unread: list[tuple[tuple[Any, ...], Answered, bool]] = []

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

    def eval_ahead(self, script: str, keys: list[str], args: list[Any], answered: Answered) -> None:
        """EVAL sent now and its reply read later: `answered` is told the outcome by `settle` (or
        before this connection's next command). Only for a script that bears a repeat: a reply lost
        with a connection kept from before is answered by sending the script again."""
        self._ahead(("EVAL", script, len(keys), *keys, *args), answered)

    def set_ahead(self, key: str, value: bytes, ttl_seconds: int, answered: Answered) -> None:
        """SET `key` to `value` (bytes as they are), expiring after `ttl_seconds`: sent now and its
        reply read later, as `eval_ahead`."""
        self._ahead(("SET", key, value, "EX", ttl_seconds), answered)

    def _ahead(self, parts: tuple[Any, ...], answered: Answered) -> None:
        reused = self._sock is not None
        try:
            (self._sock or self._connect()).sendall(hiredis.pack_command(parts))
        except OSError as exc:
            self.close()
            answered(self._again(parts) if reused else _lost(exc))
            return
        self._unread.append((parts, answered, reused))

    def settle(self) -> None:
        """Read the reply of every command sent ahead, in order, and tell each its outcome."""
        while self._unread:
            parts, answered, reused = self._unread.pop(0)
            try:
                if self._sock is None:
                    raise OSError("the connection was closed")
                reply = self._read(self._sock)
            except OSError as exc:
                lost = [(parts, answered, reused), *self._unread]
                self._unread = []
                self.close()
                # A connection kept from before may have been closed meanwhile: once more on a new
                # one. Not after a timeout (Redis is there but slow or stopped), as `_command`.
                again = not isinstance(exc, TimeoutError)
                for lost_parts, told, was_reused in lost:
                    told(self._again(lost_parts) if was_reused and again else _lost(exc))
                return
            answered(ResponseError(str(reply)) if isinstance(reply, hiredis.ReplyError) else None)

    # --- internals ------------------------------------------------------------------------------

    def _again(self, parts: tuple[Any, ...]) -> Exception | None:
        """A command lost with a kept connection, sent again on a new one and waited for: its error or None."""
        try:
            self._command(*parts)
        except (RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
            return exc
        return None

    def _command(self, *parts: Any) -> Any:
        if self._unread:
            self.settle()  # replies come in order: those sent ahead first
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
        """Close the socket; a command sent ahead and not read is lost with it (told so)."""
        lost, self._unread = self._unread, []
        for _, answered, _ in lost:
            answered(_lost(OSError("the connection was closed before the reply was read")))
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def _lost(exc: OSError) -> RedisConnectionError | RedisTimeoutError:
    """redis-py's error for a reply that could not be read, as `_command` raises it."""
    if isinstance(exc, TimeoutError):
        return RedisTimeoutError(f"Timeout reading from the read cache's Redis: {exc}")
    return RedisConnectionError(f"Error talking to the read cache's Redis: {exc}")
