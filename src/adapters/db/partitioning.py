"""Monthly range partitions for the big append-only tables (transactions, postings, payment lines).

Which months exist, and why:
- The oldest date the app accepts is the oldest credit's opening day. Every partitioned row is dated on
  or after its credit's opening (a payment cannot predate it; fees, reversals and adjustments take the
  business date) and a credit opens on the business date. On a new database that is today. So the
  migrations, and every upkeep after them, create the months from the oldest credit's opening (or
  this month) to 12 months ahead. Rows older than that come only from imports of history (the data
  generator creates its own months) or `nightly --as-of` an old date.
- A DEFAULT partition (created by the migration) catches anything outside, so an insert is never
  refused for lack of a partition. Rows there are a fault: PostgreSQL then refuses to create their
  month (`updated partition constraint for default partition ... would be violated`). The upkeep moves
  them out (`move_out_of_default`), and /health reports `degraded` with their count until it has.

psqlextra's time strategy starts a partition at the hour the command runs (psqlextra issue #269):
run at 05:00 on the 1st and the month would begin at 05:00. Our strategy starts at midnight UTC.
`python manage.py pgpartition --yes` and the upkeep job apply the same plan: rows moved out of the
DEFAULT partition, the months back to the oldest credit, and 12 months ahead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.conf import settings
from django.db import connections, migrations, transaction
from psqlextra.partitioning import (
    PostgresCurrentTimePartitioningStrategy,
    PostgresPartition,
    PostgresPartitioningConfig,
    PostgresPartitioningManager,
    PostgresPartitioningPlan,
    PostgresRangePartition,
    PostgresTimePartition,
    PostgresTimePartitionSize,
)
from psqlextra.partitioning.plan import PostgresModelPartitioningPlan

MONTHS_AHEAD = 12
# Models partitioned by month on their business date, as "app_label.ModelName".
PARTITIONED_MODELS: list[str] = ["ledger.LedgerTransaction", "ledger.Posting", "payments.PaymentLine"]
# Moving rows out of a DEFAULT partition locks its table; give up rather than queue the traffic behind.
MOVE_LOCK_TIMEOUT = "10s"
# /health counts the rows of a DEFAULT partition up to this many (the count is a symptom, not a report).
DEFAULT_ROWS_COUNTED = 10_000


class MidnightUTCMonthlyStrategy(PostgresCurrentTimePartitioningStrategy):
    def __init__(self, count: int) -> None:
        super().__init__(size=PostgresTimePartitionSize(months=1), count=count, max_age=None)

    def get_start_datetime(self) -> datetime:
        now = datetime.now(UTC)
        return datetime(now.year, now.month, 1, tzinfo=UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(start: date, end: date) -> list[date]:
    """The first days of the months from start's to end's, both included."""
    months, month = [], month_start(start)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def partition_name(table: str, month: date) -> str:
    """psqlextra's `<table>_<yyyy>_<mon>`, so its planner recognises the months we create."""
    return f"{table}_{month.strftime('%Y_%b').lower()}"


def default_partition(table: str) -> str:
    return f"{table}_default"  # psqlextra's PostgresAddDefaultPartition(name="default")


def partitioned_tables() -> list[str]:
    return [apps.get_model(label)._meta.db_table for label in PARTITIONED_MODELS]


def _todays() -> tuple[date, date]:
    """Today in UTC (psqlextra's months) and in the business time zone (the dates rows carry)."""
    now = datetime.now(UTC)
    return now.date(), now.astimezone(ZoneInfo(settings.BUSINESS_TIME_ZONE)).date()


