"""Helpers for tests of the Django admin as an admin meets it: signed in through the admin's own
login form (a real password check and session), pages read as rendered HTML."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from django.test import Client

from adapters.orm.credits.models import Installment
from adapters.orm.identity.models import User
from domain.application import use_cases
from domain.application.ports import Actor
from domain.credits.schedule import InterestMethod
from domain.ledger.model import Source
from domain.shared.money import Money
from tests.builders import business_today, open_credit, pay, ports_at, reverse
from tests.factories import PASSWORD, UserFactory


def signed_in_admin(client: Client | None = None, *, username: str = "ada") -> Client:
    """A client signed in through /admin/login/ as an admin (the demo's admin is a superuser)."""
    UserFactory(username=username, role=User.Role.ADMIN, is_superuser=True)
    client = client or Client()
    response = client.post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content[:500]
    return client


def page_text(response: object) -> str:
    """The rendered page as text: tags dropped, entities decoded, runs of white space made one."""
    assert response.status_code == 200, response.status_code  # type: ignore[attr-defined]
    html = response.content.decode()  # type: ignore[attr-defined]
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S))
    return re.sub(r"\s+", " ", unescape(text))


# A stored amount shown raw: digits, a point and the column's four decimals (2400000.0000).
RAW_AMOUNT = re.compile(r"\b\d+\.\d{4}\b")


def small_book() -> dict:
    """Three credits in currencies of 2, 0 and 3 decimals opened 100 days ago (so some installments
    are overdue), a split payment, a late fee with a waiver request, and an adjustment."""
    today = business_today()
    agent, client = UserFactory(role="agent"), UserFactory()
    zero = {"method": InterestMethod.ZERO_INTEREST, "on": today - timedelta(days=100)}
    cop = open_credit(client, agent, price="2400000.00", installments=12, **zero)  # 200,000.00 each
    clp = open_credit(client, agent, price="2400000", currency="CLP", installments=4, **zero)  # 600,000 each
    kwd = open_credit(client, agent, price="1234.500", currency="KWD", installments=3, **zero)  # 411.500 each
    payment = pay(cop, "150000.00", split=("100000.00", "50000.00"), on=today - timedelta(days=2))
    ports = ports_at(today)
    use_cases.charge_late_fees(ports, cop.id)
    fee = Installment.objects.filter(credit_id=cop.id, late_fee__gt=0).order_by("number").first()
    assert fee is not None
    waiver = use_cases.request_fee_waiver(
        ports,
        use_cases.RequestWaiver(fee.id, Money.rounded(fee.late_fee, cop.currency), "first time late"),
        Actor(agent.id, Source.WEB),
    )
    use_cases.adjust_credit(ports, kwd.id, Money.of("10.250", "KWD"), "delivery fee", Actor(agent.id, Source.WEB))
    return {"cop": cop, "clp": clp, "kwd": kwd, "payment": payment, "waiver": waiver, "client": client}


def portfolio_book() -> dict:
    """COP: a credit 70 days past due (61-90), one 10 days past due (1-30), one current; payments
    on day -95 (outside the 90 days), -20, -5 (reversed) and -1. CLP: a current credit, paid today."""
    today = business_today()
    agent, client = UserFactory(role="agent"), UserFactory()
    admin = UserFactory(role="admin")
    zero = InterestMethod.ZERO_INTEREST
    late = open_credit(client, agent, price="1200000.00", installments=12, method=zero, on=today - timedelta(100))
    soon = open_credit(client, agent, price="300000.00", installments=3, method=zero, on=today - timedelta(40))
    open_credit(client, agent, price="600000.00", installments=6, method=zero)
    pay(late, "5000.00", on=today - timedelta(days=95))
    pay(late, "30000.00", on=today - timedelta(days=20))
    pay(soon, "20000.00", on=today - timedelta(days=20))
    reverse(pay(late, "10000.00", on=today - timedelta(days=5)), by=admin, on=today - timedelta(days=5))
    pay(late, "50000.00", on=today - timedelta(days=1))
    pesos = open_credit(client, agent, price="90000", currency="CLP", installments=3, method=zero)
    pay(pesos, "10000")
    return {"today": today}
