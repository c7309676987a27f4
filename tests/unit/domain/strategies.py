"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from domain.credits.schedule import InterestMethod, Periodicity
from domain.shared.money import CLP, COP, JPY, KWD, USD, Currency, Money

CURRENCIES = [COP, USD, CLP, JPY, KWD]

currencies = st.sampled_from(CURRENCIES)


def money(currency: Currency, min_units: int = 0, max_units: int = 10**12) -> st.SearchStrategy[Money]:
    return st.integers(min_units, max_units).map(lambda u: Money.from_minor(u, currency))


rates = st.decimals(min_value=Decimal(0), max_value=Decimal("1.2"), places=4)
periodicities = st.sampled_from(list(Periodicity))
methods = st.sampled_from(list(InterestMethod))
first_dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
