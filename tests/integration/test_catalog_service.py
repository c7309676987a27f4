"""The catalog's write use cases and pure rules, called directly (the API's schemas catch most bad
input first, so this is where the use cases' own guards are proven)."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Subcategory
from adapters.queries.catalog import CatalogQueries
from config.bootstrap import build_ports
from domain.application.ports import SYSTEM
from domain.application.queries.catalog import CurrencyDTO, HolidayDTO
from domain.application.use_cases import catalog
from domain.catalog import rules
from domain.shared.errors import Conflict, InvalidInput, NotFound, RuleViolated
from tests.factories import CategoryFactory, CurrencyFactory, HolidayFactory

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("code", ["usd", "US", "USDX", "U$D", "", " USD"])
def test_currency_code_rule(code: str) -> None:
    with pytest.raises(InvalidInput):
        rules.currency_code(code)


@pytest.mark.parametrize("units", [-1, 5, 7, True, 2.0, "2"])
def test_minor_units_rule(units: object) -> None:
    with pytest.raises(InvalidInput):
        rules.minor_units(units)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("", ""), ("1234", "****1234"), ("0570-1234 5678", "****5678"), ("****5678", "****5678")],
)
def test_masking_keeps_the_last_four_and_is_idempotent(raw: str, masked: str) -> None:
    assert rules.mask_account_number(raw) == masked
    assert rules.mask_account_number(rules.mask_account_number(raw)) == masked


def test_names_are_trimmed_and_collapsed() -> None:
    assert rules.clean_name("  Caja   principal ") == "Caja principal"
    with pytest.raises(InvalidInput):
        rules.clean_name(" \t ")


@pytest.mark.django_db
class TestCatalogUseCases:
    def test_create_currency_returns_a_dto(self) -> None:
        assert catalog.create_currency(build_ports(), SYSTEM, code="PEN", name="Sol", minor_units=2) == CurrencyDTO(
            "PEN", "Sol", 2, True
        )

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"code": "pen", "name": "Sol", "minor_units": 2}, InvalidInput),
            ({"code": "PEN", "name": "Sol", "minor_units": 7}, InvalidInput),
            ({"code": "PEN", "name": "Sol", "minor_units": True}, InvalidInput),
            ({"code": "PEN", "name": "", "minor_units": 2}, InvalidInput),
            # Must not overwrite the seeded row (the code is the primary key).
            ({"code": "COP", "name": "Overwritten", "minor_units": 0}, Conflict),
        ],
    )
    def test_bad_currencies_write_nothing(self, kwargs: dict[str, object], error: type[Exception]) -> None:
        before = list(Currency.objects.order_by("code").values_list("code", "name", "minor_units"))
        with pytest.raises(error):
            catalog.create_currency(build_ports(), SYSTEM, **kwargs)  # type: ignore[arg-type]
        assert list(Currency.objects.order_by("code").values_list("code", "name", "minor_units")) == before

    def test_a_refused_insert_leaves_the_transaction_usable(self) -> None:
        CategoryFactory(name="Phones")
        with pytest.raises(Conflict):
            catalog.create_category(build_ports(), SYSTEM, name="PHONES")
        # The savepoint rolled back only the refused insert.
        assert catalog.create_category(build_ports(), SYSTEM, name="Bikes").name == "Bikes"
        assert Category.objects.count() == 2

    def test_subcategory_needs_a_known_category(self) -> None:
        with pytest.raises(NotFound):
            catalog.create_subcategory(build_ports(), SYSTEM, category_id=999_999, name="Android")
        assert not Subcategory.objects.exists()

    def test_payment_account_currency_must_exist_and_be_active(self) -> None:
        CurrencyFactory(code="QZZ", active=False)
        with pytest.raises(NotFound):
            catalog.create_payment_account(build_ports(), SYSTEM, name="Box", kind="cash", currency="ZZZ")
        with pytest.raises(RuleViolated):
            catalog.create_payment_account(build_ports(), SYSTEM, name="Box", kind="cash", currency="QZZ")
        with pytest.raises(InvalidInput):
            catalog.create_payment_account(build_ports(), SYSTEM, name="Box", kind="cash", currency="cop")
        with pytest.raises(InvalidInput):
            catalog.create_payment_account(build_ports(), SYSTEM, name="Box", kind="safe", currency="COP")
        assert not PaymentAccount.objects.exists()

    def test_holidays_are_unique_per_date_and_queryable(self) -> None:
        HolidayFactory(date=date(2031, 1, 1), name="New year")
        with pytest.raises(Conflict):
            catalog.create_holiday(build_ports(), SYSTEM, day=date(2031, 1, 1), name="Again")
        assert catalog.create_holiday(build_ports(), SYSTEM, day=date(2031, 5, 1), name="Labour day") == HolidayDTO(
            date(2031, 5, 1), "Labour day"
        )
        assert Holiday.objects.count() == 2
        queries = CatalogQueries()
        assert queries.holiday_dates(date(2031, 1, 1), date(2031, 4, 30)) == frozenset({date(2031, 1, 1)})
        assert [h.date for h in queries.holidays(year=2031)] == [date(2031, 1, 1), date(2031, 5, 1)]
