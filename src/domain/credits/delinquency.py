"""Delinquency rules: days past due, aging bucket, default and the morosidad level.

- Days past due of a credit: those of its oldest unsettled installment whose due date has passed
  (0 on the due date itself).
- `is_in_default`: days past due strictly greater than N (`default_after_days`, configurable).
- Morosidad level: from the number of missed installments (due date passed, not settled),
  counted against ascending thresholds: with the default (1, 2, 4), 0 missed → level 0 (al día),
  1 → 1, 2-3 → 2, 4 or more → 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.shared.aging import AgingBucket
from domain.shared.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class DelinquencyPolicy:
    default_after_days: int = 90
    morosidad_thresholds: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        if self.default_after_days < 0:
            raise InvalidInput("default_after_days cannot be negative.")
        thresholds = self.morosidad_thresholds
        if any(t < 1 for t in thresholds) or list(thresholds) != sorted(set(thresholds)):
            raise InvalidInput("Morosidad thresholds must be positive and strictly ascending.")

    def is_in_default(self, days_past_due: int) -> bool:
        return days_past_due > self.default_after_days

    def morosidad_level(self, missed_installments: int) -> int:
        return sum(1 for t in self.morosidad_thresholds if missed_installments >= t)


@dataclass(frozen=True, slots=True)
class Delinquency:
    """A credit's delinquency as of a date (also the snapshot the nightly job stores)."""

    as_of: date | None
    days_past_due: int
    bucket: AgingBucket
    missed_installments: int
    morosidad_level: int
    is_in_default: bool


CLEAR = Delinquency(
    as_of=None,
    days_past_due=0,
    bucket=AgingBucket.CURRENT,
    missed_installments=0,
    morosidad_level=0,
    is_in_default=False,
)
