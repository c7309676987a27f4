"""The unit-of-work port: one business transaction, committed or rolled back as a whole.

Use it as `with uow: ...; uow.commit()`. Leaving the block without `commit()` (or by an exception)
rolls back. The Django adapter wraps `transaction.atomic()` and runs on-commit hooks (cache
invalidation, Celery jobs) only after a real commit. Repositories are passed to the services
separately; they share the unit of work's transaction through the adapter's connection.
"""

from __future__ import annotations

from typing import Protocol, Self


class UnitOfWork(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...
