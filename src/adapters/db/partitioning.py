"""Monthly range partitions for the big append-only tables (transactions, postings, payment lines).

psqlextra's time strategy starts a partition at the hour the command runs (psqlextra issue #269):
run at 05:00 on the 1st and the month would begin at 05:00. Our strategy starts at midnight UTC.
`python manage.py pgpartition --yes` creates the current month and 12 ahead; a DEFAULT partition
(created by the migration) catches anything outside, so an insert is never refused for lack of a
partition, and the nightly upkeep keeps the default empty by creating months ahead of time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.apps import apps
from django.db import connection
from psqlextra.partitioning import (
    PostgresCurrentTimePartitioningStrategy,
    PostgresPartitioningConfig,
    PostgresPartitioningManager,
    PostgresTimePartitionSize,
)

MONTHS_AHEAD = 12
# Models partitioned by month on their business date, as "app_label.ModelName".
PARTITIONED_MODELS: list[str] = ["ledger.LedgerTransaction", "ledger.Posting", "payments.PaymentLine"]


class MidnightUTCMonthlyStrategy(PostgresCurrentTimePartitioningStrategy):
    def __init__(self, count: int) -> None:
        super().__init__(size=PostgresTimePartitionSize(months=1), count=count, max_age=None)

    def get_start_datetime(self) -> datetime:
        now = datetime.now(UTC)
        return datetime(now.year, now.month, 1, tzinfo=UTC)


def _manager(count: int = MONTHS_AHEAD + 1) -> PostgresPartitioningManager:
    configs = [
        PostgresPartitioningConfig(model=apps.get_model(label), strategy=MidnightUTCMonthlyStrategy(count))
        for label in PARTITIONED_MODELS
    ]
    return PostgresPartitioningManager(configs)


class _LazyManager:
    """psqlextra imports the manager from settings before apps are ready; build it on first use."""

    def __getattr__(self, name: str) -> object:
        return getattr(_manager(), name)


manager = _LazyManager()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def ensure_month_partitions(start: date, end: date) -> list[str]:
    """Create the monthly partitions covering [start, end] for every partitioned model (idempotent).

    Used for history (the data generator loads three years back) where the current-time strategy
    does not reach. Names follow psqlextra's `<table>_<yyyy>_<mon>` so the upkeep recognises them.
    """
    created: list[str] = []
    with connection.cursor() as cursor:
        for label in PARTITIONED_MODELS:
            table = apps.get_model(label)._meta.db_table
            month = month_start(start)
            while month <= end:
                name = f"{table}_{month.strftime('%Y_%b').lower()}"
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
                if not cursor.fetchone()[0]:
                    cursor.execute(
                        f'CREATE TABLE "{name}" PARTITION OF "{table}" '
                        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
                    )
                    created.append(name)
                month = next_month(month)
    return created
