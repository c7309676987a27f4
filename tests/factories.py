"""factory-boy factories for ORM rows."""

from __future__ import annotations

from datetime import date, timedelta
from string import ascii_uppercase

import factory
from django.contrib.auth.hashers import make_password

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Periodicity, Subcategory
from adapters.orm.identity.models import User

PASSWORD = "correct-horse-battery"
# Hash once: argon2 is deliberately slow, and most tests only need a user that can log in.
_PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    role = User.Role.CLIENT
    password = _PASSWORD_HASH


# --- catalog -------------------------------------------------------------------------------------


def _test_currency_code(n: int) -> str:
    # QMA..QZZ is ISO 4217's user-assigned range: never a real currency, so never a seeded one.
    return "Q" + ascii_uppercase[12 + (n // 26) % 14] + ascii_uppercase[n % 26]


class CurrencyFactory(factory.django.DjangoModelFactory):
    """get_or_create on the code: CurrencyFactory(code="COP") returns the seeded row."""

    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = factory.Sequence(_test_currency_code)
    name = factory.LazyAttribute(lambda c: f"Currency {c.code}")
    minor_units = 2
    active = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")


class SubcategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subcategory

    category = factory.SubFactory(CategoryFactory)
    name = factory.Sequence(lambda n: f"Subcategory {n}")


class PeriodicityFactory(factory.django.DjangoModelFactory):
    """The four periodicities are seeded by a migration; this fetches (or recreates) one by code."""

    class Meta:
        model = Periodicity
        django_get_or_create = ("code",)

    code = Periodicity.Code.MONTHLY
    name = factory.LazyAttribute(lambda p: p.code.capitalize())


class PaymentAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentAccount

    name = factory.Sequence(lambda n: f"Cash box {n}")
    kind = PaymentAccount.Kind.CASH
    currency = factory.SubFactory(CurrencyFactory, code="COP")
    active = True


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    date = factory.Sequence(lambda n: date(2031, 1, 1) + timedelta(days=n))
    name = factory.Sequence(lambda n: f"Holiday {n}")
