"""Money columns: numeric with enough places for every currency (KWD has 3), never float."""

from __future__ import annotations

from django.db import models

MAX_DIGITS = 20
DECIMAL_PLACES = 4


def amount_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)  # type: ignore[arg-type]


def currency_field(**kwargs: object) -> models.CharField:
    return models.CharField(max_length=3, **kwargs)  # type: ignore[arg-type]
