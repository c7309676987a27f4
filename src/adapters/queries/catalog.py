"""Read side of the catalog: lean queries (values_list, one round trip per list) into frozen DTOs.

No model instances are built: on hot read paths the ORM's instantiation costs more than the query.
"""

from __future__ import annotations

from datetime import date

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Periodicity, Subcategory
from domain.application.queries.catalog import (
    CategoryDTO,
    CurrencyDTO,
    HolidayDTO,
    PaymentAccountDTO,
    PeriodicityDTO,
    SubcategoryDTO,
)
from domain.catalog import rules


class CatalogQueries:
    """Every method is one SELECT whatever the number of rows, capped at `limit` (max LIST_CAP)."""

    def currencies(self, *, limit: int = rules.LIST_CAP) -> list[CurrencyDTO]:
        rows = Currency.objects.order_by("code").values_list("code", "name", "minor_units", "active")
        return [CurrencyDTO(*row) for row in rows[: _cap(limit)]]

    def categories(self, *, limit: int = rules.LIST_CAP) -> list[CategoryDTO]:
        rows = Category.objects.order_by("name", "id").values_list("id", "name")
        return [CategoryDTO(*row) for row in rows[: _cap(limit)]]

    def subcategories(self, *, category_id: int | None = None, limit: int = rules.LIST_CAP) -> list[SubcategoryDTO]:
        rows = Subcategory.objects.all()
        if category_id is not None:
            rows = rows.filter(category_id=category_id)
        # The category's name comes in the same query through a join, not one query per row.
        values = rows.order_by("category__name", "name", "id").values_list(
            "id", "category_id", "category__name", "name"
        )
        return [SubcategoryDTO(*row) for row in values[: _cap(limit)]]

    def periodicities(self, *, limit: int = rules.LIST_CAP) -> list[PeriodicityDTO]:
        rows = Periodicity.objects.order_by("position", "code").values_list(
            "code", "name", "skip_sundays", "skip_holidays"
        )
        return [PeriodicityDTO(*row) for row in rows[: _cap(limit)]]

    def payment_accounts(
        self, *, currency: str | None = None, active: bool | None = None, limit: int = rules.LIST_CAP
    ) -> list[PaymentAccountDTO]:
        rows = PaymentAccount.objects.all()
        if currency is not None:
            rows = rows.filter(currency_id=currency)
        if active is not None:
            rows = rows.filter(active=active)
        values = rows.order_by("name", "id").values_list(
            "id", "name", "kind", "currency_id", "active", "bank_name", "account_number_masked"
        )
        return [PaymentAccountDTO(*row) for row in values[: _cap(limit)]]

    def holidays(self, *, year: int | None = None, limit: int = rules.LIST_CAP) -> list[HolidayDTO]:
        rows = Holiday.objects.all()
        if year is not None:
            # A date range rather than EXTRACT(year), so the unique index on date serves it.
            rows = rows.filter(date__gte=date(year, 1, 1), date__lte=date(year, 12, 31))
        values = rows.order_by("date").values_list("date", "name")
        return [HolidayDTO(*row) for row in values[: _cap(limit)]]

    def holiday_dates(self, start: date, end: date) -> frozenset[date]:
        """The holidays in [start, end]: what a daily schedule needs to build a HolidayCalendar."""
        return frozenset(Holiday.objects.filter(date__gte=start, date__lte=end).values_list("date", flat=True))


def _cap(limit: int) -> int:
    return max(0, min(limit, rules.LIST_CAP))
