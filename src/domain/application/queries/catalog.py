"""Reading the catalog: currencies, categories, periodicities, payment accounts, holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CurrencyDTO:
    code: str
    name: str
    minor_units: int
    active: bool


@dataclass(frozen=True, slots=True)
class CategoryDTO:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class SubcategoryDTO:
    id: int
    category_id: int
    category_name: str
    name: str


@dataclass(frozen=True, slots=True)
class PeriodicityDTO:
    code: str
    name: str
    skip_sundays: bool
    skip_holidays: bool


@dataclass(frozen=True, slots=True)
class PaymentAccountDTO:
    id: int
    name: str
    kind: str
    currency: str
    active: bool
    bank_name: str
    account_number_masked: str


@dataclass(frozen=True, slots=True)
class HolidayDTO:
    date: date
    name: str


class CatalogReads(Protocol):
    def currencies(self) -> list[CurrencyDTO]: ...

    def categories(self) -> list[CategoryDTO]: ...

    def subcategories(self, *, category_id: int | None = None) -> list[SubcategoryDTO]: ...

    def periodicities(self) -> list[PeriodicityDTO]: ...

    def payment_accounts(
        self, *, currency: str | None = None, active: bool | None = None
    ) -> list[PaymentAccountDTO]: ...

    def holidays(self, *, year: int | None = None) -> list[HolidayDTO]: ...