def oldest_accepted_day(using: str = "default") -> date:
    """The oldest date a partitioned row can carry: the oldest credit's opening, else today."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT min(opened_on) FROM credits_credit")
        oldest = cursor.fetchone()[0]
    return min(filter(None, (oldest, *_todays())))


def partition_window(using: str = "default") -> tuple[date, date]:
    """The first and last months that must exist: the oldest accepted day's, and 12 after today's."""
    return month_start(oldest_accepted_day(using)), add_months(month_start(max(_todays())), MONTHS_AHEAD)


def ensure_month_partitions(
    start: date, end: date, tables: Sequence[str] | None = None, using: str = "default"
) -> list[str]:
    """Create the monthly partitions covering [start, end] for every partitioned table (idempotent).

    Fails for a month whose rows sit in the DEFAULT partition: `move_out_of_default` first.
    """
    created: list[str] = []
    with connections[using].cursor() as cursor:
        for table in tables or partitioned_tables():
            for month in months_between(start, end):
                name = partition_name(table, month)
                cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
                if not cursor.fetchone()[0]:
                    cursor.execute(
                        f'CREATE TABLE "{name}" PARTITION OF "{table}" '
                        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
                    )
                    created.append(name)
    return created


def _partition_key(cursor: Any, table: str) -> str:
    cursor.execute(
        "SELECT a.attname FROM pg_partitioned_table p "
        "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
        "WHERE p.partrelid = %s::regclass",
        [table],
    )
    return cursor.fetchone()[0]


def months_in_default(table: str, using: str = "default") -> list[date]:
    with connections[using].cursor() as cursor:
        key = _partition_key(cursor, table)
        cursor.execute(
            f'SELECT DISTINCT date_trunc(\'month\', "{key}")::date FROM "{default_partition(table)}" ORDER BY 1'
        )
        return [row[0] for row in cursor.fetchall()]


def move_out_of_default(table: str, using: str = "default") -> int:
    """Move the rows of `table`'s DEFAULT partition into their month partitions; the number moved.

    PostgreSQL refuses to create a partition while the DEFAULT one holds rows of its range, and a
    DETACH/ATTACH of the default would leave its rows unreachable in between. So, month by month and
    each month in one transaction, with the table locked against writers and readers: the month's
    rows are deleted from the default into a temporary table, the month partition is created (the
    default's check sees the rows gone: same transaction), and the rows go back in through the parent,
    which routes them to the new partition. A reader sees the rows before or after, never neither.
    """
    moved = 0
    connection = connections[using]
    for month in months_in_default(table, using):
        with transaction.atomic(using=using), connection.cursor() as cursor:
            key = _partition_key(cursor, table)
            cursor.execute(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table],
            )
            columns = cursor.fetchone()[0]
            # For this step only: SET LOCAL in a savepoint would outlive it (a migration's transaction).
            cursor.execute(
                "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [MOVE_LOCK_TIMEOUT]
            )
            lock_timeout = cursor.fetchone()[0]
            cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            cursor.execute(f'CREATE TEMPORARY TABLE moving_rows (LIKE "{table}")')
            cursor.execute(
                f'WITH gone AS (DELETE FROM "{default_partition(table)}" '
                f'WHERE "{key}" >= %s AND "{key}" < %s RETURNING {columns}) '
                f"INSERT INTO moving_rows ({columns}) SELECT {columns} FROM gone",
                [month, next_month(month)],
            )
            count = cursor.rowcount
            ensure_month_partitions(month, month, [table], using)
            cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM moving_rows')
            cursor.execute("DROP TABLE moving_rows")
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
        moved += count
    return moved


def upkeep(tables: Sequence[str], using: str = "default") -> dict[str, Any]:
    """Rows out of the DEFAULT partitions, then every month of the window: what the migrations run
    (the upkeep job and `pgpartition` apply the same through `manager`'s plan)."""
    moved = {table: n for table in tables if (n := move_out_of_default(table, using))}
    first, last = partition_window(using)
    created = ensure_month_partitions(first, last, tables, using)
    return {"moved_from_default": moved, "created": created}


def month_partitions_migration(tables: Sequence[str]) -> migrations.RunPython:
    """The migration step that creates a deployment's months (not only `pgpartition`): rows already in
    the DEFAULT partitions (a deployment that never ran the upkeep) are moved into their months, then
    the months from the oldest credit's opening to 12 ahead are created. Kept on the way back (they may
    hold rows; reversing the app's 0001 drops the tables anyway)."""

    def create(apps: object, schema_editor: Any) -> None:
        upkeep(tables, schema_editor.connection.alias)

    return migrations.RunPython(create, migrations.RunPython.noop)


def build_partitioned_index(schema_editor: Any, model: Any, index: Any) -> None:
    """Build a Django `index` of a partitioned `model` without blocking its writes: a plain CREATE
    INDEX on a partitioned table holds off every INSERT for the whole build (minutes, on a ledger of
    millions). Instead the parent's index is made ON ONLY (empty, invalid), each partition's is built
    CONCURRENTLY and attached, and the parent's turns valid with the last. Run it outside a
    transaction (a migration with `atomic = False`). Rerunnable: a partition's index that a failed
    run left invalid is dropped and built again; one already attached is kept."""
    table = model._meta.db_table
    create = str(index.create_sql(model, schema_editor))  # Django's own SQL for the index
    quoted = schema_editor.quote_name
    head = f"CREATE INDEX {quoted(index.name)} ON {quoted(table)} "
    if not create.startswith(head):
        raise ValueError(f"unexpected index SQL: {create}")
    definition = create[len(head) :]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {quoted(index.name)} ON ONLY {quoted(table)} {definition}")
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [table],
        )
        for (partition,) in cursor.fetchall():
            child = f"{partition}_{index.name}"[:63]
            cursor.execute(
                "SELECT x.indisvalid, EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = x.indexrelid) "
                "FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
                [child],
            )
            found = cursor.fetchone()
            if found is not None and found[1]:
                continue  # built and attached by an earlier run
            if found is not None and not found[0]:
                cursor.execute(f"DROP INDEX CONCURRENTLY {quoted(child)}")
                found = None
            if found is None:
                cursor.execute(f"CREATE INDEX CONCURRENTLY {quoted(child)} ON {quoted(partition)} {definition}")
            cursor.execute(f"ALTER INDEX {quoted(index.name)} ATTACH PARTITION {quoted(child)}")


def rows_in_default_partitions(using: str = "default") -> dict[str, int]:
    """Rows found in each DEFAULT partition (counted up to DEFAULT_ROWS_COUNTED + 1); one statement."""
    limit = DEFAULT_ROWS_COUNTED + 1
    counts = " UNION ALL ".join(
        f"SELECT '{table}', (SELECT count(*) FROM (SELECT FROM \"{default_partition(table)}\" LIMIT {limit}) r)"
        for table in partitioned_tables()
    )
    with connections[using].cursor() as cursor:
        cursor.execute(counts)
        return {table: count for table, count in cursor.fetchall() if count}


def _missing(using: str, names: Iterable[str]) -> set[str]:
    """Which of these tables do not exist."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT n FROM unnest(%s::text[]) n WHERE to_regclass(n) IS NULL", [list(names)])
        return {row[0] for row in cursor.fetchall()}


class UpkeepPlan(PostgresPartitioningPlan):
    """psqlextra's plan (the months ahead) plus the months of the window and of the rows in the
    DEFAULT partitions; applying it first moves those rows out, so it cannot fail on them."""

    moved_from_default: dict[str, int]

    def apply(self, using: str | None = None) -> None:
        self.moved_from_default = {}
        for model_plan in self.model_plans:
            table = model_plan.config.model._meta.db_table
            if moved := move_out_of_default(table, using or "default"):
                self.moved_from_default[table] = moved
            missing = _missing(using or "default", (f"{table}_{p.name()}" for p in model_plan.creations))
            model_plan.creations = [p for p in model_plan.creations if f"{table}_{p.name()}" in missing]
        super().apply(using)


class UpkeepManager(PostgresPartitioningManager):
    def plan(
        self,
        skip_create: bool = False,
        skip_delete: bool = False,
        model_names: list[str] | None = None,
        using: str | None = None,
    ) -> UpkeepPlan:
        plan = super().plan(skip_create=skip_create, skip_delete=skip_delete, model_names=model_names, using=using)
        if skip_create:
            return UpkeepPlan(plan.model_plans)
        alias = using or "default"
        first, _ = partition_window(alias)
        history = months_between(first, month_start(datetime.now(UTC).date()))
        by_model = {model_plan.config.model: model_plan for model_plan in plan.model_plans}
        model_plans = []
        for config in self.configs:
            if model_names and config.model.__name__.lower() not in {n.lower() for n in model_names}:
                continue
            table = config.model._meta.db_table
            model_plan = by_model.get(config.model) or PostgresModelPartitioningPlan(config)
            planned = {p.name() for p in model_plan.creations}
            months = sorted(set(history) | set(months_in_default(table, alias)))
            absent = _missing(alias, (partition_name(table, month) for month in months))
            missing = [month for month in months if partition_name(table, month) in absent]
            for month in missing:
                start = datetime(month.year, month.month, 1, tzinfo=UTC)
                partition = PostgresTimePartition(size=PostgresTimePartitionSize(months=1), start_datetime=start)
                if partition.name() not in planned:
                    model_plan.creations.append(partition)
            model_plan.creations.sort(key=_range_start)
            if model_plan.creations or model_plan.deletions:
                model_plans.append(model_plan)
        return UpkeepPlan(model_plans)


def _range_start(partition: PostgresPartition) -> str:
    """A planned partition's first value, "YYYY-MM-DD HH:00:00" (every partition planned here is a time range)."""
    assert isinstance(partition, PostgresRangePartition)
    return str(partition.from_values)


def _manager(count: int = MONTHS_AHEAD + 1) -> UpkeepManager:
    configs = [
        PostgresPartitioningConfig(model=apps.get_model(label), strategy=MidnightUTCMonthlyStrategy(count))
        for label in PARTITIONED_MODELS
    ]
    return UpkeepManager(configs)


class _LazyManager:
    """psqlextra imports the manager from settings before apps are ready; build it on first use."""

    def __getattr__(self, name: str) -> Any:  # UpkeepManager's attributes
        return getattr(_manager(), name)


manager = _LazyManager()
