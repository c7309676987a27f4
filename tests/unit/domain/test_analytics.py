from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.analytics.model import (
    CreditFigures,
    DueInstallment,
    JobProgress,
    PortfolioAnalysis,
    due_on,
    overdue,
    portfolio_kpis,
    summarize_user,
)
from domain.shared.aging import AgingBucket, bucket_for
from domain.shared.errors import InvalidInput
from domain.shared.money import COP, USD, Money

from .builders import usd


def row(
    n: int,
    *,
    user: int = 7,
    state: str = "active",
    total: str = "100",
    paid: str = "0",
    pending: str = "100",
    overdue_: str = "0",
    next_due: date | None = date(2024, 3, 1),
    dpd: int = 0,
    default: bool = False,
    currency: object = USD,
) -> CreditFigures:
    def m(v: str) -> Money:
        return Money.of(v, currency)  # type: ignore[arg-type]

    return CreditFigures(
        credit_id=UUID(int=n),
        user_id=user,
        agent_id=3,
        state=state,
        total=m(total),
        paid=m(paid),
        pending=m(pending),
        overdue=m(overdue_),
        next_due_date=next_due,
        next_due_amount=m("25") if next_due else None,
        days_past_due=dpd,
        is_in_default=default,
    )


def test_aging_buckets() -> None:
    assert [bucket_for(d) for d in (-1, 0, 1, 30, 31, 60, 61, 90, 91)] == [
        AgingBucket.CURRENT,
        AgingBucket.CURRENT,
        AgingBucket.D1_30,
        AgingBucket.D1_30,
        AgingBucket.D31_60,
        AgingBucket.D31_60,
        AgingBucket.D61_90,
        AgingBucket.D61_90,
        AgingBucket.D90_PLUS,
    ]


class TestUserSummary:
    def test_per_currency_never_summed_across(self) -> None:
        rows = [
            row(1, pending="60", overdue_="10", next_due=date(2024, 3, 5)),
            row(2, pending="40", next_due=date(2024, 3, 2), dpd=95, default=True),
            row(3, state="paid", paid="100", pending="0", next_due=None),
            row(4, total="5000", pending="5000", currency=COP),
        ]
        summary = summarize_user(7, rows)
        assert (summary.credits, summary.open_credits, summary.in_default) == (4, 3, 1)
        cop, usd_ = summary.by_currency
        assert cop.currency is COP and cop.pending == Money.of(5000, COP)
        assert (usd_.credits, usd_.total, usd_.pending, usd_.overdue) == (
            3,
            usd("300"),
            usd("100"),
            usd("10"),
        )
        assert usd_.next_due_date == date(2024, 3, 2) and usd_.next_due_amount == usd("25")

    def test_no_credits(self) -> None:
        summary = summarize_user(7, [])
        assert (summary.credits, summary.by_currency) == (0, ())

    def test_closed_credits_have_no_next_due(self) -> None:
        (only,) = summarize_user(7, [row(1, state="paid", pending="0", next_due=None)]).by_currency
        assert only.next_due_date is None and only.next_due_amount is None


class TestPortfolio:
    def test_kpis_and_aging(self) -> None:
        rows = [
            row(1, pending="100", paid="50"),
            row(2, pending="200", dpd=10),
            row(3, pending="300", dpd=45),
            row(4, pending="400", dpd=120, default=True),
            row(5, state="written_off", pending="0", paid="7"),
        ]
        (k,) = portfolio_kpis(rows)
        assert (k.credits, k.open_credits, k.in_default) == (5, 4, 1)
        assert k.outstanding == usd("1000") and k.collected == usd("57")
        assert k.at_risk == usd("700") and k.at_risk_ratio == Decimal("0.7000")
        assert k.aging == {
            AgingBucket.CURRENT: usd("100"),
            AgingBucket.D1_30: usd("200"),
            AgingBucket.D31_60: usd("300"),
            AgingBucket.D61_90: usd("0"),
            AgingBucket.D90_PLUS: usd("400"),
        }
        assert k.aging_counts[AgingBucket.D61_90] == 0 and k.aging_counts[AgingBucket.CURRENT] == 1

    def test_ratio_of_an_empty_book_is_zero(self) -> None:
        (k,) = portfolio_kpis([row(1, state="paid", pending="0")])
        assert k.at_risk_ratio == 0

    def test_chunked_analysis_equals_one_pass_and_keeps_top_debtors(self) -> None:
        rows = [row(n, user=n, pending=str(n * 10), dpd=n) for n in range(1, 21)]
        analysis = PortfolioAnalysis(at_risk_after_days=15, top=3)
        assert analysis.add(rows[:7]) == 7
        analysis.add(rows[7:])
        assert analysis.rows_seen == 20
        report = analysis.report()
        assert report.kpis == portfolio_kpis(rows, at_risk_after_days=15)
        assert [d.user_id for d in report.top_debtors["USD"]] == [20, 19, 18]
        csv = report.csv_rows()
        assert csv[0] == ["section", "currency", "key", "value", "credit_id", "days_past_due"]
        assert ["kpi", "USD", "outstanding", "2100.00", "", ""] in csv
        assert ["kpi", "USD", "at_risk_ratio", "0.4286", "", ""] in csv  # (16..20) * 10 = 900 / 2100
        assert ["aging", "USD", "1-30", "2100.00", "", ""] in csv
        top = report.top_debtors["USD"][0]
        assert ["top_debtor", "USD", "20", "200.00", str(top.credit_id), "20"] in csv

    def test_each_top_debtor_row_names_its_credit(self) -> None:
        """One client holding the top credits appears once per credit, each row with that credit's id."""
        rows = [row(n, user=7, pending=str(n * 10), dpd=n) for n in range(1, 6)]
        analysis = PortfolioAnalysis(top=5)
        analysis.add(rows)
        debtors = [r for r in analysis.report().csv_rows() if r[0] == "top_debtor"]
        assert [r[2] for r in debtors] == ["7"] * 5
        assert [r[4] for r in debtors] == [str(r.credit_id) for r in reversed(rows)]
        assert len({r[4] for r in debtors}) == 5

    def test_bad_settings(self) -> None:
        with pytest.raises(InvalidInput):
            PortfolioAnalysis(top=-1)

    def test_progress(self) -> None:
        assert JobProgress(done=1, total=3).fraction == Decimal("0.3333")
        assert JobProgress(done=5, total=3).fraction == 1
        assert JobProgress(done=0, total=0).fraction == 1


def test_collection_lists() -> None:
    def item(n: int, day: date) -> DueInstallment:
        return DueInstallment(UUID(int=n), UUID(int=100 + n), 7, 3, 1, day, usd("10"))

    today = date(2024, 3, 10)
    rows = [item(1, date(2024, 3, 11)), item(2, today), item(3, date(2024, 3, 1)), item(4, date(2024, 2, 1))]
    assert [r.installment_id.int for r in due_on(rows, today)] == [2]
    assert [r.installment_id.int for r in due_on(rows, date(2024, 3, 11))] == [1]
    assert [r.installment_id.int for r in overdue(rows, today)] == [4, 3]
