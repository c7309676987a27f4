"""Hostile input on the money endpoints: amounts, dates, ids, unicode and oversized bodies.

The property, for every request: the answer is a 2xx, or a 4xx in the error envelope that changed
nothing (the money tables are byte-for-byte what they were); never a 5xx. Hypothesis mixes the
hostile values into otherwise valid payment and credit-opening bodies; derandomized, with few
examples, so `make test` stays fast and repeatable (stress/scenarios/hostile.py runs many more
over HTTP).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stress.scenarios.hostile import (
    HOSTILE_AMOUNTS,
    HOSTILE_DATES,
    HOSTILE_IDS,
    HOSTILE_TEXTS,
    is_envelope,
    money_snapshot_sql,
)

from tests.builders import business_today, open_credit, pay, payment_account
from tests.factories import CurrencyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

HOSTILE = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute(money_snapshot_sql())
        return cursor.fetchone()[0]


class Book:
    """An admin, an agent with a client and a credit, and another agent's client and credit."""

    def __init__(self, client: Client, login: Callable[..., dict]) -> None:
        self.http = client
        self.admin = UserFactory(role="admin")
        self.agent = UserFactory(role="agent")
        self.client = UserFactory(role="client")
        other_agent = UserFactory(role="agent")
        other_client = UserFactory(role="client")
        self.cash = payment_account("COP")
        CurrencyFactory(code="USD", minor_units=2)
        self.usd_account = payment_account("USD")
        self.credit = open_credit(self.client, self.agent, price="1200.00", on=business_today() - timedelta(days=70))
        self.other_credit = open_credit(other_client, other_agent, price="900.00")
        payment = pay(self.credit, "50.00")
        self.payment_id = payment.id
        self.tokens = {
            "agent": login(self.agent.username)["access_token"],
            "admin": login(self.admin.username)["access_token"],
        }

    def post(self, path: str, raw_body: str | bytes, role: str = "agent") -> Any:
        return self.http.post(
            path,
            raw_body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.tokens[role]}",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )

    def check(self, response: Any, before: str) -> None:
        """2xx, or a 4xx in the envelope that changed nothing; never a 5xx."""
        assert response.status_code < 500, response.content[:500]
        if response.status_code >= 400:
            assert is_envelope(response.json()), response.content[:500]
            assert _snapshot() == before, f"a refused request ({response.status_code}) changed the money tables"


@pytest.fixture
def book(client: Client, login: Callable[..., dict]) -> Book:
    return Book(client, login)


def _payment_body(book: Book, amount: str, currency: str, line_amount: str, account: str, paid_on: str) -> str:
    return (
        f'{{"amount": {{"amount": {amount}, "currency": {currency}}}, '
        f'"lines": [{{"payment_account_id": {account}, '
        f'"amount": {{"amount": {line_amount}, "currency": {currency}}}}}], '
        f'"paid_on": {paid_on}, "prepay": false}}'
    )


# Raw JSON fragments, so that what json.dumps cannot write (NaN, 1e309, bare -0) goes on the wire too.
amounts = st.one_of(st.sampled_from(HOSTILE_AMOUNTS), st.decimals(allow_nan=False, places=3).map(lambda d: f'"{d}"'))
currencies = st.sampled_from(['"COP"', '"USD"', '"cop"', '"XXX"', '"C\\u0000P"', "null", "1", '"COPX"'])
accounts = st.sampled_from(HOSTILE_IDS)
dates = st.sampled_from(HOSTILE_DATES)


@HOSTILE
@given(amount=amounts, currency=currencies, line_amount=amounts, account=accounts, paid_on=dates)
def test_payment_bodies(book: Book, amount: str, currency: str, line_amount: str, account: str, paid_on: str) -> None:
    account = account.replace("$CASH", str(book.cash.id)).replace("$USD", str(book.usd_account.id))
    before = _snapshot()
    body = _payment_body(book, amount, currency, line_amount, account, paid_on)
    book.check(book.post(f"/api/v1/credits/{book.credit.id}/payments", body), before)


@HOSTILE
@given(amount=amounts)
def test_a_valid_payment_body_but_the_amount(book: Book, amount: str) -> None:
    """The amount alone hostile, everything else right: what gets past validation meets the domain."""
    before = _snapshot()
    body = _payment_body(book, amount, '"COP"', amount, str(book.cash.id), "null")
    book.check(book.post(f"/api/v1/credits/{book.credit.id}/payments", body), before)


@HOSTILE
@given(
    price=amounts, first_due=dates, installments=st.sampled_from(["1", "0", "-1", "1001", "1e3", '"12"', "2147483648"])
)
def test_credit_bodies(book: Book, price: str, first_due: str, installments: str) -> None:
    before = _snapshot()
    body = (
        f'{{"client_id": "{book.client.public_id}", "price": {{"amount": {price}, "currency": "COP"}}, '
        f'"cost": {{"amount": "10.00", "currency": "COP"}}, "periodicity": "monthly", '
        f'"installments": {installments}, "first_due_date": {first_due}, "interest_method": "french", '
        f'"annual_rate": "0.24"}}'
    )
    book.check(book.post("/api/v1/credits", body), before)


