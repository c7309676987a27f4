"""The app server's garbage collector: what is loaded to serve is frozen out of its full collections.

A full (generation 2) collection walks every tracked object. In a worker that is mostly Django,
Ninja, pydantic and our modules, loaded once and kept for the process's life: a full collection
took 74-94 ms there every ~1,400 cold reads, ~70 µs of CPU per request and the reads' p99
(BENCHMARKS.md, "Full collections frozen out"). `gc.freeze()` moves what exists into a permanent
generation that collections skip: once when the app is loaded (before the server forks its
workers, so the pages stay shared), and once more in each worker after its first requests, which
load lazily (URL resolvers, schemas, validators, connections). Cycles made after that are still
collected as before.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

# Requests a worker serves before what they loaded is frozen: the lazy loading is over by then.
WARM_UP_REQUESTS = 200


def freeze_loaded() -> None:
    """Collect what is garbage now, then freeze the rest out of later collections."""
    gc.collect()
    gc.freeze()


class FreezeAfterWarmUp:
    """A WSGI application that freezes what its process loaded once it has served `after` requests."""

    def __init__(self, app: Callable[..., Iterable[bytes]], after: int = WARM_UP_REQUESTS) -> None:
        self._app = app
        self._left = after

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._left > 0:
            self._left -= 1  # threads may race here: at worst the freeze comes a few requests late, or twice
            if self._left == 0:
                freeze_loaded()
        return self._app(environ, start_response)
