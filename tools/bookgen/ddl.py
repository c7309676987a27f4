"""Secondary indexes and foreign keys of the loaded tables: dropped before a bulk load, rebuilt after.

The statements come from the models, through Django's schema editor (`Meta.indexes`, field-level
`db_index`, foreign keys), so nothing here repeats their SQL: change a model's index and the next
load rebuilds the new one. Primary keys and unique constraints stay in place during the load (they
are what keeps the load correct); the foreign keys are re-added, and so validated, in one pass each
after it, which is far cheaper than checking them row by row during COPY.

`restore` creates only what is missing, so it also repairs a database whose previous load died
half-way (run `seed_data --rebuild-only`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection
from django.db.backends.utils import CursorWrapper

# The tables the generator writes, as models (the users table too: a million rows at level 3).
LOADED_MODELS = [
    "identity.User",
    "credits.Credit",
    "credits.Installment",
    "credits.CreditEvent",
    "payments.Payment",
    "payments.PaymentLine",
    "payments.PaymentAllocation",
    "payments.FeeWaiver",
    "ledger.LedgerTransaction",
    "ledger.Posting",
]
_FK_SUFFIX = "_fk_%(to_table)s_%(to_column)s"


@dataclass(frozen=True, slots=True)
class Ddl:
    kind: str  # "index" or "foreign key"
    table: str
    name: str
    create: str
    references: str = ""  # the referenced table of a foreign key

    @property
    def drop(self) -> str:
        if self.kind == "index":
            return f'DROP INDEX IF EXISTS "{self.name}"'
        return f'ALTER TABLE "{self.table}" DROP CONSTRAINT IF EXISTS "{self.name}"'


def _name(statement: object) -> str:
    return str(statement.parts["name"]).strip('"')  # type: ignore[attr-defined]


def definitions() -> list[Ddl]:
    """Every secondary index and foreign key of the loaded tables, as the models define them."""
    found: list[Ddl] = []
    with connection.schema_editor(collect_sql=True) as editor:
        for label in LOADED_MODELS:
            model = apps.get_model(label)
            table = model._meta.db_table
            for index in model._meta.indexes:
                found.append(Ddl("index", table, index.name, str(index.create_sql(model, editor))))
            for field in model._meta.local_concrete_fields:
                # Django's private helpers (what migrate itself runs), absent from django-stubs.
                for statement in editor._field_indexes_sql(model, field):  # type: ignore[attr-defined]
                    found.append(Ddl("index", table, _name(statement), str(statement)))
                if field.remote_field and field.db_constraint:
                    statement = editor._create_fk_sql(model, field, _FK_SUFFIX)  # type: ignore[attr-defined]
                    target = field.target_field.model._meta.db_table
                    found.append(Ddl("foreign key", table, _name(statement), str(statement), target))
    return found


def _exists(cursor: CursorWrapper, ddl: Ddl) -> bool:
    if ddl.kind == "index":
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{ddl.name}"'])
    else:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = to_regclass(%s))",
            [ddl.name, f'"{ddl.table}"'],
        )
    return bool(cursor.fetchone()[0])


def _fire_deferred(cursor: CursorWrapper) -> None:
    """Inside a transaction, rows written before (the catalogs) leave deferred foreign-key checks
    pending, and PostgreSQL refuses to ALTER a table with pending trigger events: run them now."""
    if connection.in_atomic_block:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def drop(ddls: list[Ddl]) -> None:
    """Foreign keys first (an index may back nothing they need, but keep the order obvious)."""
    with connection.cursor() as cursor:
        _fire_deferred(cursor)
        for ddl in sorted(ddls, key=lambda d: d.kind != "foreign key"):
            cursor.execute(ddl.drop)


def restore(ddls: list[Ddl], report: Callable[[Ddl, float], None] | None = None) -> None:
    """Create whatever of `ddls` is missing: indexes first (foreign-key validation may use them)."""
    with connection.cursor() as cursor:
        _fire_deferred(cursor)
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
        for ddl in sorted(ddls, key=lambda d: d.kind != "index"):
            if _exists(cursor, ddl):
                continue
            started = time.perf_counter()
            probe = ddl.kind == "foreign key" and _probe_by_index(cursor, ddl)
            if probe:
                # Validating a partitioned table's key runs one anti-join per partition; PostgreSQL
                # hashes the whole referenced table for each (40 partitions x 20M payments at level 3).
                # Index probes cost one lookup per row instead.
                cursor.execute("SET enable_hashjoin = off")
                cursor.execute("SET enable_mergejoin = off")
            cursor.execute(ddl.create)
            if probe:
                cursor.execute("RESET enable_hashjoin")
                cursor.execute("RESET enable_mergejoin")
            if report is not None:
                report(ddl, time.perf_counter() - started)
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("RESET max_parallel_maintenance_workers")


def _probe_by_index(cursor: CursorWrapper, ddl: Ddl) -> bool:
    """A foreign key of a partitioned table to a large table (over 16 MiB: some 100k rows)."""
    cursor.execute(
        "SELECT c.relkind = 'p' AND pg_relation_size(r.oid) > 16 * 1024 * 1024 FROM pg_class c, pg_class r "
        "WHERE c.oid = to_regclass(%s) AND r.oid = to_regclass(%s)",
        [f'"{ddl.table}"', f'"{ddl.references}"'],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def missing(ddls: list[Ddl]) -> list[Ddl]:
    with connection.cursor() as cursor:
        return [d for d in ddls if not _exists(cursor, d)]
