"""Issue 12, "Admin, as an admin sees it": read-only pages still showed a Save button.

A page where nothing can be saved (money rows, the audit trail, idempotency records, sessions)
shows no Save button and refuses a POST; a page that edits (the catalogs, users) keeps it. Money
rows still change through their actions on the change list (tests/e2e/test_admin.py)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adapters.jobs.store import JobStore
from adapters.orm.idempotency.models import IdempotencyRecord
from adapters.orm.identity.models import RefreshTokenRecord, User
from tests.e2e.admin_pages import signed_in_admin, small_book
from tests.factories import CategoryFactory, HolidayFactory, PaymentAccountFactory, SubcategoryFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

READ_ONLY = [
    "credits.Credit",
    "credits.CreditEvent",
    "payments.Payment",
    "payments.FeeWaiver",
    "audit.AuditEntry",
    "idempotency.IdempotencyRecord",
    "identity.RefreshTokenRecord",
    "jobs.Job",
]
EDITABLE = [
    "catalog.Currency",
    "catalog.Category",
    "catalog.Subcategory",
    "catalog.Periodicity",
    "catalog.PaymentAccount",
    "catalog.Holiday",
    "identity.User",
    "auth.Group",
]
# The buttons of Django's submit row that save the form.
SAVE_BUTTON = re.compile(r'<input[^>]*type="submit"[^>]*name="_(save|continue|addanother)"')


@pytest.fixture
def rows() -> None:
    """At least one row of every model the admin shows."""
    small_book()
    user = User.objects.filter(role="client").first()
    IdempotencyRecord.objects.create(user_id=user.id, key="k-1", request_hash="0" * 64, status_code=201)
    now = timezone.now()
    RefreshTokenRecord.objects.create(
        token_hash="1" * 64, family_id=uuid.uuid4(), user=user, issued_at=now, expires_at=now + timedelta(days=1)
    )
    SubcategoryFactory(category=CategoryFactory())
    HolidayFactory()
    JobStore().create("portfolio_analysis", {"as_of": "2025-01-31", "currency": None})
    Group.objects.create(name="collections desk")
    PaymentAccountFactory(currency_id="COP")


def _change_page(client: Client, label: str) -> tuple[str, object]:
    model = apps.get_model(label)
    obj = model.objects.order_by("pk").first()
    assert obj is not None, label
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    response = client.get(url)
    assert response.status_code == 200, (label, response.status_code)
    return url, response


def test_every_admin_page_is_either_read_only_or_editable() -> None:
    assert sorted(m._meta.label for m in admin.site._registry) == sorted(READ_ONLY + EDITABLE)


@pytest.mark.parametrize("label", READ_ONLY)
def test_read_only_pages_show_no_save_button_and_refuse_a_save(rows: None, label: str) -> None:
    client = signed_in_admin()
    url, page = _change_page(client, label)
    html = page.content.decode()
    assert not SAVE_BUTTON.search(html), SAVE_BUTTON.search(html).group(0)
    assert 'class="closelink"' in html  # Django's view-only page: a Close link instead
    assert client.post(url, {"_save": "Save"}).status_code == 403


@pytest.mark.parametrize("label", EDITABLE)
def test_editable_pages_keep_their_save_button(rows: None, label: str) -> None:
    _, page = _change_page(signed_in_admin(), label)
    assert SAVE_BUTTON.search(page.content.decode())


def test_an_admin_who_is_not_a_superuser_still_sees_money_rows_and_runs_their_actions(rows: None) -> None:
    """Admins onboarded through the API are staff by role, without model permissions."""
    client = Client()
    User.objects.create_user("desk", password="a long desk password", role=User.Role.ADMIN)
    assert client.login(username="desk", password="a long desk password")
    credit = apps.get_model("credits.Credit").objects.order_by("pk").first()
    assert client.get(reverse("admin:credits_credit_changelist")).status_code == 200
    page = client.get(reverse("admin:credits_credit_change", args=[credit.pk]))
    assert page.status_code == 200 and not SAVE_BUTTON.search(page.content.decode())
    form = client.post(
        reverse("admin:credits_credit_changelist"), {"action": "write_off", "_selected_action": [str(credit.pk)]}
    )
    assert form.status_code == 200 and b"reason" in form.content