@HOSTILE
@given(credit_id=st.sampled_from(["not-a-uuid", "00000000-0000-0000-0000-000000000000", "-1", "9" * 40, "$OTHER"]))
def test_path_ids(book: Book, credit_id: str) -> None:
    credit_id = credit_id.replace("$OTHER", str(book.other_credit.id))  # another agent's credit: 404, not 403
    before = _snapshot()
    body = _payment_body(book, '"10.00"', '"COP"', '"10.00"', str(book.cash.id), "null")
    response = book.post(f"/api/v1/credits/{credit_id}/payments", body)
    book.check(response, before)
    assert response.status_code in (404, 422)


@HOSTILE
@given(text=st.one_of(st.sampled_from(HOSTILE_TEXTS), st.text(min_size=3, max_size=50)))
def test_unicode_in_texts(book: Book, text: str) -> None:
    before = _snapshot()
    reason = json.dumps(text)  # \u0000 stays an escape in the JSON, as a client would send it
    book.check(book.post(f"/api/v1/payments/{book.payment_id}/reversal", f'{{"reason": {reason}}}', "admin"), before)
    after = _snapshot()
    book.check(
        book.post("/api/v1/clients", json.dumps({"username": text[:150], "password": "Una-clave-larga-2026"})),
        after,
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"reason": "' + "x" * (5 * 1024 * 1024) + '"}',  # 5 MB of JSON
        "[" * 100_000 + "]" * 100_000,  # deep nesting
        '{"reason": "ok"' + ', "reason": "ok"' * 50_000 + "}",  # many duplicate keys
    ],
    ids=["5MB", "deep-nesting", "duplicate-keys"],
)
def test_oversized_and_pathological_bodies(book: Book, body: str) -> None:
    before = _snapshot()
    response = book.post(f"/api/v1/credits/{book.credit.id}/write-off", body, "admin")
    book.check(response, before)
    assert 400 <= response.status_code < 500


def test_a_nul_byte_is_refused_cleanly(book: Book) -> None:
    """PostgreSQL cannot store NUL in text: a 4xx naming the field, not a 500 from the driver."""
    before = _snapshot()
    response = book.post(f"/api/v1/credits/{book.credit.id}/write-off", '{"reason": "bad\\u0000reason"}', "admin")
    book.check(response, before)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("search=a%00b", ["query", "search"]),
        ("se%00arch=x", ["query", "se\x00arch"]),
        ("search=a\x00b", ["query", "search"]),
    ],
)
def test_a_nul_in_the_query_is_refused_by_name(book: Book, query: str, loc: list[str]) -> None:
    """Encoded (%00) or raw, in a key or a value: a 422 that names the parameter, as for a body."""
    response = book.http.get(f"/api/v1/credits?{query}", HTTP_AUTHORIZATION=f"Bearer {book.tokens['agent']}")
    assert response.status_code == 422, response.content[:300]
    assert response.json()["error"]["details"]["fields"][0]["loc"] == loc
    clean = book.http.get("/api/v1/credits?search=a%2500b", HTTP_AUTHORIZATION=f"Bearer {book.tokens['agent']}")
    assert clean.status_code == 200  # "%2500" is the text "%00", not a NUL


@pytest.mark.parametrize(
    ("path", "query", "loc"),
    [
        ("/api/v1/clients", "search=abc&search=def", ["query", "search"]),
        ("/api/v1/clients", "role=agent&role=client", ["query", "role"]),
        ("/api/v1/credits", "limit=5&limit=500", ["query", "limit"]),
    ],
)
def test_a_parameter_given_twice_is_refused_by_name(book: Book, path: str, query: str, loc: list[str]) -> None:
    """Found over HTTP by stress/scenarios/hostile.py (schemathesis, 1 run in 2): `?search=<invalid>&…
    &search=<valid>` answered 200, the last value taken and the others dropped unread, so a client
    asking for two roles got one without being told. A parameter that takes one value and is given
    more than once is a 422 that names it; a parameter nobody declared is still ignored."""
    token = book.tokens["admin"]
    response = book.http.get(f"{path}?{query}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 422, response.content[:300]
    (field,) = response.json()["error"]["details"]["fields"]
    assert field["loc"] == loc
    assert field["type"] == "repeated_parameter"
    assert "more than once" in field["msg"]
    once = query.split("&")[0]
    assert book.http.get(f"{path}?{once}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    unknown = book.http.get(f"{path}?{once}&x=1&x=2", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert unknown.status_code == 200


@pytest.mark.parametrize("first_due", ["9999-12-31", "9999-06-30"])
def test_a_schedule_past_the_calendar_is_refused_not_a_crash(book: Book, first_due: str) -> None:
    """Found over HTTP by stress/scenarios/hostile.py: a 12-month schedule from 9999-12-31 ran past
    datetime's last day (ValueError, a 500). Now a 422 that names the date; far but possible dates open."""
    before = _snapshot()
    body = {
        "client_id": str(book.client.public_id),
        "price": {"amount": "100.00", "currency": "COP"},
        "cost": {"amount": "10.00", "currency": "COP"},
        "periodicity": "monthly",
        "installments": 12,
        "first_due_date": first_due,
        "interest_method": "french",
        "annual_rate": "0.24",
    }
    response = book.post("/api/v1/credits", json.dumps(body))
    book.check(response, before)
    assert response.status_code == 422
    assert "9999-12-31" in response.json()["error"]["message"]
    body["first_due_date"] = "2999-01-31"  # far future, inside the calendar: accepted
    assert book.post("/api/v1/credits", json.dumps(body)).status_code == 201
