"""Seed the currencies and the four periodicities the domain relies on.

get_or_create, so rows an admin already edited are left alone. The reverse is a no-op: by the
time anyone migrates back, credits may point at these rows.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

CURRENCIES = [
    ("COP", "Colombian peso", 2),
    ("USD", "US dollar", 2),
    ("CLP", "Chilean peso", 0),
    ("JPY", "Japanese yen", 0),
    ("KWD", "Kuwaiti dinar", 3),
    ("EUR", "Euro", 2),
    ("MXN", "Mexican peso", 2),
]

# Daily collection rounds usually do not run on Sundays or holidays; the others keep their dates.
PERIODICITIES = [
    ("daily", "Daily", True, True, 1),
    ("weekly", "Weekly", False, False, 2),
    ("biweekly", "Biweekly", False, False, 3),
    ("monthly", "Monthly", False, False, 4),
]


def seed(apps: Any, schema_editor: Any) -> None:
    seed_reference_data(apps, schema_editor.connection.alias)


def seed_reference_data(apps: Any, using: str) -> None:
    """Also the tests' way to put these rows back after a transactional test's flush."""
    Currency = apps.get_model("catalog", "Currency")
    Periodicity = apps.get_model("catalog", "Periodicity")
    for code, name, minor_units in CURRENCIES:
        Currency.objects.using(using).get_or_create(code=code, defaults={"name": name, "minor_units": minor_units})
    for code, name, skip_sundays, skip_holidays, position in PERIODICITIES:
        Periodicity.objects.using(using).get_or_create(
            code=code,
            defaults={
                "name": name,
                "skip_sundays": skip_sundays,
                "skip_holidays": skip_holidays,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
