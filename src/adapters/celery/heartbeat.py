"""Worker liveness through the broker: every worker notes itself; health reads who did, and what waits.

A broker that answers says nothing about whether anything consumes it: with no worker, a job stays
`pending` forever. Celery's `inspect ping` is a broadcast that waits for replies (a timeout on every
call), too dear for a health check. Instead each worker, while it consumes, writes its name and the
time into a sorted set beside each queue it consumes, every WORKER_HEARTBEAT_SECONDS (a bootstep on
the worker's own timer, so a stuck worker stops writing). Health reads the newest entry, the queue's
length and the messages taken but not acknowledged, in one pipelined round trip on a kept connection.
Keys follow the broker's layout (its `global_keyprefix`, the app's default queue), so two projects
on one Redis do not see each other's workers.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery, bootsteps
from django.conf import settings

log = logging.getLogger("jobs")

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _keys(app: Celery) -> tuple[str, str]:
    """The key prefix kombu puts on every key, and the hash of taken-but-unacknowledged messages."""
    options: dict[str, Any] = app.conf.broker_transport_options or {}
    prefix = str(options.get("global_keyprefix", ""))
    return prefix, prefix + str(options.get("unacked_key", "unacked"))


def heartbeat_key(prefix: str, queue: str) -> str:
    return f"{prefix}{queue}.workers"


_clients: dict[str, redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    """One client (a connection pool) per broker URL and process: a health check opens no connection."""
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return client


def uses_redis(broker_url: str | None) -> bool:
    return str(broker_url or "").startswith(_REDIS_SCHEMES)


@dataclass(frozen=True, slots=True)
class Liveness:
    worker: str  # the worker seen last, "" when none noted itself within the window
    seen_seconds_ago: float | None
    waiting: int  # messages queued for a worker plus those taken by one and not acknowledged yet


def liveness(app: Celery, broker_url: str, lost_after: float) -> Liveness:
    """The last worker to note itself within `lost_after` seconds on the app's default queue of the
    broker at `broker_url`, and how many messages wait there."""
    prefix, unacked = _keys(app)
    queue = app.conf.task_default_queue
    pipe = _client(broker_url).pipeline(transaction=False)
    pipe.zrevrange(heartbeat_key(prefix, queue), 0, 0, withscores=True)
    pipe.llen(prefix + queue)
    pipe.hlen(unacked)
    newest, queued, taken = pipe.execute()
    waiting = int(queued) + int(taken)
    if newest:
        name, at = newest[0]
        # Times are the workers' clocks: a skew of a few seconds only shifts the window a little.
        ago = max(0.0, time.time() - float(at))
        if ago <= lost_after:
            return Liveness(name.decode() if isinstance(name, bytes) else str(name), round(ago, 1), waiting)
    return Liveness("", None, waiting)


class Heartbeat(bootsteps.StartStopStep):
    """Consumer bootstep: while the worker consumes, note it beside each of its queues.

    Started when the consumer starts (and again after a lost connection is restored), stopped when it
    stops consuming: the worker then takes its name out, so health need not wait out the window."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.keys: list[str] = []
        self.name = ""
        self.client: redis.Redis | None = None

    def start(self, c: Any) -> None:
        if not uses_redis(c.app.conf.broker_url):
            log.info("worker heartbeat off: the broker is not Redis")
            return
        prefix, _ = _keys(c.app)
        self.name = c.hostname
        self.keys = [heartbeat_key(prefix, queue.name) for queue in c.task_consumer.queues]
        self.client = _client(c.app.conf.broker_url)
        self.beat()
        self.tref = c.timer.call_repeatedly(settings.WORKER_HEARTBEAT_SECONDS, self.beat, priority=10)

    def beat(self) -> None:
        if self.client is None:
            return
        now = time.time()
        window = settings.WORKER_LOST_AFTER_SECONDS
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in self.keys:
                pipe.zadd(key, {self.name: now})
                pipe.zremrangebyscore(key, "-inf", now - window)  # names of workers long gone
                pipe.expire(key, math.ceil(window) * 2)  # nothing left behind once every worker is gone
            pipe.execute()
        except redis.RedisError as exc:  # the consumer notices a broker outage itself; keep the worker up
            log.warning("worker heartbeat not written: %s", type(exc).__name__)

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.client is not None and self.keys:
            try:
                pipe = self.client.pipeline(transaction=False)
                for key in self.keys:
                    pipe.zrem(key, self.name)
                pipe.execute()
            except redis.RedisError:
                pass  # the entry ages out of the window on its own
        self.client = None

    shutdown = stop
    terminate = stop
