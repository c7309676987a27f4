"""The load: catalogs, users, partitions, the credit batches on worker processes, then indexes.

1. With --truncate the book (credits, payments, ledger, idempotency replays) is emptied; without
   it the book must be empty. Secondary indexes and foreign keys of the loaded tables are dropped
   (see `ddl`), then the generated users (and rows outside the book pointing at them) deleted.
2. Catalogs (categories, subcategories, payment accounts, fixed-date holidays, and the currencies
   and periodicities if a flushed database lost them) through the ORM: they are tiny.
3. Monthly partitions from the oldest credit to today, so no history lands in a DEFAULT partition.
4. Users with COPY, then the credit batches: each worker process generates a batch
   (`book.Batch`) and writes it with one COPY per table in one transaction, so the database is
   consistent at every batch boundary. Progress bars per table show rows, rate and ETA.
   With one worker the COPY goes through Django's own connection (inside the caller's
   transaction, if any: the tests roll the whole load back).
5. Indexes rebuilt, ANALYZE (or VACUUM ANALYZE with --vacuum, which also fills the visibility
   map), foreign keys re-added and so validated, sequences moved past the ids used.
"""

from __future__ import annotations

import multiprocessing
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from io import TextIOBase
from typing import TextIO
from zoneinfo import ZoneInfo

import psycopg
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, connections
from django.db.backends.utils import CursorWrapper
from tqdm import tqdm

from adapters.db.partitioning import ensure_month_partitions
from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Periodicity, Subcategory
from domain.credits.delinquency import DelinquencyPolicy
from domain.payments.late_fees import LateFeePolicy
from tools.bookgen import ddl as ddl_module
from tools.bookgen import plan as shapes
from tools.bookgen.book import COLUMNS, TABLES, Batch, Catalog, Context
from tools.bookgen.plan import Plan

BOOK_TABLES = (
    "payments_allocation",
    "payments_fee_waiver",
    "payments_line",
    "payments_payment",
    "ledger_posting",
    "ledger_transaction",
    "credits_event",
    "credits_installment",
    "credits_credit",
)
USER_COLUMNS = (
    "id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
    "date_joined, public_id, role, phone, document_id"
)
# Sequences (or identity columns) whose next value must come after the ids the load wrote.
SEQUENCES = [
    ("identity_user", "id"),
    ("ledger_posting", "id"),
    ("payments_line", "id"),
    ("payments_allocation", "id"),
]
_FIRST_NAMES = [
    "Camila", "Diego", "Elena", "Felipe", "Valentina", "Santiago", "Daniela", "Andrés", "Laura", "Juan",
    "Mariana", "Carlos", "Sofía", "Luis", "Isabella", "Jorge", "Paula", "Miguel", "Natalia", "Sebastián",
]  # fmt: skip
_LAST_NAMES = [
    "Gómez", "Rodríguez", "Martínez", "López", "García", "Pérez", "Hernández", "Ramírez", "Torres", "Díaz",
    "Moreno", "Vargas", "Rojas", "Castro", "Ortiz", "Jiménez", "Suárez", "Muñoz", "Romero", "Cárdenas",
]  # fmt: skip
_HOLIDAYS = [(1, 1, "Año Nuevo"), (5, 1, "Día del Trabajo"), (7, 20, "Independencia"), (8, 7, "Batalla de Boyacá"),
             (12, 8, "Inmaculada Concepción"), (12, 25, "Navidad")]  # fmt: skip


class SeedError(Exception):
    """The load cannot start (a non-empty book without --truncate, production, bad options)."""


@dataclass
class LoadReport:
    plan: Plan
    rows: dict[str, int] = field(default_factory=dict)
    copy_seconds: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    ddl_seconds: list[tuple[str, str, float]] = field(default_factory=list)
    generate_seconds: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.phases.values())


# --- connections -----------------------------------------------------------------------------------


def connection_kwargs() -> dict[str, object]:
    """Plain psycopg connection arguments for the database Django uses (the test database in tests)."""
    s = connection.settings_dict
    kwargs: dict[str, object] = {"dbname": s["NAME"], "autocommit": False}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if s.get(key):
            kwargs[name] = s[key]
    return kwargs


