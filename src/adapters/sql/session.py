"""The Django unit of work and the per-thread state repositories share inside it.

The unit of work wraps `transaction.atomic()`. It is built once and used by every request, so its
state (the blocks entered, the rows as loaded) lives in a thread-local: each app-server thread runs
its own use cases. Repositories compare what they save with what they loaded and write only the
rows that changed.

Reentrant: a block entered inside another joins its transaction (`atomic(savepoint=False)`: no
savepoint round trips; an exception leaving the inner block dooms the whole transaction).

The outermost block opens the connection's statement batch (`adapters.sql.batch`): the writes of
the repositories wait there and go in one round trip, at the latest just before COMMIT.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, Self

from django.db import transaction

from adapters.sql import batch


class EffectHandler(Protocol):
    """Where the unit of work sends its effects (config routes them, e.g. to the read cache)."""

    def staged(self, effect: object) -> None:
        """Told at once, inside the transaction, before the commit: a process that dies between its
        COMMIT and `committed` has still told it (and a unit of work inside a caller's transaction,
        e.g. a test's, may never see that commit)."""

    def committed(self, effect: object) -> None:
        """Told after the outermost commit only."""


class OrmSession(threading.local):
    def __init__(self) -> None:
        # (the atomic block, [committed?]) per block entered; joined blocks have their own flag.
        self.blocks: list[tuple[Any, list[bool]]] = []
        # (table, key) -> the row's values as loaded, to write only what changed.
        self.snapshots: dict[tuple[str, object], tuple[Any, ...]] = {}


class DjangoUnitOfWork:
    def __init__(self, session: OrmSession, using: str = "default", effects: EffectHandler | None = None) -> None:
        self._session = session
        self._using = using
        self._effects = effects

    def __enter__(self) -> Self:
        joining = bool(self._session.blocks)
        block = transaction.atomic(using=self._using, savepoint=not joining)
        block.__enter__()
        self._session.blocks.append((block, [False]))
        if not joining:
            batch.begin(self._using)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        block, committed = self._session.blocks.pop()
        outermost = not self._session.blocks
        if exc_type is None and not committed[0] and outermost:
            # Left without commit(): undo the work. A joined block leaves that to the outer one.
            transaction.set_rollback(True, using=self._using)
        if outermost:
            try:
                # The queued writes go before COMMIT; a write refused there rolls everything back.
                batch.end(
                    self._using,
                    send=exc_type is None and committed[0] and not transaction.get_rollback(using=self._using),
                )
            except BaseException as failure:
                self._session.snapshots.clear()
                block.__exit__(type(failure), failure, failure.__traceback__)
                raise
        try:
            block.__exit__(exc_type, exc, tb)
        finally:
            if outermost:
                self._session.snapshots.clear()

    def commit(self) -> None:
        self._session.blocks[-1][1][0] = True

    def rollback(self) -> None:
        self._session.blocks[-1][1][0] = False

    def on_commit(self, effect: object) -> None:
        """Side effects (cache invalidation, tasks) run only after the outermost commit."""
        if self._effects is None:
            return
        effects = self._effects
        # Before the commit as well as after it: a process killed between its COMMIT and the
        # on-commit callback (`make stress-cluster` SIGKILLed API nodes mid-payment) would otherwise
        # leave what was cached before the write reachable for the whole TTL.
        effects.staged(effect)
        transaction.on_commit(lambda: effects.committed(effect), using=self._using)
