"""Issue 12, "Admin, as an admin sees it": money showed as `2400000.0000` (the numeric column).
Every admin page that shows an amount shows it in its currency's minor units, grouped, with its
code: `2,400,000.00 COP`, `2,400,000 CLP`, `1,234.500 KWD`; in lists and detail pages alike."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from adapters.jobs.runners import analysis_job, run_nightly
from adapters.jobs.store import JobStore
from adapters.orm.audit.models import AuditEntry
from adapters.orm.credits.models import CreditEvent
from adapters.orm.jobs.models import Job
from config.bootstrap import build_ports
from tests.builders import business_today
from tests.e2e.admin_pages import RAW_AMOUNT, page_text, signed_in_admin, small_book

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

GROUPED_COP = re.compile(r"(?<![\d,.])\d{1,3}(,\d{3})*\.\d\d COP\b")


@pytest.fixture
def book() -> dict:
    return small_book()


def _shown(client: Client, url: str) -> str:
    text = page_text(client.get(url))
    assert not RAW_AMOUNT.findall(text), (url, RAW_AMOUNT.findall(text))
    return text


def test_lists_show_money_in_minor_units_with_grouping(book: dict) -> None:
    admin = signed_in_admin()
    credits = _shown(admin, reverse("admin:credits_credit_changelist"))
    assert "2,400,000.00 COP" in credits
    assert "2,400,000 CLP" in credits and "2,400,000.00 CLP" not in credits
    assert "1,234.500 KWD" in credits
    assert "150,000.00 COP" in _shown(admin, reverse("admin:payments_payment_changelist"))
    assert GROUPED_COP.search(_shown(admin, reverse("admin:payments_feewaiver_changelist")))
    assert CreditEvent.objects.filter(amount=Decimal("10.25")).exists()
    assert "10.250 KWD" in _shown(admin, reverse("admin:credits_creditevent_changelist"))
    assert AuditEntry.objects.filter(amount=150000).exists()
    assert "150,000.00 COP" in _shown(admin, reverse("admin:audit_auditentry_changelist"))


def test_detail_pages_show_money_in_minor_units_with_grouping(book: dict) -> None:
    admin = signed_in_admin()
    cop = _shown(admin, reverse("admin:credits_credit_change", args=[book["cop"].id]))
    assert "2,400,000.00 COP" in cop  # price, and the disbursement in the ledger table
    assert "1,680,000.00 COP" in cop  # cost
    assert "200,000.00 COP" in cop  # the installments inline
    assert "100,000.00 COP" in cop and "50,000.00 COP" in cop  # the repayment's ledger postings
    clp = _shown(admin, reverse("admin:credits_credit_change", args=[book["clp"].id]))
    assert "600,000 CLP" in clp and "600,000.00" not in clp
    kwd = _shown(admin, reverse("admin:credits_credit_change", args=[book["kwd"].id]))
    assert "411.500 KWD" in kwd and "10.250 KWD" in kwd  # an installment; the adjustment event
    payment = _shown(admin, reverse("admin:payments_payment_change", args=[book["payment"].id]))
    assert "150,000.00 COP" in payment
    assert "100,000.00 COP" in payment and "50,000.00 COP" in payment  # split over payment methods
    waiver = _shown(admin, reverse("admin:payments_feewaiver_change", args=[book["waiver"].id]))
    assert GROUPED_COP.search(waiver)
    entry = AuditEntry.objects.filter(amount=150000).first()
    assert "150,000.00 COP" in _shown(admin, reverse("admin:audit_auditentry_change", args=[entry.pk]))


def test_job_results_show_money(book: dict, settings: object) -> None:
    """The portfolio analysis' figures ({"amount", "currency"}) and the nightly job's fees charged
    (amounts by currency code), as the workers store them."""
    settings.NIGHTLY_WORKERS = 1  # type: ignore[attr-defined]  # this test's rows are not committed
    ports = build_ports()
    store = JobStore()
    analysis = store.create("portfolio_analysis", {"as_of": business_today().isoformat(), "currency": None})
    assert analysis_job(ports, store).run(analysis) == "succeeded"
    run_nightly(ports)
    admin = signed_in_admin()
    assert "Portfolio Analysis" in _shown(admin, reverse("admin:jobs_job_changelist"))
    report = _shown(admin, reverse("admin:jobs_job_change", args=[analysis]))
    assert "2,400,000 CLP" in report  # outstanding: nothing paid on the CLP credit
    assert "1,244.750 KWD" in report and "1244.750" not in report  # 1,234.500 + the 10.250 adjustment
    nightly = Job.objects.get(kind="nightly_delinquency")
    assert set(nightly.result["charged"]) == {"CLP", "KWD"}  # COP's fees were charged already
    fees = _shown(admin, reverse("admin:jobs_job_change", args=[nightly.id]))
    for code in nightly.result["charged"]:
        assert re.search(rf"(?<![\d,.])\d{{1,3}}(,\d{{3}})*(\.\d+)? {code}\b", fees), code
