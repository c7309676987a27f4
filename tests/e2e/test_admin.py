"""The Django admin: every model listed and viewable; money rows read-only; money actions run the
domain's use cases (a reversal through the admin books a compensating transaction)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.payments.model import MethodLine
from domain.shared.money import Money
from tests.factories import PaymentAccountFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MONEY_MODELS = ["credits.Credit", "credits.CreditEvent", "payments.Payment", "payments.FeeWaiver"]


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", role="admin", is_superuser=True))
    return client


@pytest.fixture
def paid_credit() -> dict:
    agent, owner = UserFactory(role="agent"), UserFactory(role="client")
    account = PaymentAccountFactory(currency_id="COP")
    ports = build_ports()
    actor = Actor(agent.id, Source.WEB)
    credit = use_cases.open_credit(
        ports,
        use_cases.OpenCredit(
            user_id=owner.id,
            agent_id=agent.id,
            price=Money.of("1000.00", "COP"),
            cost=Money.of("500.00", "COP"),
            subcategory_id=None,
            periodicity=Periodicity.WEEKLY,
            installments=4,
            first_due_date=ports.clock.today() + timedelta(days=7),
            method=InterestMethod.FLAT_MARKUP,
        ),
        actor,
    )
    payment = use_cases.register_payment(
        ports,
        use_cases.RegisterPayment(
            credit_id=credit.id,
            amount=Money.of("100.00", "COP"),
            method_lines=(MethodLine(account.id, Money.of("100.00", "COP")),),
            idempotency_key="admin-test",
        ),
        actor,
    )
    return {"credit": credit, "payment": payment}


def test_every_registered_model_lists_and_shows(staff: Client, paid_credit: dict) -> None:
    for model in admin.site._registry:
        opts = model._meta
        response = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert response.status_code == 200, opts.label
    credit_page = staff.get(reverse("admin:credits_credit_change", args=[paid_credit["credit"].id]))
    assert credit_page.status_code == 200
    assert b"repayment" in credit_page.content and b"disbursement" in credit_page.content  # the ledger table
    payment_page = staff.get(reverse("admin:payments_payment_change", args=[paid_credit["payment"].id]))
    assert payment_page.status_code == 200 and b"100.00 COP" in payment_page.content


@pytest.mark.parametrize("label", MONEY_MODELS)
def test_money_rows_cannot_be_added_or_deleted(staff: Client, label: str) -> None:
    opts = apps.get_model(label)._meta
    assert staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 403
    model_admin = admin.site._registry[apps.get_model(label)]
    assert not model_admin.has_delete_permission(None)


def test_partitioned_tables_have_no_admin_of_their_own() -> None:
    for label in ("ledger.LedgerTransaction", "ledger.Posting", "payments.PaymentLine"):
        assert apps.get_model(label) not in admin.site._registry


def test_reversal_action_runs_the_use_case(staff: Client, paid_credit: dict) -> None:
    payment = paid_credit["payment"]
    url = reverse("admin:payments_payment_changelist")
    form = staff.post(url, {"action": "reverse", "_selected_action": [str(payment.id)]})
    assert form.status_code == 200 and b"reason" in form.content
    done = staff.post(
        url, {"action": "reverse", "_selected_action": [str(payment.id)], "apply": "1", "reason": "cheque bounced"}
    )
    assert done.status_code == 302
    ports = build_ports()
    reversed_ = ports.payments.get(payment.id)
    assert reversed_.is_reversed and reversed_.reversal.reason == "cheque bounced"
    assert ports.credits.get(paid_credit["credit"].id).pending == paid_credit["credit"].pending
    assert use_cases.verify_book(ports).problems == []


def test_write_off_action_needs_a_reason(staff: Client, paid_credit: dict) -> None:
    credit = paid_credit["credit"]
    url = reverse("admin:credits_credit_changelist")
    refused = staff.post(url, {"action": "write_off", "_selected_action": [str(credit.id)], "apply": "1", "reason": ""})
    assert refused.status_code == 200  # the form again, with its error
    assert build_ports().credits.get(credit.id).state.value == "active"
    staff.post(url, {"action": "write_off", "_selected_action": [str(credit.id)], "apply": "1", "reason": "gone"})
    assert build_ports().credits.get(credit.id).state.value == "written_off"
