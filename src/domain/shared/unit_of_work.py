"""The unit-of-work port: one business transaction, committed or rolled back as a whole.

Use it as `with uow: ...; uow.commit()`. Leaving the block without `commit()` (or by an exception)
rolls back. It is reentrant: a block entered inside another joins it (one transaction, no
savepoint): its `commit()` leaves the decision to the outer block, and an exception leaving it
dooms the whole (so an idempotency claim and the use case it protects commit together, or not at
all). Effects recorded with `on_commit` (cache invalidation, jobs) are published only after the
outermost block commits. Repositories are passed to the use cases separately; they share the unit
of work's transaction through the adapter's connection.
"""

from __future__ import annotations

from typing import Protocol, Self


class UnitOfWork(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def on_commit(self, effect: object) -> None:
        """Publish `effect` (a small frozen record, e.g. CreditChanged) once the work commits."""
