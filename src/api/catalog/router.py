"""Catalog endpoints: reference lists for any signed-in user, creation for admins.

Catalogs are small, so lists are plain `{"data": [...]}` (capped at LIST_CAP rows) rather than
keyset pages; each list is a single SELECT whatever its length.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, StringConstraints

from api.deps import services
from api.http.actor import actor_of
from api.http.errors import ErrorOut
from api.http.read_models import schema_of
from api.http.request_model import RequestModel
from api.http.security import bearer
from domain.application.queries import catalog as read_models
from domain.application.use_cases import catalog
from domain.catalog import rules

# One router per catalog resource, each mounted under its own prefix by api.app.
currencies_router = Router(tags=["catalog"], auth=bearer)
categories_router = Router(tags=["catalog"], auth=bearer)
subcategories_router = Router(tags=["catalog"], auth=bearer)
periodicities_router = Router(tags=["catalog"], auth=bearer)
payment_accounts_router = Router(tags=["catalog"], auth=bearer)
holidays_router = Router(tags=["catalog"], auth=bearer)

CurrencyCode = Annotated[str, StringConstraints(pattern=rules.CURRENCY_CODE_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.NAME_MAX)]
# Strict: JSON `true` or "2" is not a number of decimals.
MinorUnits = Annotated[int, Field(strict=True, ge=rules.MIN_MINOR_UNITS, le=rules.MAX_MINOR_UNITS)]
AccountNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{4,34}$")]

LIST_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 422: ErrorOut}
CREATE_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# --- currencies --------------------------------------------------------------------------------


class CurrencyIn(RequestModel):
    code: CurrencyCode = Field(description="ISO 4217 code, three uppercase letters.", examples=["COP"])
    name: Name
    minor_units: MinorUnits = Field(description="Decimals of the currency: COP 2, CLP 0, KWD 3.")
    active: bool = True


CurrencyOut = schema_of(read_models.CurrencyDTO, "CurrencyOut")


class CurrencyList(Schema):
    data: list[CurrencyOut]  # type: ignore[valid-type]  # a schema built from its read model


@currencies_router.get("", response={200: CurrencyList, **LIST_ERRORS})
def list_currencies(request: HttpRequest) -> dict[str, object]:
    return {"data": services().catalog_queries.currencies()}


@currencies_router.post("", response={201: CurrencyOut, **CREATE_ERRORS})
def create_currency(request: HttpRequest, body: CurrencyIn) -> Status:
    """Admin only. A duplicate code is 409."""
    created = catalog.create_currency(
        services().ports,
        actor_of(request),
        code=body.code,
        name=body.name,
        minor_units=body.minor_units,
        active=body.active,
    )
    return Status(201, created)


# --- categories and subcategories --------------------------------------------------------------


class CategoryIn(RequestModel):
    name: Name


CategoryOut = schema_of(read_models.CategoryDTO, "CategoryOut")


class CategoryList(Schema):
    data: list[CategoryOut]  # type: ignore[valid-type]  # a schema built from its read model


class SubcategoryIn(RequestModel):
    category_id: int = Field(gt=0)
    name: Name


SubcategoryOut = schema_of(read_models.SubcategoryDTO, "SubcategoryOut")


class SubcategoryList(Schema):
    data: list[SubcategoryOut]  # type: ignore[valid-type]  # a schema built from its read model


class SubcategoryFilter(RequestModel):
    category: int | None = Field(None, gt=0, description="Only this category's subcategories.")


@categories_router.get("", response={200: CategoryList, **LIST_ERRORS})
def list_categories(request: HttpRequest) -> dict[str, object]:
    return {"data": services().catalog_queries.categories()}


@categories_router.post("", response={201: CategoryOut, **CREATE_ERRORS})
def create_category(request: HttpRequest, body: CategoryIn) -> Status:
    """Admin only. Names are unique regardless of case (409)."""
    return Status(201, catalog.create_category(services().ports, actor_of(request), name=body.name))


@subcategories_router.get("", response={200: SubcategoryList, **LIST_ERRORS})
def list_subcategories(request: HttpRequest, filters: Query[SubcategoryFilter]) -> dict[str, object]:
    return {"data": services().catalog_queries.subcategories(category_id=filters.category)}


@subcategories_router.post("", response={201: SubcategoryOut, 404: ErrorOut, **CREATE_ERRORS})
def create_subcategory(request: HttpRequest, body: SubcategoryIn) -> Status:
    """Admin only. An unknown category is 404; a name already in the category is 409."""
    created = catalog.create_subcategory(
        services().ports, actor_of(request), category_id=body.category_id, name=body.name
    )
    return Status(201, created)


# --- periodicities -----------------------------------------------------------------------------


PeriodicityOut = schema_of(read_models.PeriodicityDTO, "PeriodicityOut")


class PeriodicityList(Schema):
    data: list[PeriodicityOut]  # type: ignore[valid-type]  # a schema built from its read model


@periodicities_router.get("", response={200: PeriodicityList, **LIST_ERRORS})
def list_periodicities(request: HttpRequest) -> dict[str, object]:
    """The fixed set daily / weekly / biweekly / monthly; the skip flags apply to daily schedules."""
    return {"data": services().catalog_queries.periodicities()}


# --- payment accounts --------------------------------------------------------------------------


class PaymentAccountIn(RequestModel):
    name: Name
    kind: Literal["cash", "bank", "wallet"]
    currency: CurrencyCode
    bank_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=rules.BANK_NAME_MAX)] = ""
    account_number: AccountNumber | None = Field(
        None, description="Stored masked: only the last four characters are kept."
    )
    active: bool = True


PaymentAccountOut = schema_of(read_models.PaymentAccountDTO, "PaymentAccountOut")


class PaymentAccountList(Schema):
    data: list[PaymentAccountOut]  # type: ignore[valid-type]  # a schema built from its read model


class PaymentAccountFilter(RequestModel):
    currency: CurrencyCode | None = None
    active: bool | None = None


@payment_accounts_router.get("", response={200: PaymentAccountList, **LIST_ERRORS})
def list_payment_accounts(request: HttpRequest, filters: Query[PaymentAccountFilter]) -> dict[str, object]:
    return {"data": services().catalog_queries.payment_accounts(currency=filters.currency, active=filters.active)}


@payment_accounts_router.post("", response={201: PaymentAccountOut, 404: ErrorOut, **CREATE_ERRORS})
def create_payment_account(request: HttpRequest, body: PaymentAccountIn) -> Status:
    """Admin only. An unknown currency is 404; an inactive one 422; a name already used in the
    currency 409. A cash box takes no bank details; a bank account needs its bank's name."""
    created = catalog.create_payment_account(
        services().ports,
        actor_of(request),
        name=body.name,
        kind=body.kind,
        currency=body.currency,
        bank_name=body.bank_name,
        account_number=body.account_number,
        active=body.active,
    )
    return Status(201, created)


# --- holidays ----------------------------------------------------------------------------------


class HolidayIn(RequestModel):
    date: dt.date
    name: Name


HolidayOut = schema_of(read_models.HolidayDTO, "HolidayOut")


class HolidayList(Schema):
    data: list[HolidayOut]  # type: ignore[valid-type]  # a schema built from its read model


class HolidayFilter(RequestModel):
    year: int | None = Field(None, ge=1900, le=2999)


@holidays_router.get("", response={200: HolidayList, **LIST_ERRORS})
def list_holidays(request: HttpRequest, filters: Query[HolidayFilter]) -> dict[str, object]:
    return {"data": services().catalog_queries.holidays(year=filters.year)}


@holidays_router.post("", response={201: HolidayOut, **CREATE_ERRORS})
def create_holiday(request: HttpRequest, body: HolidayIn) -> Status:
    """Admin only. One holiday per date (409)."""
    return Status(201, catalog.create_holiday(services().ports, actor_of(request), day=body.date, name=body.name))
