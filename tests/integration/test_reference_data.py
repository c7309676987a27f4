"""The catalog's seeded currencies and periodicities outlive a transactional test's flush: a test
that runs after one finds them as the data migration left them (a CI run once failed on COP
missing because an earlier transactional test had emptied the table)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from adapters.orm.catalog.models import Currency, Periodicity

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_a_flush_leaves_the_seeded_reference_data_in_place() -> None:
    # What TransactionTestCase does after every transactional test.
    call_command("flush", verbosity=0, interactive=False)
    assert dict(Currency.objects.values_list("code", "minor_units")) == {
        "COP": 2,
        "USD": 2,
        "CLP": 0,
        "JPY": 0,
        "KWD": 3,
        "EUR": 2,
        "MXN": 2,
    }
    assert list(Periodicity.objects.order_by("position").values_list("code", flat=True)) == [
        "daily",
        "weekly",
        "biweekly",
        "monthly",
    ]
