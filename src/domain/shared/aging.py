"""Aging buckets: shared by credits (a credit's bucket) and analytics (the book's aging table).

`BUCKET_BOUNDS` is the one statement of where each bucket ends; `bucket_for` and the SQL fragment
`adapters.sql.rules.bucket_sql` are both read from it.
"""

from __future__ import annotations

import enum


class AgingBucket(enum.StrEnum):
    CURRENT = "current"
    D1_30 = "1-30"
    D31_60 = "31-60"
    D61_90 = "61-90"
    D90_PLUS = "90+"


# Each bucket with the last day past due it holds (inclusive), in ascending order; beyond the last
# bound a credit is in `OLDEST_BUCKET`.
BUCKET_BOUNDS: tuple[tuple[int, AgingBucket], ...] = (
    (0, AgingBucket.CURRENT),
    (30, AgingBucket.D1_30),
    (60, AgingBucket.D31_60),
    (90, AgingBucket.D61_90),
)
OLDEST_BUCKET = AgingBucket.D90_PLUS


def bucket_for(days_past_due: int) -> AgingBucket:
    for last_day, bucket in BUCKET_BOUNDS:
        if days_past_due <= last_day:
            return bucket
    return OLDEST_BUCKET
