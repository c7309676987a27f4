"""A holiday counts from the moment it is added (issue 11 §6: the calendar was cached for 60 s per
process, so a daily credit opened right after a holiday was added still fell due on it)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from config.bootstrap import build_ports
from tests.e2e.test_book_commands import _open, book  # noqa: F401  (book is a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def _daily(book: dict, first: date) -> list[str]:  # noqa: F811
    credit = _open(book, periodicity="daily", installments=10, first_due_date=first.isoformat())
    dates = [i["due_date"] for i in credit["installments"]]
    assert len(dates) == 10
    return dates


def test_a_daily_credit_opened_right_after_a_holiday_is_added_skips_it(book: dict) -> None:  # noqa: F811
    first = build_ports().clock.today() + timedelta(days=10)
    before = _daily(book, first)  # the calendar is read (and was cached) here
    holiday = before[4]
    added = book["admin"].post("/api/v1/holidays", {"date": holiday, "name": "Fiesta nueva"}, key=None)
    assert added.status_code == 201, added.content

    after = _daily(book, first)
    assert holiday not in after
    # The installment moves to the next open day: the dates before the holiday stay as they were.
    assert after[:4] == before[:4] and after[4] > holiday
