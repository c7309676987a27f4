"""The unit of work's statement batch (adapters.sql.batch) on the real PostgreSQL: deferred writes
keep their order against every other statement, go before COMMIT, and vanish on a rollback."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from adapters.sql import batch
from adapters.sql.session import DjangoUnitOfWork, OrmSession
from domain.shared.errors import Conflict
from tests import wire

pytestmark = pytest.mark.django_db

TABLE = "batch_probe"


@pytest.fixture(autouse=True)
def probe_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} (n int PRIMARY KEY, note text)")
        cursor.execute(f"TRUNCATE {TABLE}")


def rows() -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n, note FROM {TABLE} ORDER BY n")
        return list(cursor.fetchall())


def put(n: int, note: str = "") -> None:
    batch.defer(f"INSERT INTO {TABLE} (n, note) VALUES (%s, %s)", [n, note])


def test_deferred_writes_go_in_one_round_trip_before_commit() -> None:
    uow = DjangoUnitOfWork(OrmSession())
    with CaptureQueriesContext(connection) as queries, uow:
        put(1)
        put(2, "50% off")  # a literal % in a value survives the binding
        put(3)
        assert len(queries) == 1  # the savepoint only: nothing sent yet
        uow.commit()
    assert len(queries) == 3  # savepoint, the three writes as one, release
    assert rows() == [(1, ""), (2, "50% off"), (3, "")]


def test_a_read_after_a_deferred_write_sees_it() -> None:
    uow = DjangoUnitOfWork(OrmSession())
    with uow:
        put(7, "seen")
        with CaptureQueriesContext(connection) as queries:
            (read,) = batch.run([(f"SELECT n, note FROM {TABLE} ORDER BY n", [])])
        assert read.rows == [(7, "seen")]
        assert len(queries) == 1  # the write and the read in one round trip
        put(8, "also seen")
        with CaptureQueriesContext(connection) as queries:
            assert rows() == [(7, "seen"), (8, "also seen")]  # any other statement: the queue goes first
        assert len(queries) == 2
        uow.commit()


def test_execute_wrappers_see_a_round_trip_as_its_statements_with_their_parameters() -> None:
    """The slow-query log and the bench's capture (which EXPLAINs each statement) read a round trip
    as "a;\nb" with every parameter in placeholder order."""
    seen: list[tuple[str, list[object]]] = []

    def spy(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        seen.append((sql, list(params or [])))
        return execute(sql, params, many, context)

    uow = DjangoUnitOfWork(OrmSession())
    with uow:
        put(1, "one")
        with connection.execute_wrapper(spy):
            batch.run([(f"SELECT note FROM {TABLE} WHERE n = %s", [1])])
        uow.commit()
    (sql, params) = seen[-1]
    parts = sql.split(";\n")
    assert [part.count("%s") for part in parts] == [2, 1]
    assert params == [1, "one", 1]


def test_a_query_asked_ahead_rides_the_next_statement() -> None:
    uow = DjangoUnitOfWork(OrmSession())
    with uow:
        put(1)
        answer = batch.later(f"SELECT count(*) FROM {TABLE}", [], lambda r: r.rows[0][0] if r.rows else -1)
        with CaptureQueriesContext(connection) as queries:
            (read,) = batch.run([("SELECT %s::int", [41])])
            assert read.rows == [(41,)]
            assert answer.get() == 1
        assert len(queries) == 1
        uow.commit()


def test_a_rolled_back_savepoint_takes_its_deferred_writes_and_keeps_the_earlier_ones() -> None:
    uow = DjangoUnitOfWork(OrmSession())
    with uow:
        put(1, "before")
        try:
            with transaction.atomic():
                put(2, "inside")
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        put(3, "after")
        uow.commit()
    assert rows() == [(1, "before"), (3, "after")]


def test_a_unit_of_work_left_without_commit_sends_nothing() -> None:
    uow = DjangoUnitOfWork(OrmSession())
    with CaptureQueriesContext(connection) as queries, uow:
        put(1)
    assert rows() == []
    assert not any(TABLE in q["sql"] for q in queries)


def test_a_write_refused_at_commit_rolls_the_whole_unit_back() -> None:
    def clash() -> None:
        uow = DjangoUnitOfWork(OrmSession())
        with uow:
            put(1, "first")
            put(1, "again")  # the primary key refuses it when the batch is sent
            uow.commit()

    with pytest.raises(IntegrityError):
        clash()
    assert rows() == []
    assert not batch.is_open()


def test_outside_a_unit_of_work_a_deferred_write_runs_at_once() -> None:
    with CaptureQueriesContext(connection) as queries:
        put(5)
    assert len(queries) == 1
    assert rows() == [(5, "")]


class Recorder:
    """Records what the unit of work tells its effect handler, and when."""

    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []

    def staged(self, effect: object) -> None:
        self.told.append(("staged", effect))

    def committed(self, effect: object) -> None:
        self.told.append(("committed", effect))


@pytest.mark.django_db(transaction=True)
def test_a_unit_of_work_that_owns_its_transaction_tells_its_effects_as_staged_and_after_commit() -> None:
    """Staged at once (a process killed between its COMMIT and the after-commit callback has still
    told it: `make stress-cluster`), and again after the commit (what a reader built from the old
    truth meanwhile is made unreachable); a rolled-back unit is never told committed."""
    recorder = Recorder()
    uow = DjangoUnitOfWork(OrmSession(), effects=recorder)
    with uow:
        uow.on_commit("credit changed")
        assert recorder.told == [("staged", "credit changed")]
        uow.commit()
    assert recorder.told == [("staged", "credit changed"), ("committed", "credit changed")]

    rolled_back = Recorder()
    uow = DjangoUnitOfWork(OrmSession(), effects=rolled_back)
    with uow:
        uow.on_commit("credit changed")
    assert rolled_back.told == [("staged", "credit changed")]


def test_inside_a_callers_transaction_the_effect_is_told_at_once_too() -> None:
    # The test's own transaction never commits: the unit of work cannot see the commit it waits for.
    recorder = Recorder()
    uow = DjangoUnitOfWork(OrmSession(), effects=recorder)
    with uow:
        uow.on_commit("credit changed")
        assert recorder.told == [("staged", "credit changed")]
        uow.commit()


@pytest.mark.django_db(transaction=True)  # BEGIN and COMMIT as in production, not a test's savepoints
def test_the_first_batch_of_a_unit_of_work_carries_its_begin_and_the_last_its_commit() -> None:
    def unit() -> None:
        uow = DjangoUnitOfWork(OrmSession())
        with uow:
            put(1, "one")
            [counted] = batch.run([(f"SELECT count(*) FROM {TABLE}", [])])
            assert counted.rows == [(1,)]  # the write queued first was seen
            put(2, "two")
            uow.commit()

    _, trips = wire.round_trips(unit)
    assert len(trips) == 2, trips  # BEGIN + the write + the read; the second write + COMMIT
    assert trips[0][0] == "BEGIN" and wire.statements(trips[-1])[-1] == "COMMIT", trips
    assert rows() == [(1, "one"), (2, "two")]


@pytest.mark.django_db(transaction=True)
def test_a_write_checked_in_python_leaves_commit_to_a_round_trip_of_its_own() -> None:
    def unit() -> None:
        uow = DjangoUnitOfWork(OrmSession())
        with uow:
            batch.defer(f"INSERT INTO {TABLE} (n, note) VALUES (%s, %s) RETURNING n", [1, "checked"], lambda _: None)
            uow.commit()

    _, trips = wire.round_trips(unit)
    assert len(trips) == 2 and trips[-1] == ["COMMIT"], trips  # the check runs before COMMIT is sent
    assert rows() == [(1, "checked")]


_GUARDED = f"WITH i AS (INSERT INTO {TABLE} (n, note) VALUES (%s, %s) RETURNING 1) SELECT conflict_unless(%s, 'probe')"


@pytest.mark.django_db(transaction=True)
def test_a_guard_refused_in_postgresql_raises_its_refusal_and_the_commit_with_it_is_skipped() -> None:
    def unit(ok: bool) -> None:
        uow = DjangoUnitOfWork(OrmSession())
        with uow:
            put(1, "before the guard")
            batch.defer(_GUARDED, [2, "guarded", ok], refusal=Conflict("the probe refused"))
            put(3, "after the guard")
            uow.commit()

    with pytest.raises(Conflict, match="the probe refused"):
        wire.round_trips(lambda: unit(False))
    assert rows() == []
    _, trips = wire.round_trips(lambda: unit(True))  # the connection serves the next unit
    assert len(trips) == 1 and trips[0][0] == "BEGIN" and wire.statements(trips[0])[-1] == "COMMIT", trips
    assert rows() == [(1, "before the guard"), (2, "guarded"), (3, "after the guard")]


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_unit_of_work_does_not_commit() -> None:
    class Undone(Exception):
        pass

    def callers_transaction() -> None:
        with transaction.atomic():
            uow = DjangoUnitOfWork(OrmSession())
            with uow:
                put(1, "the caller undoes it")
                uow.commit()
            assert rows() == [(1, "the caller undoes it")]
            raise Undone

    with pytest.raises(Undone):
        callers_transaction()
    assert rows() == []


@pytest.mark.django_db(transaction=True)
def test_a_statement_refused_midway_raises_its_error_and_the_connection_serves_the_next_unit() -> None:
    new_shape = f"INSERT INTO {TABLE} (n, note) SELECT %s, %s WHERE %s"  # first met after the failure

    def clash() -> None:
        uow = DjangoUnitOfWork(OrmSession())
        with uow:
            put(1, "first")
            put(1, "again")  # refused by the primary key: what follows in the pipeline is skipped
            batch.defer(new_shape, [2, "skipped", True])
            uow.commit()

    with pytest.raises(IntegrityError, match="batch_probe_pkey"):
        clash()
    assert rows() == []
    # The shape whose PREPARE was skipped is prepared again, not taken for prepared.
    uow = DjangoUnitOfWork(OrmSession())
    with uow:
        batch.defer(new_shape, [3, "then", True])
        put(4, "and")
        uow.commit()
    assert rows() == [(3, "then"), (4, "and")]


def test_on_a_connection_that_prepares_nothing_the_batch_binds_unnamed_statements() -> None:
    """Behind pgbouncer's transaction pooling (DB_PGBOUNCER=1) nothing is prepared: a statement
    prepared on one server connection may be run on another."""
    connection.ensure_connection()
    raw = connection.connection
    threshold = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        uow = DjangoUnitOfWork(OrmSession())
        with uow:
            batch.defer(f"INSERT INTO {TABLE} (n, note) SELECT %s, %s WHERE %s IS NOT NULL", [7, "unprepared", 1])
            [counted] = batch.run([(f"SELECT count(*) FROM {TABLE} WHERE note = %s", ["unprepared"])])
            uow.commit()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{TABLE}%"])
            prepared = cursor.fetchone()[0]
    finally:
        raw.prepare_threshold = threshold
    assert counted.rows == [(1,)] and rows() == [(7, "unprepared")]
    assert prepared == 0
