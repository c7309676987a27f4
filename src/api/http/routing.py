"""Moving operations between Ninja routers, for paths that two modules serve.

Ninja serves one path from one router: a second router declaring the same path answers 405 for its
methods. While the credit writes live in `api.book_commands` (absolute paths on a router of its own)
and the credit reads in `api.credits` (paths relative to /credits), the writes under /credits are
moved onto the credits router, keeping their tags and auth, before the API is built.
"""

from __future__ import annotations

from ninja import Router


def move_paths(source: Router, prefix: str, target: Router) -> None:
    """Move every operation of `source` whose path is `prefix` or below it onto `target`, with the
    path made relative to `prefix`; operations that declare no tags keep the source router's."""
    if source.auth is not target.auth:
        raise ValueError("moved operations would change their authentication")
    for path in [p for p in source.path_operations if p == prefix or p.startswith(prefix + "/")]:
        view = source.path_operations.pop(path)
        for operation in view.operations:
            if operation.tags is None:
                operation.tags = source.tags
        relative = path.removeprefix(prefix)
        existing = target.path_operations.get(relative)
        if existing is None:
            target.path_operations[relative] = view
        else:
            existing.operations.extend(view.operations)
