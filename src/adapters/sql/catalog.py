"""Write side of the catalog: what an admin may create, with clear domain errors.

Duplicates are caught by the database's unique constraints (so two concurrent requests cannot both
win), not only by a look-up first; a look-up would race.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Model

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Subcategory
from adapters.queries.catalog import (
    CategoryDTO,
    CurrencyDTO,
    HolidayDTO,
    PaymentAccountDTO,
    SubcategoryDTO,
)
from domain.catalog import rules
from domain.shared.errors import Conflict, InvalidInput, NotFound, RuleViolated

_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"


class CatalogService:
    def create_currency(self, *, code: str, name: str, minor_units: int, active: bool = True) -> CurrencyDTO:
        code = rules.currency_code(code)
        row = Currency(
            code=code, name=rules.clean_name(name), minor_units=rules.minor_units(minor_units), active=active
        )
        # The code is the primary key: save() would silently update an existing row, so insert.
        _insert(row, f"Currency {code} already exists.", field="code")
        return CurrencyDTO(row.code, row.name, row.minor_units, row.active)

    def create_category(self, *, name: str) -> CategoryDTO:
        row = Category(name=rules.clean_name(name))
        _insert(row, f"A category named {row.name!r} already exists.", field="name")
        return CategoryDTO(row.pk, row.name)

    def create_subcategory(self, *, category_id: int, name: str) -> SubcategoryDTO:
        cleaned = rules.clean_name(name)
        category_name = Category.objects.filter(pk=category_id).values_list("name", flat=True).first()
        if category_name is None:
            raise NotFound("Category not found.", details={"field": "category_id"})
        row = Subcategory(category_id=category_id, name=cleaned)
        _insert(row, f"{category_name!r} already has a subcategory named {cleaned!r}.", field="name")
        return SubcategoryDTO(row.pk, category_id, category_name, row.name)

    def create_payment_account(
        self,
        *,
        name: str,
        kind: str,
        currency: str,
        bank_name: str = "",
        account_number: str | None = None,
        active: bool = True,
    ) -> PaymentAccountDTO:
        cleaned = rules.clean_name(name)
        kind = rules.account_kind(kind)
        masked = rules.mask_account_number(account_number or "")
        bank_name, masked = rules.bank_details(kind, bank_name, masked)
        code = rules.currency_code(currency)
        currency_active = Currency.objects.filter(pk=code).values_list("active", flat=True).first()
        if currency_active is None:
            raise NotFound("Currency not found.", details={"field": "currency"})
        if not currency_active:
            raise RuleViolated(f"Currency {code} is not active.", details={"field": "currency"})
        row = PaymentAccount(
            name=cleaned,
            kind=kind,
            currency_id=code,
            active=active,
            bank_name=bank_name,
            account_number_masked=masked,
        )
        _insert(row, f"A {code} payment account named {cleaned!r} already exists.", field="name")
        return PaymentAccountDTO(row.pk, row.name, row.kind, code, row.active, row.bank_name, row.account_number_masked)

    def create_holiday(self, *, day: date, name: str) -> HolidayDTO:
        row = Holiday(date=day, name=rules.clean_name(name))
        _insert(row, f"{day.isoformat()} is already a holiday.", field="date")
        return HolidayDTO(row.date, row.name)


def _insert(row: Model, duplicate_message: str, *, field: str) -> None:
    # A savepoint, so a refused insert leaves the caller's transaction usable.
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError as exc:
        # Django's foreign keys are deferred to commit, so here it is mostly a unique violation; the
        # rules above already enforce the check constraints.
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if sqlstate == _UNIQUE_VIOLATION:
            raise Conflict(duplicate_message, details={"field": field}) from exc
        if sqlstate == _FOREIGN_KEY_VIOLATION:
            raise NotFound("A referenced catalog row does not exist.") from exc
        raise InvalidInput("The row breaks a catalog rule.", details={"field": field}) from exc
