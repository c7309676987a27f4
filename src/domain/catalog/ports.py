"""What the use cases need to look up in the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SkipDays:
    """Which days a periodicity's schedule skips (its due dates move to the next working day)."""

    sundays: bool = False
    holidays: bool = False


class CatalogLookup(Protocol):
    def subcategory_exists(self, subcategory_id: int) -> bool: ...

    def skip_days(self, periodicity: str) -> SkipDays | None:
        """The periodicity's rules as the catalog sets them; None when the catalog has no such one."""
