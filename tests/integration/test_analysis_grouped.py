"""The portfolio analysis grouped in PostgreSQL equals the domain's per-credit fold, figure for figure.

`PortfolioAnalysis.add` over one `CreditFigures` per credit (the domain's accumulator, the
reference) and `PortfolioAnalysis.add_groups` over `CreditFiguresOfCurrency.grouped_chunk` (what
the job runs: sums and groups computed by PostgreSQL) must give the same `PortfolioReport` (every
KPI, aging bucket, ratio and top debtor) and the same CSV rows, for any chunk size, top N, at-risk
threshold, currency filter and as-of date, over a book with every credit state in three currencies.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest

from adapters.jobs.analysis import CreditFiguresOfCurrency, PortfolioAnalysisJob, report_csv, report_json
from adapters.jobs.store import JobStore
from config.bootstrap import build_ports
from domain.analytics.model import BookChunk, GroupedChunk, PortfolioAnalysis, PortfolioReport
from domain.application import use_cases as services
from domain.application.ports import Actor
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.shared.money import Money
from tests.builders import business_today, open_credit, pay, ports_at, reload
from tests.factories import CurrencyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def book() -> date:
    """COP, USD and CLP credits of three agents (and one without agent): current, 1-30 ... 90+ days
    late, defaulted, paid off, written off, refinanced, cancelled, not disbursed, with late fees and
    a waiver; equal pending balances across chunks (top-N ties). Returns the business date."""
    CurrencyFactory(code="COP", minor_units=2)
    CurrencyFactory(code="USD", minor_units=2)
    CurrencyFactory(code="CLP", minor_units=0)
    today = business_today()
    ago = lambda days: today - timedelta(days=days)  # noqa: E731
    admin = UserFactory(role="admin")
    agents = [UserFactory(role="agent") for _ in range(3)]
    clients = [UserFactory() for _ in range(7)]
    by_admin = Actor(admin.id, Source.ADMIN)

    credits = []
    for n in range(30):
        currency = ("COP", "USD", "CLP")[n % 3]
        price = f"{1000 + 97 * n}" if currency == "CLP" else f"{400 + 53 * n}.{n % 10}5"
        credit = open_credit(
            clients[n % 7],
            agents[n % 3] if n % 10 else None,
            price=price,
            currency=currency,
            installments=3 + n % 5,
            periodicity=Periodicity.WEEKLY if n % 4 == 0 else Periodicity.MONTHLY,
            method=(InterestMethod.FRENCH, InterestMethod.FLAT_MARKUP, InterestMethod.ZERO_INTEREST)[n % 3],
            annual_rate="0" if n % 3 == 2 else "0.24",
            on=ago(11 * n),
        )
        credits.append(credit)
        if n % 4 == 1:
            part = "37" if currency == "CLP" else f"{25 + n}.{n % 7}0"
            pay(credit, part, on=ago(11 * n - 5) if n else today)
    # Equal pending balances (top-N ties broken by credit id), in two currencies.
    for currency in ("COP", "USD", "COP", "USD", "COP"):
        credits.append(open_credit(clients[0], agents[0], price="5000.00", currency=currency, on=ago(75)))
    # Paid off.
    paid_off = open_credit(clients[1], agents[1], price="300.00", installments=2, on=ago(20))
    pay(paid_off, f"{paid_off.outstanding.amount:f}", on=ago(2), prepay=True)
    # Written off, refinanced, cancelled, not disbursed.
    services.write_off_credit(ports_at(ago(1)), credits[4].id, "uncollectable", by_admin)
    services.write_off_credit(ports_at(ago(1)), credits[17].id, "uncollectable", by_admin)
    services.refinance_credit(
        ports_at(ago(3)),
        services.Refinance(
            credit_id=credits[8].id,
            installments=6,
            periodicity=Periodicity.MONTHLY,
            first_due_date=today + timedelta(days=10),
            method=InterestMethod.FRENCH,
            annual_rate=Decimal("0.24"),
            reason="restructured",
        ),
        by_admin,
    )
    pending = open_credit(clients[2], agents[2], price="800.00", disburse=False)
    open_credit(clients[3], agents[2], price="650.00", currency="USD", disburse=False)
    services.cancel_credit(ports_at(today), pending.id, "client withdrew", by_admin)
    # The nightly work: late fees, then defaults; one fee waived.
    services.apply_late_fees(ports_at(today))
    services.recompute_delinquency(ports_at(today))
    cop = [reload(c) for c in credits if c.currency.code == "COP"]
    charged = next((i for c in cop for i in c.installments if i.late_fee_outstanding.is_positive), None)
    assert charged is not None
    services.waive_fee(
        ports_at(today),
        services.RequestWaiver(charged.id, Money.of("1.00", "COP"), "goodwill"),
        by_admin,
    )
    return today


def _states() -> set[str]:
    from adapters.orm.credits.models import Credit

    return set(Credit.objects.values_list("state", flat=True))


def _reference(query: CreditFiguresOfCurrency, as_of: date, *, top: int, at_risk: int) -> PortfolioAnalysis:
    """The domain's fold over one CreditFigures per credit (pages of 4)."""
    analysis = PortfolioAnalysis(at_risk_after_days=at_risk, top=top)
    after = None
    while rows := query.chunk(after=after, limit=4, as_of=as_of):
        analysis.add(rows)
        after = rows[-1].credit_id
    return analysis


