"""The catalog context's errors."""

from __future__ import annotations

from domain.shared.errors import Conflict


class Duplicate(Conflict):
    """A catalog row clashes with one already there (a unique code, name or date)."""

    code = "conflict"
