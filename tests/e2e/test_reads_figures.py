"""The read side's money equals what the domain computes for the same credits.

A book is built through the real services (payments, a reversal, late fees, a waiver, a paid,
a written-off, a defaulted and a never-disbursed credit, three currencies), then every figure the
SQL queries and the API give is compared with the domain aggregate's own (`Credit.pending`,
`overdue`, `credit_figures`, `summarize_user`, `portfolio_kpis`, `due_installments`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from adapters.queries import ReadQueries
from config.bootstrap import build_ports
from domain.analytics.model import portfolio_kpis, summarize_user
from domain.application import use_cases as services
from domain.application.figures import credit_figures, due_installments
from domain.application.ports import Actor
from domain.credits.model import Credit
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.shared.aging import AgingBucket
from domain.shared.money import Money
from tests.builders import Caller, business_today, open_credit, pay, ports_at, reload, reverse
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def wire(money: Money | None) -> dict | None:
    return None if money is None else {"amount": str(money.amount), "currency": money.currency.code}


@pytest.fixture
def book(client: Client, login: Callable[..., dict]) -> dict:
    today = business_today()
    ago = lambda days: today - timedelta(days=days)  # noqa: E731
    admin = UserFactory(username="f-admin", role="admin")
    agent = UserFactory(username="f-agent", role="agent")
    debtor = UserFactory(username="f-client", role="client")
    other = UserFactory(username="f-other", role="client")

    french = open_credit(debtor, agent, price="2400.00", installments=12, on=ago(200))
    pay(french, "300.00", on=ago(150), split=("200.00", "100.00"))
    mistaken = pay(french, "77.77", on=ago(100))
    reverse(mistaken, by=admin, on=ago(99))
    pay(french, "123.45", on=ago(20))

    paid_off = open_credit(debtor, agent, price="500.00", installments=1, annual_rate="0", on=ago(40))
    pay(paid_off, "500.00", on=ago(5))

    pesos = open_credit(
        debtor,
        agent,
        price="100000",
        currency="CLP",
        installments=4,
        periodicity=Periodicity.WEEKLY,
        method=InterestMethod.ZERO_INTEREST,
        annual_rate="0",
        on=ago(50),
    )
    pay(pesos, "30001", on=ago(10))

    dollars = open_credit(
        debtor, agent, price="900.00", currency="USD", installments=3, method=InterestMethod.FLAT_MARKUP, on=ago(120)
    )
    services.write_off_credit(ports_at(ago(1)), dollars.id, "uncollectable", Actor(admin.id, Source.ADMIN))

    forgotten = open_credit(debtor, agent, price="1000.00", installments=6, on=ago(300))
    not_yet = open_credit(debtor, agent, price="800.00", installments=4, disburse=False)
    theirs = open_credit(other, agent, price="700.00", installments=7, on=ago(95))
    pay(theirs, "99.99", on=ago(30))

    # The nightly jobs: late fees on what is overdue, then the delinquency snapshot (defaults).
    services.apply_late_fees(ports_at(today))
    services.recompute_delinquency(ports_at(today))
    french_now = reload(french)
    charged = next(i for i in french_now.installments if i.late_fee_outstanding.is_positive)
    services.waive_fee(
        ports_at(today),
        services.RequestWaiver(charged.id, Money.of("1.00", "COP"), "goodwill"),
        Actor(admin.id, Source.ADMIN),
    )
    credits = [french, paid_off, pesos, dollars, forgotten, not_yet]
    return {
        "today": today,
        "debtor": debtor,
        "other": other,
        "agent": agent,
        "credits": [reload(c) for c in credits],
        "theirs": reload(theirs),
        "as_client": Caller(client, login(debtor.username)["access_token"]),
        "as_agent": Caller(client, login(agent.username)["access_token"]),
        "as_admin": Caller(client, login(admin.username)["access_token"]),
    }


def test_the_book_covers_the_interesting_cases(book: dict) -> None:
    states = {c.state.value for c in book["credits"]}
    assert states == {"active", "paid", "written_off", "defaulted", "pending"}
    assert any(i.late_fee_waived.is_positive for c in book["credits"] for i in c.installments)
    assert {c.currency.code for c in book["credits"]} == {"COP", "CLP", "USD"}


def test_sql_figures_equal_the_domains(book: dict) -> None:
    policy = build_ports().policies.delinquency
    reads = ReadQueries.build(policy)
    today = book["today"]
    expected = sorted((credit_figures(c, today, policy) for c in book["credits"]), key=lambda f: f.credit_id)
    assert reads.figures.for_user(book["debtor"].id, today) == expected
    everyone = sorted([*book["credits"], book["theirs"]], key=lambda c: c.id)
    walked, after = [], None
    while chunk := reads.figures.chunk(after=after, limit=2, as_of=today):
        walked.extend(chunk)
        after = chunk[-1].credit_id
    assert walked == [credit_figures(c, today, policy) for c in everyone]
    assert reads.figures.count() == len(everyone)


def test_the_summary_equals_summarize_user(book: dict) -> None:
    policy = build_ports().policies.delinquency
    today = book["today"]
    domain = summarize_user(book["debtor"].id, [credit_figures(c, today, policy) for c in book["credits"]])
    body = book["as_client"].get("/api/v1/me/credit-summary").json()
    assert (body["credits"], body["open_credits"], body["in_default"]) == (
        domain.credits,
        domain.open_credits,
        domain.in_default,
    )
    assert body["in_default"] >= 1
    assert body["by_currency"] == [
        {
            "currency": s.currency.code,
            "credits": s.credits,
            "total": wire(s.total),
            "pending": wire(s.pending),
            "overdue": wire(s.overdue),
            "next_due_date": s.next_due_date.isoformat() if s.next_due_date else None,
            "next_due_amount": wire(s.next_due_amount),
        }
        for s in domain.by_currency
    ]
    assert [c["currency"] for c in body["by_currency"]] == ["CLP", "COP", "USD"]
    assert body["by_currency"][0]["pending"]["amount"].isdigit()  # CLP has no decimals
    assert book["as_agent"].get(f"/api/v1/users/{book['debtor'].public_id}/credit-summary").json() == body


def test_each_credits_figures_equal_the_aggregates(book: dict) -> None:
    today = book["today"]
    listed = {i["id"]: i for i in book["as_client"].get("/api/v1/credits", limit=100).json()["data"]}
    for credit in book["credits"]:
        detail = book["as_agent"].get(f"/api/v1/credits/{credit.id}").json()
        expected_overdue = credit.overdue(today) if credit.state.is_open else Money.zero(credit.currency)
        assert detail["pending"] == wire(credit.pending), credit.state
        assert detail["overdue"] == wire(expected_overdue), credit.state
        assert detail["total_due"] == wire(credit.total_due)
        assert detail["paid"] == wire(credit.total_paid)
        assert detail["earnings"] == wire(credit.earnings)
        assert detail["state"] == credit.state.value
        nxt = credit.next_due() if credit.state.is_open else None
        assert detail["next_due_date"] == (nxt.due_date.isoformat() if nxt else None)
        assert detail["next_due_amount"] == (wire(nxt.outstanding) if nxt else None)
        assert detail["delinquency"]["is_in_default"] == credit.delinquency.is_in_default
        assert detail["delinquency"]["days_past_due"] == credit.delinquency.days_past_due
        schedule = book["as_client"].get(f"/api/v1/credits/{credit.id}/installments").json()["data"]
        assert detail["installments"] == schedule
        for row, inst in zip(schedule, credit.installments, strict=True):
            assert row["outstanding"] == wire(inst.outstanding)
            assert row["paid"] == wire(inst.paid)
            assert row["late_fee"] == wire(inst.late_fee) and row["late_fee_waived"] == wire(inst.late_fee_waived)
            assert row["days_past_due"] == inst.days_past_due(today)
            assert (row["status"] == "paid") == inst.is_settled
        item = listed[str(credit.id)]
        assert item["pending"] == wire(credit.pending)
        assert item["price"] == wire(credit.price)
        assert item["next_due_date"] == detail["next_due_date"]


def test_work_lists_equal_the_domains_due_installments(book: dict) -> None:
    today = book["today"]
    expected = sorted(
        (
            (str(d.installment_id), d.due_date.isoformat(), wire(d.outstanding))
            for c in [*book["credits"], book["theirs"]]
            for d in due_installments(c, due_until=today + timedelta(days=10_000))
        ),
        key=lambda t: (t[1], t[0]),
    )
    portfolio = book["as_agent"].get("/api/v1/collections/portfolio", limit=100).json()["data"]
    assert [(i["installment_id"], i["due_date"], i["outstanding"]) for i in portfolio] == expected
    overdue = book["as_agent"].get("/api/v1/collections/overdue", limit=100).json()["data"]
    assert [i["installment_id"] for i in overdue] == [t[0] for t in expected if t[1] < today.isoformat()]


def test_portfolio_kpis_and_aging_equal_the_domains(book: dict) -> None:
    policy = build_ports().policies.delinquency
    today = book["today"]
    everyone: list[Credit] = [*book["credits"], book["theirs"]]
    domain = {k.currency.code: k for k in portfolio_kpis(credit_figures(c, today, policy) for c in everyone)}
    kpis = book["as_admin"].get("/api/v1/portfolio/kpis").json()
    aging = book["as_admin"].get("/api/v1/portfolio/aging").json()
    assert [k["currency"] for k in kpis["data"]] == sorted(domain) == [a["currency"] for a in aging["data"]]
    for row, buckets in zip(kpis["data"], aging["data"], strict=True):
        k = domain[row["currency"]]
        assert row == {
            "currency": k.currency.code,
            "credits": k.credits,
            "open_credits": k.open_credits,
            "in_default": k.in_default,
            "outstanding": wire(k.outstanding),
            "collected": wire(k.collected),
            "at_risk": wire(k.at_risk),
            "at_risk_ratio": f"{k.at_risk_ratio:f}",
        }
        assert buckets["buckets"] == [
            {"bucket": b.value, "credits": k.aging_counts[b], "outstanding": wire(k.aging[b])} for b in AgingBucket
        ]
    cop = domain["COP"]
    assert cop.at_risk.is_positive and cop.in_default >= 1 and Decimal(0) < cop.at_risk_ratio <= 1
