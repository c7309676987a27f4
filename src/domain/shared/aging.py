"""Aging buckets: shared by credits (a credit's bucket) and analytics (the book's aging table)."""

from __future__ import annotations

import enum


class AgingBucket(enum.StrEnum):
    CURRENT = "current"
    D1_30 = "1-30"
    D31_60 = "31-60"
    D61_90 = "61-90"
    D90_PLUS = "90+"


def bucket_for(days_past_due: int) -> AgingBucket:
    if days_past_due <= 0:
        return AgingBucket.CURRENT
    if days_past_due <= 30:
        return AgingBucket.D1_30
    if days_past_due <= 60:
        return AgingBucket.D31_60
    if days_past_due <= 90:
        return AgingBucket.D61_90
    return AgingBucket.D90_PLUS