def _grouped(query: CreditFiguresOfCurrency, as_of: date, *, chunk: int, top: int, at_risk: int) -> PortfolioAnalysis:
    """What the job folds: each keyset chunk grouped by PostgreSQL."""
    analysis = PortfolioAnalysis(at_risk_after_days=at_risk, top=top)
    after = None
    credits = 0
    while (page := query.next_chunk(after=after, limit=chunk)) is not None:
        assert 0 < page.credits <= chunk and page.after == after
        grouped = query.grouped(page, as_of=as_of, top=top)
        assert grouped.credits == page.credits
        analysis.add_groups(grouped.groups, grouped.debtors)
        credits += page.credits
        after = page.last
    assert credits == query.count()
    return analysis


def _assert_same(expected: PortfolioReport, got: PortfolioReport) -> None:
    assert got.kpis == expected.kpis
    assert got.top_debtors == expected.top_debtors
    assert got.csv_rows() == expected.csv_rows()
    assert got == expected


def test_the_book_has_every_case(book: date) -> None:
    assert {"active", "defaulted", "paid", "written_off", "refinanced", "cancelled", "pending"} <= _states()
    report = _reference(CreditFiguresOfCurrency(build_ports().policies.delinquency), book, top=10, at_risk=30).report()
    assert {k.currency.code for k in report.kpis} == {"CLP", "COP", "USD"}
    assert all(k.in_default for k in report.kpis if k.currency.code == "COP")
    assert all(k.at_risk.is_positive and k.open_credits < k.credits for k in report.kpis)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize(("top", "at_risk"), [(10, 30), (3, 0), (1, 60), (0, 30)])
def test_grouped_in_sql_equals_the_domain_fold(book: date, chunk: int, top: int, at_risk: int) -> None:
    policy = build_ports().policies.delinquency
    for as_of in (book, book + timedelta(days=45)):
        for currency in (None, "USD", "CLP"):
            query = CreditFiguresOfCurrency(policy, currency)
            expected = _reference(query, as_of, top=top, at_risk=at_risk)
            got = _grouped(query, as_of, chunk=chunk, top=top, at_risk=at_risk)
            _assert_same(expected.report(), got.report())
            assert got.rows_seen == expected.rows_seen


class _Recording(CreditFiguresOfCurrency):
    threads: set[str] = set()

    def grouped(self, chunk: BookChunk, *, as_of: date, top: int) -> GroupedChunk:
        self.threads.add(threading.current_thread().name)
        return super().grouped(chunk, as_of=as_of, top=top)


def _job_result(book: date, *, workers: int) -> set[str]:
    """Run the job in-process; check its stored result against the domain's fold; the threads used."""
    policy = build_ports().policies.delinquency
    store = JobStore()
    job_id = store.create("portfolio_analysis", {"as_of": book.isoformat(), "currency": None})
    _Recording.threads = set()
    job = PortfolioAnalysisJob(store, lambda code: _Recording(policy, code), chunk_size=4, top=3, workers=workers)
    assert job.run(job_id) == "succeeded"
    view = store.get(job_id)
    assert view is not None and view.state == "succeeded"
    reference = _reference(CreditFiguresOfCurrency(policy), book, top=3, at_risk=30)
    expected = report_json(
        reference.report(), as_of=book, currency=None, at_risk_after_days=30, credits=reference.rows_seen
    )
    assert view.result == expected
    total = CreditFiguresOfCurrency(policy).count()
    assert (view.progress.done, view.progress.total) == (total, total)
    assert store.csv(job_id) == ("succeeded", report_csv(reference.report()))
    return _Recording.threads


def test_the_job_stores_the_reference_report(book: date) -> None:
    assert _job_result(book, workers=1) == {threading.current_thread().name}


@pytest.mark.django_db(transaction=True)
def test_the_job_with_parallel_sessions_stores_the_reference_report(book: date) -> None:
    # Committed rows (transaction=True): the pool threads read them through their own sessions.
    threads = _job_result(book, workers=3)
    assert len(threads) > 1 and all(name.startswith("analysis") for name in threads)
