from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest

from domain.application.ports import Policies
from domain.ledger import entries
from domain.ledger.book import verify_book
from domain.ledger.model import Source, TransactionStatus
from domain.shared.calendar import FixedHolidays, NoHolidays
from domain.shared.clock import SystemClock
from domain.shared.errors import InvalidInput
from domain.shared.ids import Uuid7Generator, uuid7

from .builders import usd


def test_system_clock_is_aware_utc_and_today_follows_the_business_zone() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    ahead = SystemClock(timezone(timedelta(hours=14))).today()
    behind = SystemClock(timezone(timedelta(hours=-12))).today()
    assert (ahead - behind).days in (1, 2)


def test_uuid7_layout() -> None:
    value = uuid7(0x0123456789AB, bytes(range(10)))
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"
    assert value.int >> 80 == 0x0123456789AB
    with pytest.raises(ValueError, match="10 random bytes"):
        uuid7(1, b"short")


def test_uuid7_generator_is_time_ordered_and_unique() -> None:
    gen = Uuid7Generator()
    first = gen.new_id()
    time.sleep(0.002)
    second = gen.new_id()
    assert first < second and first.version == 7
    assert len({gen.new_id() for _ in range(200)}) == 200
    assert abs((first.int >> 80) - time.time_ns() // 1_000_000) < 5_000


def test_calendars() -> None:
    assert not NoHolidays().is_holiday(date(2024, 12, 25))
    holidays = FixedHolidays([date(2024, 12, 25)])
    assert holidays.is_holiday(date(2024, 12, 25)) and not holidays.is_holiday(date(2024, 12, 24))


def test_policies_validation() -> None:
    assert Policies().job_chunk == 500
    with pytest.raises(InvalidInput):
        Policies(job_chunk=0)


def test_pending_and_failed_transactions_do_not_count_in_the_book_totals() -> None:
    meta = entries.Meta(
        id=UUID(int=1),
        source=Source.WEB,
        occurred_on=date(2024, 1, 1),
        recorded_at=datetime(2024, 1, 1, tzinfo=UTC),
        credit_id=UUID(int=2),
        status=TransactionStatus.PENDING,
    )
    check = verify_book([entries.late_fee(meta, amount=usd("5"))])
    assert check.ok and check.transactions == 1 and dict(check.debits) == {}
