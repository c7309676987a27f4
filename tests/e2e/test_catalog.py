"""Catalog endpoints over HTTP with real JWTs: lists for every role, creation for admins only,
bad input refused with nothing written, and lists whose query count does not grow with their length."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Periodicity, Subcategory
from tests.factories import (
    CategoryFactory,
    CurrencyFactory,
    HolidayFactory,
    PaymentAccountFactory,
    SubcategoryFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

LISTS = ["currencies", "categories", "subcategories", "periodicities", "payment-accounts", "holidays"]
ROLES = ["client", "agent", "admin"]

VALID_BODIES: dict[str, dict[str, Any]] = {
    "currencies": {"code": "PEN", "name": "Peruvian sol", "minor_units": 2},
    "categories": {"name": "Motorcycles"},
    "payment-accounts": {"name": "Main cash box", "kind": "cash", "currency": "COP"},
    "holidays": {"date": "2031-12-25", "name": "Christmas"},
}
MODEL_OF: dict[str, type[Model]] = {
    "currencies": Currency,
    "categories": Category,
    "subcategories": Subcategory,
    "payment-accounts": PaymentAccount,
    "holidays": Holiday,
}


def _auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _url(name: str) -> str:
    return f"/api/v1/{name}"


def _assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def token_of(login: Callable[..., dict]) -> Callable[[str], str]:
    """An access token for a fresh user with the given role (a real login, one per role per test)."""
    cache: dict[str, str] = {}

    def _token(role: str) -> str:
        if role not in cache:
            user = UserFactory(role=role)
            cache[role] = login(user.username)["access_token"]
        return cache[role]

    return _token


@pytest.fixture
def admin(token_of: Callable[[str], str]) -> dict[str, str]:
    return _auth(token_of("admin"))


def _post(client: Client, name: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(_url(name), body, content_type="application/json", **headers)


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", LISTS)
def test_every_role_reads_every_catalog(client: Client, token_of: Callable[[str], str], role: str, name: str) -> None:
    SubcategoryFactory(name="Phones")
    PaymentAccountFactory(name="Cash box")
    HolidayFactory(date=date(2031, 1, 1), name="New year")
    response = client.get(_url(name), **_auth(token_of(role)))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data"}
    assert body["data"], f"{name} should not be empty"


@pytest.mark.parametrize("name", LISTS)
def test_lists_need_a_token(client: Client, name: str) -> None:
    response = client.get(_url(name))
    _assert_envelope(response, 401, "unauthorized")
    assert response["WWW-Authenticate"] == "Bearer"


def test_seeded_currencies_and_periodicities(client: Client, admin: dict[str, str]) -> None:
    currencies = {c["code"]: c for c in client.get(_url("currencies"), **admin).json()["data"]}
    assert {code: c["minor_units"] for code, c in currencies.items()} == {
        "CLP": 0,
        "COP": 2,
        "EUR": 2,
        "JPY": 0,
        "KWD": 3,
        "MXN": 2,
        "USD": 2,
    }
    assert list(currencies) == sorted(currencies)
    assert all(c["active"] for c in currencies.values())
    periodicities = client.get(_url("periodicities"), **admin).json()["data"]
    assert [p["code"] for p in periodicities] == ["daily", "weekly", "biweekly", "monthly"]
    daily = periodicities[0]
    assert daily == {"code": "daily", "name": "Daily", "skip_sundays": True, "skip_holidays": True}


def test_subcategories_filter_by_category(client: Client, admin: dict[str, str]) -> None:
    phones = CategoryFactory(name="Phones")
    bikes = CategoryFactory(name="Bikes")
    SubcategoryFactory(category=phones, name="Android")
    SubcategoryFactory(category=phones, name="iPhone")
    SubcategoryFactory(category=bikes, name="Scooter")
    everything = client.get(_url("subcategories"), **admin).json()["data"]
    assert [(s["category_name"], s["name"]) for s in everything] == [
        ("Bikes", "Scooter"),
        ("Phones", "Android"),
        ("Phones", "iPhone"),
    ]
    only = client.get(_url("subcategories"), {"category": phones.pk}, **admin).json()["data"]
    assert {s["name"] for s in only} == {"Android", "iPhone"}
    assert all(s["category_id"] == phones.pk for s in only)
    assert client.get(_url("subcategories"), {"category": 999_999}, **admin).json()["data"] == []


def test_payment_accounts_filter_by_currency_and_active(client: Client, admin: dict[str, str]) -> None:
    usd = CurrencyFactory(code="USD")
    PaymentAccountFactory(name="COP cash")
    PaymentAccountFactory(name="COP old", active=False)
    PaymentAccountFactory(name="USD cash", currency=usd)

    def names(**params: Any) -> list[str]:
        response = client.get(_url("payment-accounts"), params, **admin)
        assert response.status_code == 200, response.content
        return [a["name"] for a in response.json()["data"]]

    assert names() == ["COP cash", "COP old", "USD cash"]
    assert names(currency="COP") == ["COP cash", "COP old"]
    assert names(currency="COP", active="true") == ["COP cash"]
    assert names(active="false") == ["COP old"]
    assert names(currency="CLP") == []
    _assert_envelope(client.get(_url("payment-accounts"), {"currency": "cop"}, **admin), 422, "invalid_input")


def test_holidays_filter_by_year(client: Client, admin: dict[str, str]) -> None:
    HolidayFactory(date=date(2030, 12, 31), name="Eve")
    HolidayFactory(date=date(2031, 1, 1), name="New year")
    HolidayFactory(date=date(2031, 12, 31), name="Eve again")
    HolidayFactory(date=date(2032, 1, 1), name="Next year")
    data = client.get(_url("holidays"), {"year": 2031}, **admin).json()["data"]
    assert data == [{"date": "2031-01-01", "name": "New year"}, {"date": "2031-12-31", "name": "Eve again"}]
    _assert_envelope(client.get(_url("holidays"), {"year": "soon"}, **admin), 422, "invalid_input")


def test_lists_are_capped(client: Client, admin: dict[str, str]) -> None:
    start = date(2040, 1, 1)
    Holiday.objects.bulk_create(Holiday(date=start + timedelta(days=n), name=f"H{n}") for n in range(1001))
    data = client.get(_url("holidays"), **admin).json()["data"]
    assert len(data) == 1000
    assert data[0]["date"] == "2040-01-01"


# --- creating ----------------------------------------------------------------------------------


def test_admin_creates_a_currency(client: Client, admin: dict[str, str]) -> None:
    response = _post(client, "currencies", {"code": "PEN", "name": "  Peruvian   sol ", "minor_units": 2}, admin)
    assert response.status_code == 201, response.content
    assert response.json() == {"code": "PEN", "name": "Peruvian sol", "minor_units": 2, "active": True}
    assert Currency.objects.get(code="PEN").minor_units == 2
    codes = [c["code"] for c in client.get(_url("currencies"), **admin).json()["data"]]
    assert "PEN" in codes


def test_admin_creates_a_category_and_subcategories(client: Client, admin: dict[str, str]) -> None:
    category = _post(client, "categories", {"name": "Phones"}, admin)
    assert category.status_code == 201, category.content
    category_id = category.json()["id"]
    assert category.json() == {"id": category_id, "name": "Phones"}

    sub = _post(client, "subcategories", {"category_id": category_id, "name": "Android"}, admin)
    assert sub.status_code == 201, sub.content
    assert sub.json() == {
        "id": sub.json()["id"],
        "category_id": category_id,
        "category_name": "Phones",
        "name": "Android",
    }
    # The same name is fine in another category.
    other = CategoryFactory(name="Tablets")
    again = _post(client, "subcategories", {"category_id": other.pk, "name": "Android"}, admin)
    assert again.status_code == 201, again.content
    assert Subcategory.objects.filter(name="Android").count() == 2


def test_admin_creates_payment_accounts(client: Client, admin: dict[str, str]) -> None:
    cash = _post(client, "payment-accounts", {"name": "Main cash box", "kind": "cash", "currency": "COP"}, admin)
    assert cash.status_code == 201, cash.content
    assert cash.json() == {
        "id": cash.json()["id"],
        "name": "Main cash box",
        "kind": "cash",
        "currency": "COP",
        "active": True,
        "bank_name": "",
        "account_number_masked": "",
    }
    bank = _post(
        client,
        "payment-accounts",
        {
            "name": "Bancolombia savings",
            "kind": "bank",
            "currency": "COP",
            "bank_name": "Bancolombia",
            "account_number": "123-456789-01",
        },
        admin,
    )
    assert bank.status_code == 201, bank.content
    assert bank.json()["account_number_masked"] == "****8901"
    # The full number is never stored.
    row = PaymentAccount.objects.get(pk=bank.json()["id"])
    assert row.account_number_masked == "****8901"
    assert "123456789" not in str(PaymentAccount.objects.filter(pk=row.pk).values().first())
    wallet = _post(client, "payment-accounts", {"name": "Nequi", "kind": "wallet", "currency": "COP"}, admin)
    assert wallet.status_code == 201, wallet.content


def test_admin_creates_a_holiday(client: Client, admin: dict[str, str]) -> None:
    response = _post(client, "holidays", {"date": "2031-12-25", "name": "Christmas"}, admin)
    assert response.status_code == 201, response.content
    assert response.json() == {"date": "2031-12-25", "name": "Christmas"}
    assert Holiday.objects.filter(date=date(2031, 12, 25)).exists()


POST_BODIES = [*VALID_BODIES, "subcategories"]


def _body_for(name: str) -> dict[str, Any]:
    if name == "subcategories":
        return {"category_id": CategoryFactory().pk, "name": "Android"}
    return VALID_BODIES[name]


@pytest.mark.parametrize("role", ["client", "agent"])
@pytest.mark.parametrize("name", POST_BODIES)
def test_only_admins_create(client: Client, token_of: Callable[[str], str], role: str, name: str) -> None:
    body = _body_for(name)
    before = MODEL_OF[name].objects.count()
    response = _post(client, name, body, _auth(token_of(role)))
    _assert_envelope(response, 403, "forbidden")
    assert MODEL_OF[name].objects.count() == before


@pytest.mark.parametrize("name", POST_BODIES)
def test_creating_needs_a_token(client: Client, name: str) -> None:
    body = _body_for(name)
    before = MODEL_OF[name].objects.count()
    _assert_envelope(_post(client, name, body, {}), 401, "unauthorized")
    assert MODEL_OF[name].objects.count() == before


# --- bad input: a 4xx envelope and no row written ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"code": "pen", "name": "Sol", "minor_units": 2}, 422, "invalid_input"),
        ({"code": "PE", "name": "Sol", "minor_units": 2}, 422, "invalid_input"),
        ({"code": "PENX", "name": "Sol", "minor_units": 2}, 422, "invalid_input"),
        ({"code": "P3N", "name": "Sol", "minor_units": 2}, 422, "invalid_input"),
        ({"code": "PEN", "name": "Sol", "minor_units": 7}, 422, "invalid_input"),
        ({"code": "PEN", "name": "Sol", "minor_units": -1}, 422, "invalid_input"),
        ({"code": "PEN", "name": "Sol", "minor_units": 2.5}, 422, "invalid_input"),
        ({"code": "PEN", "name": "Sol", "minor_units": "2"}, 422, "invalid_input"),
        ({"code": "PEN", "name": "Sol", "minor_units": True}, 422, "invalid_input"),
        ({"code": "PEN", "name": "   ", "minor_units": 2}, 422, "invalid_input"),
        ({"code": "PEN", "name": "x" * 101, "minor_units": 2}, 422, "invalid_input"),
        ({"code": "PEN", "minor_units": 2}, 422, "invalid_input"),
        ({"code": "COP", "name": "Peso again", "minor_units": 2}, 409, "conflict"),
    ],
)
def test_bad_currencies_are_refused(
    client: Client, admin: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    before = list(Currency.objects.order_by("code").values_list("code", "name", "minor_units"))
    error = _assert_envelope(_post(client, "currencies", body, admin), status, code)
    assert list(Currency.objects.order_by("code").values_list("code", "name", "minor_units")) == before
    if status == 422:
        assert error["details"]


def test_duplicate_category_is_409_whatever_the_case(client: Client, admin: dict[str, str]) -> None:
    CategoryFactory(name="Phones")
    error = _assert_envelope(_post(client, "categories", {"name": " phones "}, admin), 409, "conflict")
    assert error["details"] == {"field": "name"}
    assert Category.objects.count() == 1


def test_subcategory_errors(client: Client, admin: dict[str, str]) -> None:
    phones = CategoryFactory(name="Phones")
    SubcategoryFactory(category=phones, name="Android")
    before = Subcategory.objects.count()
    _assert_envelope(
        _post(client, "subcategories", {"category_id": phones.pk, "name": "ANDROID"}, admin), 409, "conflict"
    )
    _assert_envelope(
        _post(client, "subcategories", {"category_id": 999_999, "name": "Tablet"}, admin), 404, "not_found"
    )
    _assert_envelope(_post(client, "subcategories", {"category_id": 0, "name": "Tablet"}, admin), 422, "invalid_input")
    _assert_envelope(
        _post(client, "subcategories", {"category_id": "phones", "name": "Tablet"}, admin),
        422,
        "invalid_input",
    )
    assert Subcategory.objects.count() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "Box", "kind": "cash", "currency": "ZZZ"}, 404, "not_found"),
        ({"name": "Box", "kind": "cash", "currency": "cop"}, 422, "invalid_input"),
        ({"name": "Box", "kind": "safe", "currency": "COP"}, 422, "invalid_input"),
        (
            {"name": "Box", "kind": "cash", "currency": "COP", "bank_name": "Bancolombia"},
            422,
            "invalid_input",
        ),
        (
            {"name": "Box", "kind": "cash", "currency": "COP", "account_number": "12345678"},
            422,
            "invalid_input",
        ),
        ({"name": "Savings", "kind": "bank", "currency": "COP"}, 422, "invalid_input"),
        (
            {"name": "Savings", "kind": "bank", "currency": "COP", "bank_name": "B", "account_number": "12"},
            422,
            "invalid_input",
        ),
        (
            {
                "name": "Savings",
                "kind": "bank",
                "currency": "COP",
                "bank_name": "B",
                "account_number": "12<34>",
            },
            422,
            "invalid_input",
        ),
        ({"name": "EXISTING box", "kind": "cash", "currency": "COP"}, 409, "conflict"),
        ({"name": "Box", "kind": "cash", "currency": "QZZ"}, 422, "rule_violated"),
    ],
)
def test_bad_payment_accounts_are_refused(
    client: Client, admin: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    PaymentAccountFactory(name="Existing box")
    CurrencyFactory(code="QZZ", active=False)
    before = PaymentAccount.objects.count()
    _assert_envelope(_post(client, "payment-accounts", body, admin), status, code)
    assert PaymentAccount.objects.count() == before


def test_same_account_name_in_another_currency_is_fine(client: Client, admin: dict[str, str]) -> None:
    PaymentAccountFactory(name="Cash box")
    response = _post(client, "payment-accounts", {"name": "Cash box", "kind": "cash", "currency": "USD"}, admin)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"date": "2031-01-01", "name": "Again"}, 409, "conflict"),
        ({"date": "2031-02-30", "name": "Nope"}, 422, "invalid_input"),
        ({"date": "tomorrow", "name": "Nope"}, 422, "invalid_input"),
        ({"date": "2031-03-01", "name": ""}, 422, "invalid_input"),
    ],
)
def test_bad_holidays_are_refused(
    client: Client, admin: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    HolidayFactory(date=date(2031, 1, 1), name="New year")
    _assert_envelope(_post(client, "holidays", body, admin), status, code)
    assert list(Holiday.objects.values_list("date", "name")) == [(date(2031, 1, 1), "New year")]


def test_malformed_json_writes_nothing(client: Client, admin: dict[str, str]) -> None:
    response = client.post(_url("categories"), "{not json", content_type="application/json", **admin)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"}
    assert not Category.objects.exists()


# --- no N+1 ------------------------------------------------------------------------------------


def _make_rows(name: str, n: int) -> None:
    """Exactly n rows behind the list `name` (the seeded rows are removed inside the test)."""
    if name == "currencies":
        Currency.objects.all().delete()
        CurrencyFactory.create_batch(n)
    elif name == "categories":
        CategoryFactory.create_batch(n)
    elif name == "subcategories":
        # Each under its own category: a per-row look-up of the category would show as n queries.
        SubcategoryFactory.create_batch(n)
    elif name == "periodicities":
        # Only four periodicities exist (a check constraint), so "many" is all four.
        keep = [c for c, _ in Periodicity.Code.choices][: min(n, 4)]
        Periodicity.objects.exclude(code__in=keep).delete()
    elif name == "payment-accounts":
        currencies = CurrencyFactory.create_batch(min(n, 5))
        for i in range(n):
            PaymentAccountFactory(currency=currencies[i % len(currencies)])
    elif name == "holidays":
        HolidayFactory.create_batch(n)


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("n", [1, 50])
def test_each_list_is_one_query_whatever_its_length(
    client: Client,
    token_of: Callable[[str], str],
    django_assert_num_queries: Any,
    name: str,
    n: int,
) -> None:
    headers = _auth(token_of("client"))
    _make_rows(name, n)
    expected_rows = min(n, 4) if name == "periodicities" else n
    # Auth is a stateless JWT check, so the list's own SELECT is the only query.
    with django_assert_num_queries(1):
        response = client.get(_url(name), **headers)
    assert response.status_code == 200, response.content
    assert len(response.json()["data"]) == expected_rows


# --- schema and admin ----------------------------------------------------------------------------


@pytest.fixture
def admin_site(client: Client, settings: Any) -> Client:
    """A logged-in superuser; static files unhashed, since the tests run without collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(UserFactory(role="admin", is_superuser=True))
    return client