def _open(kwargs: dict[str, object]) -> psycopg.Connection:
    conn = psycopg.connect(**kwargs)  # type: ignore[arg-type]
    with conn.cursor() as cursor:
        # A lost commit on a crash costs a rerun of the generator, never correctness.
        cursor.execute("SET synchronous_commit = off")
    conn.commit()
    return conn


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: list[str]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        step = 20_000
        for start in range(0, len(rows), step):
            copy.write("".join(rows[start : start + step]))


# --- worker processes ------------------------------------------------------------------------------

_worker: dict[str, object] = {}


def _init_worker(ctx: Context, kwargs: dict[str, object] | None) -> None:
    """A worker's state; `kwargs` None: write through Django's own connection (in this process, and
    inside the caller's transaction if there is one: a test's, for instance)."""
    _worker["ctx"] = ctx
    if kwargs is None:
        connection.ensure_connection()
        _worker["conn"] = connection.connection
    else:
        _worker["conn"] = _open(kwargs)


def _run_batch(batch: int) -> tuple[int, dict[str, int], dict[str, float], float]:
    ctx: Context = _worker["ctx"]  # type: ignore[assignment]
    conn: psycopg.Connection = _worker["conn"]  # type: ignore[assignment]
    started = time.perf_counter()
    rows = Batch(ctx, batch).generate()
    generated = time.perf_counter() - started
    seconds: dict[str, float] = {}
    with conn.transaction():
        for table in TABLES:
            t0 = time.perf_counter()
            _copy(conn, table, COLUMNS[table], rows[table])
            seconds[table] = time.perf_counter() - t0
    return batch, {t: len(rows[t]) for t in TABLES}, seconds, generated


# --- the load --------------------------------------------------------------------------------------


