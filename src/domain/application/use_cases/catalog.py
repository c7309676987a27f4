"""Catalog use cases: what an admin may add (currencies, categories, subcategories, payment
accounts, holidays), with the catalog's rules applied and clear errors for clashes."""

from __future__ import annotations

from datetime import date

from domain.application.access import require_role
from domain.application.ports import Actor, Ports
from domain.application.queries.catalog import (
    CategoryDTO,
    CurrencyDTO,
    HolidayDTO,
    PaymentAccountDTO,
    SubcategoryDTO,
)
from domain.catalog import rules
from domain.catalog.errors import Duplicate
from domain.identity.model import Role
from domain.shared.errors import Conflict, NotFound, RuleViolated


def _require_admin(actor: Actor) -> None:
    if actor.principal is not None:
        require_role(actor.principal, Role.ADMIN)


def create_currency(
    ports: Ports, actor: Actor, *, code: str, name: str, minor_units: int, active: bool = True
) -> CurrencyDTO:
    _require_admin(actor)
    currency = CurrencyDTO(rules.currency_code(code), rules.clean_name(name), rules.minor_units(minor_units), active)
    with ports.uow:
        try:
            ports.catalog_entries.add_currency(currency)
        except Duplicate as exc:
            raise Conflict(f"Currency {currency.code} already exists.", details={"field": "code"}) from exc
        ports.uow.commit()
    return currency


def create_category(ports: Ports, actor: Actor, *, name: str) -> CategoryDTO:
    _require_admin(actor)
    cleaned = rules.clean_name(name)
    with ports.uow:
        try:
            category_id = ports.catalog_entries.add_category(cleaned)
        except Duplicate as exc:
            raise Conflict(f"A category named {cleaned!r} already exists.", details={"field": "name"}) from exc
        ports.uow.commit()
    return CategoryDTO(category_id, cleaned)


def create_subcategory(ports: Ports, actor: Actor, *, category_id: int, name: str) -> SubcategoryDTO:
    _require_admin(actor)
    cleaned = rules.clean_name(name)
    with ports.uow:
        category_name = ports.catalog_entries.category_name(category_id)
        if category_name is None:
            raise NotFound("Category not found.", details={"field": "category_id"})
        try:
            subcategory_id = ports.catalog_entries.add_subcategory(category_id, cleaned)
        except Duplicate as exc:
            raise Conflict(
                f"{category_name!r} already has a subcategory named {cleaned!r}.", details={"field": "name"}
            ) from exc
        ports.uow.commit()
    return SubcategoryDTO(subcategory_id, category_id, category_name, cleaned)


def create_payment_account(
    ports: Ports,
    actor: Actor,
    *,
    name: str,
    kind: str,
    currency: str,
    bank_name: str = "",
    account_number: str | None = None,
    active: bool = True,
) -> PaymentAccountDTO:
    _require_admin(actor)
    cleaned = rules.clean_name(name)
    kind = rules.account_kind(kind)
    masked = rules.mask_account_number(account_number or "")
    bank_name, masked = rules.bank_details(kind, bank_name, masked)
    code = rules.currency_code(currency)
    account = PaymentAccountDTO(0, cleaned, kind, code, active, bank_name, masked)
    with ports.uow:
        currency_active = ports.catalog_entries.currency_active(code)
        if currency_active is None:
            raise NotFound("Currency not found.", details={"field": "currency"})
        if not currency_active:
            raise RuleViolated(f"Currency {code} is not active.", details={"field": "currency"})
        try:
            account_id = ports.catalog_entries.add_payment_account(account)
        except Duplicate as exc:
            raise Conflict(
                f"A {code} payment account named {cleaned!r} already exists.", details={"field": "name"}
            ) from exc
        ports.uow.commit()
    return PaymentAccountDTO(account_id, cleaned, kind, code, active, bank_name, masked)


def create_holiday(ports: Ports, actor: Actor, *, day: date, name: str) -> HolidayDTO:
    _require_admin(actor)
    holiday = HolidayDTO(day, rules.clean_name(name))
    with ports.uow:
        try:
            ports.catalog_entries.add_holiday(holiday)
        except Duplicate as exc:
            raise Conflict(f"{day.isoformat()} is already a holiday.", details={"field": "date"}) from exc
        ports.uow.commit()
    return holiday