def test_openapi_documents_the_catalog_and_its_errors(client: Client) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for name in LISTS:
        assert set(paths[_url(name)]["get"]["responses"]) >= {"200", "401"}
    for name in POST_BODIES:
        assert set(paths[_url(name)]["post"]["responses"]) >= {"201", "401", "403", "409", "422"}
    assert "404" in paths[_url("subcategories")]["post"]["responses"]
    assert "404" in paths[_url("payment-accounts")]["post"]["responses"]


MODELS_BY_ADMIN_NAME: dict[str, type[Model]] = {
    m._meta.model_name: m for m in (Currency, Category, Subcategory, Periodicity, PaymentAccount, Holiday)
}


@pytest.mark.parametrize("model", ["currency", "category", "subcategory", "periodicity", "paymentaccount", "holiday"])
def test_admin_pages_render(admin_site: Client, model: str) -> None:
    client = admin_site
    SubcategoryFactory()
    PaymentAccountFactory()
    HolidayFactory()
    assert client.get(f"/admin/catalog/{model}/").status_code == 200
    assert client.get(f"/admin/catalog/{model}/?q=a").status_code == 200
    add = client.get(f"/admin/catalog/{model}/add/")
    # Periodicities are a fixed set: no add page.
    assert add.status_code == (403 if model == "periodicity" else 200)
    first = MODELS_BY_ADMIN_NAME[model].objects.order_by("pk").values_list("pk", flat=True)[0]
    assert client.get(f"/admin/catalog/{model}/{first}/change/").status_code == 200


def test_admin_masks_the_account_number(admin_site: Client) -> None:
    client = admin_site
    response = client.post(
        "/admin/catalog/paymentaccount/add/",
        {
            "name": "Davivienda",
            "kind": "bank",
            "currency": "COP",
            "active": "on",
            "bank_name": "Davivienda",
            "account_number_masked": "0570 1234 5678",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PaymentAccount.objects.get(name="Davivienda").account_number_masked == "****5678"
    refused = client.post(
        "/admin/catalog/paymentaccount/add/",
        {"name": "Till", "kind": "cash", "currency": "COP", "bank_name": "Some bank"},
    )
    assert refused.status_code == 200  # the form again, with the error
    assert not PaymentAccount.objects.filter(name="Till").exists()