class Loader:
    def __init__(
        self,
        *,
        level: int,
        scale: float,
        seed: int,
        truncate: bool,
        workers: int,
        progress: bool | None,
        vacuum: bool = False,
        out: TextIO | TextIOBase | None = None,  # TextIOBase: a management command's stdout
        today: date | None = None,
    ) -> None:
        self.level, self.scale, self.seed = level, scale, seed
        self.truncate, self.workers, self.vacuum = truncate, max(1, workers), vacuum
        self.progress = progress
        self.out = out or sys.stdout
        real_today = datetime.now(ZoneInfo(settings.BUSINESS_TIME_ZONE)).date()
        self.today = today or real_today
        if self.today > real_today:
            raise SeedError("--as-of cannot be in the future: payments are never dated after today.")

    def say(self, message: str) -> None:
        self.out.write(message + "\n")
        self.out.flush()

    def run(self) -> LoadReport:
        if settings.PRODUCTION:
            raise SeedError("Generated data is never loaded in production.")
        timer = _Phases()
        with timer("prepare"):
            users = self._empty_book()
            definitions = ddl_module.definitions()
            ddl_module.drop(definitions)
            if users:
                # After the foreign keys are gone: each deleted user would otherwise be looked up in
                # every referencing table, every partition of the partitioned ones.
                with connection.cursor() as cursor:
                    _delete_generated_users(cursor)
            catalog = self._catalogs()
            base = self._max_user_id()
            plan = Plan.build(self.level, self.scale, self.seed, self.today, user_id_base=base)
            ensure_month_partitions(plan.history_start, plan.today)
        report = LoadReport(plan=plan, phases=timer.phases)
        self.say(
            f"Level {plan.level} x {plan.scale:g} (seed {plan.seed}, as of {plan.today}): {plan.users:,} users "
            f"({plan.agents:,} agents), {plan.credits:,} credits in {plan.batches:,} batches on "
            f"{self.workers} worker(s); targets {plan.target_transactions:,} transactions, "
            f"{plan.target_payment_lines:,} payment lines."
        )

        def report_ddl(ddl: ddl_module.Ddl, seconds: float) -> None:
            report.ddl_seconds.append((ddl.kind, f"{ddl.table}.{ddl.name}", seconds))

        indexes = [d for d in definitions if d.kind == "index"]
        try:
            with timer("users"):
                self._users(plan, report)
            with timer("book"):
                self._book(plan, catalog, report)
            with timer("indexes"):
                ddl_module.restore(indexes, report_ddl)
            # Statistics before the foreign keys: their validation queries are planned with them.
            with timer("vacuum analyze" if self.vacuum else "analyze"):
                self._analyze()
        finally:
            with timer("foreign keys"):
                ddl_module.restore(definitions, report_ddl)
        with timer("sequences"):
            self._sequences()
        report.sizes = table_sizes()
        return report

    # --- steps -------------------------------------------------------------------------------------

    def _empty_book(self) -> bool:
        """Empty the book (with --truncate, else refuse a non-empty one); True if generated users remain."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {' UNION ALL SELECT 1 FROM '.join(BOOK_TABLES)})")
            book = cursor.fetchone()[0]
            cursor.execute("SELECT EXISTS (SELECT 1 FROM identity_user WHERE username LIKE %s)", [_seed_like()])
            users = cursor.fetchone()[0]
            if not self.truncate:
                if book:
                    raise SeedError("The book is not empty: pass --truncate to replace it with generated data.")
                if users:
                    raise SeedError("Generated users are already there: pass --truncate to replace them.")
                return False
            if book:
                cursor.execute(f"TRUNCATE {', '.join(BOOK_TABLES)}")
                cursor.execute("TRUNCATE idempotency_record")  # replays of payments that are gone
            return bool(users)

    def _catalogs(self) -> Catalog:
        for code, name in (("COP", "Colombian peso"), ("USD", "US dollar")):
            Currency.objects.get_or_create(code=code, defaults={"name": name, "minor_units": 2})
        for position, (code, skip) in enumerate(
            (("daily", True), ("weekly", False), ("biweekly", False), ("monthly", False)), start=1
        ):
            Periodicity.objects.get_or_create(
                code=code,
                defaults={"name": code.capitalize(), "skip_sundays": skip, "skip_holidays": skip, "position": position},
            )
        categories: dict[str, Category] = {}
        subcategories: list[tuple[int, int]] = []
        for (category, name, tier), weight in zip(shapes.SUBCATEGORIES, shapes.SUBCATEGORY_WEIGHTS, strict=True):
            if category not in categories:
                categories[category] = Category.objects.filter(name__iexact=category).first() or (
                    Category.objects.create(name=category)
                )
            sub = Subcategory.objects.filter(category=categories[category], name__iexact=name).first() or (
                Subcategory.objects.create(category=categories[category], name=name)
            )
            subcategories.extend([(sub.id, tier)] * weight)
        accounts: dict[str, list[int]] = {"COP": [], "USD": []}
        for name, kind, code, bank, masked in shapes.PAYMENT_ACCOUNTS:
            account = PaymentAccount.objects.filter(name__iexact=name, currency_id=code).first() or (
                PaymentAccount.objects.create(
                    name=name, kind=kind, currency_id=code, bank_name=bank, account_number_masked=masked
                )
            )
            accounts[code].append(account.id)
        start = self.today - timedelta(days=shapes.HISTORY_DAYS + 40)
        for year in range(start.year, self.today.year + 4):
            for month, day, name in _HOLIDAYS:
                Holiday.objects.get_or_create(date=date(year, month, day), defaults={"name": name})
        skip_days = {p.code: (p.skip_sundays, p.skip_holidays) for p in Periodicity.objects.all()}
        holidays = frozenset(Holiday.objects.values_list("date", flat=True))
        return Catalog(subcategories=subcategories, accounts=accounts, skip=skip_days, holidays=holidays)

    def _max_user_id(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM identity_user")
            return int(cursor.fetchone()[0])

    def _bars(self, plan: Plan, tables: tuple[str, ...], first_position: int) -> dict[str, tqdm]:
        """One progress bar per table (rows, rate, ETA); totals of derived tables follow the credits."""
        totals = {"identity_user": plan.users, "credits_credit": plan.credits}
        return {
            table: tqdm(
                total=totals.get(table),
                desc=f"{table:<22}",
                unit=" rows",
                unit_scale=True,
                position=first_position + position,
                leave=True,
                disable=self.progress is False or (self.progress is None and not sys.stderr.isatty()),
                file=sys.stderr,
                dynamic_ncols=True,
            )
            for position, table in enumerate(tables)
        }

    def _users(self, plan: Plan, report: LoadReport) -> None:
        bar = self._bars(plan, ("identity_user",), 0)["identity_user"]
        password = make_password(shapes.SEED_PASSWORD)
        rng = random.Random(f"seed-data:{plan.seed}:users")  # noqa: S311 - reproducible data, not secrets
        joined = datetime.combine(plan.history_start - timedelta(days=30), datetime.min.time(), tzinfo=UTC)
        connection.ensure_connection()
        conn: psycopg.Connection = connection.connection
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(f"COPY identity_user ({USER_COLUMNS}) FROM STDIN") as copy,
        ):
            chunk: list[str] = []
            for index in range(plan.users):
                chunk.append(_user_row(plan, index, rng, password, joined))
                if len(chunk) == 20_000:
                    copy.write("".join(chunk))
                    bar.update(len(chunk))
                    chunk = []
            copy.write("".join(chunk))
            bar.update(len(chunk))
        bar.close()
        report.rows["identity_user"] = plan.users
        report.copy_seconds["identity_user"] = time.perf_counter() - started

    def _book(self, plan: Plan, catalog: Catalog, report: LoadReport) -> None:
        late_fees = LateFeePolicy(
            grace_days=settings.LATE_FEE_GRACE_DAYS,
            monthly_rate=settings.LATE_FEE_MONTHLY_RATE,
            cap_share=settings.LATE_FEE_CAP_SHARE,
        )
        delinquency = DelinquencyPolicy(default_after_days=settings.DEFAULT_AFTER_DAYS)
        ctx = Context(plan, catalog, late_fees, delinquency, ZoneInfo(settings.BUSINESS_TIME_ZONE))
        bars = self._bars(plan, TABLES, 1)
        counts = dict.fromkeys(TABLES, 0)
        seconds = dict.fromkeys(TABLES, 0.0)

        def done(result: tuple[int, dict[str, int], dict[str, float], float]) -> None:
            _, rows, copy_seconds, generated = result
            report.generate_seconds += generated
            for table in TABLES:
                counts[table] += rows[table]
                seconds[table] += copy_seconds[table]
                bar = bars[table]
                if table != "credits_credit" and counts["credits_credit"]:
                    bar.total = round(counts[table] * plan.credits / counts["credits_credit"])
                bar.update(rows[table])

        batches = range(plan.batches)
        if self.workers == 1:
            _init_worker(ctx, None)
            try:
                for batch in batches:
                    done(_run_batch(batch))
            finally:
                _worker.clear()
        else:
            if connection.in_atomic_block:
                raise SeedError("Several workers write through their own connections: run outside a transaction.")
            connections.close_all()  # the children must not share the parent's socket
            pool = multiprocessing.get_context("fork").Pool(self.workers, _init_worker, (ctx, connection_kwargs()))
            try:
                for result in pool.imap_unordered(_run_batch, batches):
                    done(result)
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
        for bar in bars.values():
            bar.close()
        report.rows.update(counts)
        report.copy_seconds.update(seconds)

    def _sequences(self) -> None:
        with connection.cursor() as cursor:
            for table, column in SEQUENCES:
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
                sequence = cursor.fetchone()[0] or f"{table}_{column}_seq"
                cursor.execute(
                    f"SELECT setval(%s, coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)", [sequence]
                )

    def _analyze(self) -> None:
        verb = "VACUUM (ANALYZE)" if self.vacuum else "ANALYZE"
        with connection.cursor() as cursor:
            for model in ddl_module.LOADED_MODELS:
                cursor.execute(f"{verb} {_table(model)}")


class _Phases:
    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    def __call__(self, name: str) -> _Phase:
        return _Phase(self.phases, name)


class _Phase:
    def __init__(self, phases: dict[str, float], name: str) -> None:
        self.phases, self.name = phases, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.phases[self.name] = self.phases.get(self.name, 0.0) + time.perf_counter() - self.started


def _table(label: str) -> str:
    from django.apps import apps

    return apps.get_model(label)._meta.db_table


def _seed_like() -> str:
    return shapes.USERNAME_PREFIX.replace("_", "\\_") + "%"


def _delete_generated_users(cursor: CursorWrapper) -> None:
    """Delete the generated users and the rows (outside the book) that point at them."""
    cursor.execute(
        "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' AND c.confrelid = 'identity_user'::regclass AND c.conrelid <> c.confrelid"
    )
    seeded = "SELECT id FROM identity_user WHERE username LIKE %s"
    for table, column in cursor.fetchall():
        if table not in BOOK_TABLES:
            cursor.execute(f'DELETE FROM {table} WHERE "{column}" IN ({seeded})', [_seed_like()])
    cursor.execute("DELETE FROM identity_user WHERE username LIKE %s", [_seed_like()])


def _user_row(plan: Plan, index: int, rng: random.Random, password: str, joined: datetime) -> str:
    user_id = plan.user_id_base + 1 + index
    if index < plan.admins:
        role, username = "admin", f"{shapes.USERNAME_PREFIX}admin{index + 1}"
    elif index < plan.admins + plan.agents:
        role, username = "agent", f"{shapes.USERNAME_PREFIX}agent{index - plan.admins + 1}"
    else:
        role, username = "client", f"{shapes.USERNAME_PREFIX}client{index - plan.admins - plan.agents + 1}"
    staff = "t" if role == "admin" else "f"
    first = _FIRST_NAMES[int(rng.random() * len(_FIRST_NAMES))]
    last = _LAST_NAMES[int(rng.random() * len(_LAST_NAMES))]
    public_id = (rng.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC << 60) | (0x8 << 60)
    when = joined - timedelta(seconds=int(rng.random() * 86_400 * 30))
    phone = f"+57 3{int(rng.random() * 100):02d} {int(rng.random() * 1e7):07d}"
    document = f"{10_000_000 + int(rng.random() * 1e9)}"
    return (
        f"{user_id}\t{password}\t\\N\t{staff}\t{username}\t{first}\t{last}\t{username}@seed.test\t{staff}\tt\t"
        f"{when.isoformat(sep=' ')}\t{public_id:032x}\t{role}\t{phone}\t{document}\n"
    )


def table_sizes() -> dict[str, int]:
    """pg_total_relation_size of each loaded table, partitions included (data, indexes, TOAST)."""
    sizes: dict[str, int] = {}
    with connection.cursor() as cursor:
        for label in ddl_module.LOADED_MODELS:
            table = _table(label)
            cursor.execute(
                "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) "
                "FROM pg_partition_tree(c.oid) t) ELSE pg_total_relation_size(c.oid) END "
                "FROM pg_class c WHERE c.oid = %s::regclass",
                [table],
            )
            sizes[table] = int(cursor.fetchone()[0])
    return sizes


def report_lines(report: LoadReport, say: Callable[[str], None]) -> None:
    """The load's timings and rates, and each table's rows and size."""
    plan = report.plan
    say("")
    say(f"{'table':<22} {'rows':>13} {'COPY s':>8} {'rows/s (COPY)':>14} {'size':>10}")
    for table in ("identity_user", *TABLES):
        rows = report.rows.get(table, 0)
        secs = report.copy_seconds.get(table, 0.0)
        rate = f"{rows / secs:,.0f}" if secs else "-"
        say(f"{table:<22} {rows:>13,} {secs:>8.1f} {rate:>14} {_mib(report.sizes.get(table, 0)):>10}")
    total_rows = sum(report.rows.values())
    say(f"{'total':<22} {total_rows:>13,} {'':>8} {'':>14} {_mib(sum(report.sizes.values())):>10}")
    book = report.phases.get("book", 0.0)
    say("")
    say(
        f"transactions {report.rows.get('ledger_transaction', 0):,} (target {plan.target_transactions:,}); "
        f"payment lines {report.rows.get('payments_line', 0):,} (target {plan.target_payment_lines:,})"
    )
    if book:
        say(
            f"book phase: {book:.1f} s wall, {total_rows / (book + report.phases.get('users', 0)):,.0f} rows/s "
            f"overall; generation {report.generate_seconds:.1f} s of worker CPU"
        )
    for name, seconds in report.phases.items():
        say(f"  {name:<26} {seconds:8.1f} s")
    say(f"  {'total':<26} {report.total_seconds:8.1f} s")
    slow = sorted(report.ddl_seconds, key=lambda x: -x[2])[:8]
    if slow:
        say("slowest index / foreign-key builds: " + ", ".join(f"{name} {s:.1f}s" for _, name, s in slow))


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"
