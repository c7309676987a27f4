"""The catalog's write port (CatalogEntries) and look-ups (CatalogLookup) on PostgreSQL.

Duplicates are caught by the database's unique constraints (so two concurrent requests cannot both
win), not only by a look-up first; a look-up would race. The use cases (domain.application.
use_cases.catalog) apply the catalog's rules and word the errors.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Subcategory
from domain.application.queries.catalog import CurrencyDTO, HolidayDTO, PaymentAccountDTO
from domain.catalog.errors import Duplicate
from domain.catalog.ports import SkipDays
from domain.shared.errors import InvalidInput, NotFound

_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"


class SqlCatalogEntries:
    def add_currency(self, currency: CurrencyDTO) -> None:
        # The code is the primary key: save() would silently update an existing row, so insert.
        _insert(
            Currency(code=currency.code, name=currency.name, minor_units=currency.minor_units, active=currency.active),
            field="code",
        )

    def add_category(self, name: str) -> int:
        row = Category(name=name)
        _insert(row, field="name")
        return row.pk

    def category_name(self, category_id: int) -> str | None:
        return Category.objects.filter(pk=category_id).values_list("name", flat=True).first()

    def add_subcategory(self, category_id: int, name: str) -> int:
        row = Subcategory(category_id=category_id, name=name)
        _insert(row, field="name")
        return row.pk

    def currency_active(self, code: str) -> bool | None:
        return Currency.objects.filter(pk=code).values_list("active", flat=True).first()

    def add_payment_account(self, account: PaymentAccountDTO) -> int:
        row = PaymentAccount(
            name=account.name,
            kind=account.kind,
            currency_id=account.currency,
            active=account.active,
            bank_name=account.bank_name,
            account_number_masked=account.account_number_masked,
        )
        _insert(row, field="name")
        return row.pk

    def add_holiday(self, holiday: HolidayDTO) -> None:
        _insert(Holiday(date=holiday.date, name=holiday.name), field="date")


def _insert(row: Model, *, field: str) -> None:
    # A savepoint, so a refused insert leaves the caller's transaction usable.
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError as exc:
        # Django's foreign keys are deferred to commit, so here it is mostly a unique violation; the
        # rules already enforce the check constraints.
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if sqlstate == _UNIQUE_VIOLATION:
            raise Duplicate("The row clashes with one already there.", details={"field": field}) from exc
        if sqlstate == _FOREIGN_KEY_VIOLATION:
            raise NotFound("A referenced catalog row does not exist.") from exc
        raise InvalidInput("The row breaks a catalog rule.", details={"field": field}) from exc


class SqlCatalogLookup:
    """What the use cases look up in the catalog (the port: domain.catalog.ports.CatalogLookup)."""

    def subcategory_exists(self, subcategory_id: int) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM catalog_subcategory WHERE id = %s", [subcategory_id])
            return cursor.fetchone() is not None

    def skip_days(self, periodicity: str) -> SkipDays | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT skip_sundays, skip_holidays FROM catalog_periodicity WHERE code = %s", [periodicity])
            row = cursor.fetchone()
        return SkipDays(sundays=row[0], holidays=row[1]) if row else None
