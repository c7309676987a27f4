"""Currency codes from rows -> the domain's Currency, registering catalog currencies on first sight."""

from __future__ import annotations

from functools import cache

from django.db import connection

from domain.shared.errors import UnknownCurrency
from domain.shared.money import Currency, register_currency


@cache
def currency_of(code: str) -> Currency:
    try:
        return Currency.of(code)
    except UnknownCurrency:
        with connection.cursor() as cursor:
            cursor.execute("SELECT minor_units FROM catalog_currency WHERE code = %s", [code])
            row = cursor.fetchone()
        if row is None:
            raise
        return register_currency(code, row[0])
