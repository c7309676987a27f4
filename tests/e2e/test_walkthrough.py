"""The product's main path over HTTP, as its users live it:

admin sets up catalogs -> an agent onboards a client and opens a French-amortization credit ->
the client sees the schedule -> the agent registers a payment split cash + bank with an
Idempotency-Key (sent twice, charged once) -> the client's summary shows the new pending amount ->
an admin reverses the payment -> the summary is back where it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from config.bootstrap import build_ports
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def test_the_whole_path(client: Client, login: Callable[..., dict]) -> None:
    UserFactory(username="ada", role="admin")

    def call(token: str, method: str, path: str, body: dict | None = None, key: str | None = None) -> object:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        if method == "GET":
            return client.get(path, **headers)
        return client.post(path, body or {}, content_type="application/json", **headers)

    admin = login("ada")["access_token"]
    # 1. Admin: catalogs and an agent.
    category = call(admin, "POST", "/api/v1/categories", {"name": "Neveras y hogar"})
    assert category.status_code == 201, category.content
    sub = call(admin, "POST", "/api/v1/subcategories", {"category_id": category.json()["id"], "name": "Neveras"})
    assert sub.status_code == 201, sub.content
    cash = call(admin, "POST", "/api/v1/payment-accounts", {"name": "Caja", "kind": "cash", "currency": "COP"})
    bank = call(
        admin,
        "POST",
        "/api/v1/payment-accounts",
        {"name": "Banco", "kind": "bank", "currency": "COP", "bank_name": "Banco X", "account_number": "0012345678"},
    )
    assert cash.status_code == bank.status_code == 201, (cash.content, bank.content)
    agent_created = call(
        admin, "POST", "/api/v1/clients", {"username": "andres", "password": "Un-buen-secreto-2026", "role": "agent"}
    )
    assert agent_created.status_code == 201, agent_created.content
    agent = login("andres", "Un-buen-secreto-2026")["access_token"]

    # 2. Agent: onboards the client and opens a French credit.
    onboarded = call(
        agent,
        "POST",
        "/api/v1/clients",
        {"username": "camila", "password": "Otra-clave-segura-77", "first_name": "Camila", "document_id": "1020304"},
    )
    assert onboarded.status_code == 201, onboarded.content
    today = build_ports().clock.today()
    opened = call(
        agent,
        "POST",
        "/api/v1/credits",
        {
            "client_id": onboarded.json()["id"],
            "price": {"amount": "2400000.00", "currency": "COP"},
            "cost": {"amount": "1800000.00", "currency": "COP"},
            "subcategory_id": sub.json()["id"],
            "periodicity": "monthly",
            "installments": 12,
            "first_due_date": (today + timedelta(days=30)).isoformat(),
            "interest_method": "french",
            "annual_rate": "0.24",
        },
        key="open-camila-1",
    )
    assert opened.status_code == 201, opened.content
    credit_id = opened.json()["id"]

    # 3. Client: sees the schedule and the summary.
    client_token = login("camila", "Otra-clave-segura-77")["access_token"]
    schedule = call(client_token, "GET", f"/api/v1/credits/{credit_id}/installments")
    assert schedule.status_code == 200, schedule.content
    rows = schedule.json()["data"]
    assert len(rows) == 12
    # PMT(2% a month, 12, 2,400,000) = 226,943.03 (computed by hand: P * r / (1 - (1 + r)^-12)).
    assert rows[0]["amount"] == {"amount": "226943.03", "currency": "COP"}
    before = call(client_token, "GET", "/api/v1/me/credit-summary").json()
    pending_before = Decimal(before["by_currency"][0]["pending"]["amount"])
    assert pending_before == sum(Decimal(r["amount"]["amount"]) for r in rows)

    # 4. Agent: a payment split cash + bank, sent twice with one key: charged once.
    payment_body = {
        "amount": {"amount": "226943.03", "currency": "COP"},
        "lines": [
            {"payment_account_id": cash.json()["id"], "amount": {"amount": "126943.03", "currency": "COP"}},
            {"payment_account_id": bank.json()["id"], "amount": {"amount": "100000.00", "currency": "COP"}},
        ],
    }
    first = call(agent, "POST", f"/api/v1/credits/{credit_id}/payments", payment_body, key="cuota-1-camila")
    retry = call(agent, "POST", f"/api/v1/credits/{credit_id}/payments", payment_body, key="cuota-1-camila")
    assert first.status_code == retry.status_code == 201, first.content
    assert retry.json()["id"] == first.json()["id"]
    payments = call(client_token, "GET", f"/api/v1/credits/{credit_id}/payments").json()["data"]
    assert len(payments) == 1

    # 5. Client: the summary shows the new pending amount.
    after = call(client_token, "GET", "/api/v1/me/credit-summary").json()
    assert Decimal(after["by_currency"][0]["pending"]["amount"]) == pending_before - Decimal("226943.03")

    # 6. Admin: reverses the payment; the summary is back.
    reversal = call(
        admin, "POST", f"/api/v1/payments/{first.json()['id']}/reversal", {"reason": "bank transfer bounced"}, key="r1"
    )
    assert reversal.status_code == 200, reversal.content
    back = call(client_token, "GET", "/api/v1/me/credit-summary").json()
    assert Decimal(back["by_currency"][0]["pending"]["amount"]) == pending_before
    assert call(client_token, "GET", f"/api/v1/credits/{credit_id}/payments").json()["data"][0]["status"] == "reversed"
