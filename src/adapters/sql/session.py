"""The Django unit of work and the per-thread state repositories share inside it.

The unit of work wraps `transaction.atomic()`. It is built once and used by every request, so its
state (the atomic blocks entered, the rows as loaded) lives in a thread-local: each app-server
thread runs its own use cases. Repositories compare what they save with what they loaded and
write only the rows that changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

from django.db import transaction


class OrmSession(threading.local):
    def __init__(self) -> None:
        self.blocks: list[tuple[Any, list[bool]]] = []
        # (table, key) -> the row's values as loaded, to write only what changed.
        self.snapshots: dict[tuple[str, object], tuple[Any, ...]] = {}


class DjangoUnitOfWork:
    def __init__(self, session: OrmSession, using: str = "default") -> None:
        self._session = session
        self._using = using

    def __enter__(self) -> Self:
        block = transaction.atomic(using=self._using)
        block.__enter__()
        self._session.blocks.append((block, [False]))
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        block, committed = self._session.blocks.pop()
        if exc_type is None and not committed[0]:
            # Left without commit(): undo this block's writes (a savepoint when nested).
            transaction.set_rollback(True, using=self._using)
        try:
            block.__exit__(exc_type, exc, tb)
        finally:
            if not self._session.blocks:
                self._session.snapshots.clear()

    def commit(self) -> None:
        self._session.blocks[-1][1][0] = True

    def rollback(self) -> None:
        self._session.blocks[-1][1][0] = False

    @staticmethod
    def on_commit(callback: Callable[[], None]) -> None:
        """Side effects (cache invalidation, tasks) run only after the outermost commit."""
        transaction.on_commit(callback)
