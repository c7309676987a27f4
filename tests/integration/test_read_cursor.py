"""The lean read path's cursor (`adapters.db.routing.read_cursor`) on the real PostgreSQL: a read goes
out as the statement batch sends it (prepared on the server at its first run, one round trip), and
answers as Django's cursor would. The replica cases (failover, recovery conflicts) are in
test_read_replicas.py."""

from __future__ import annotations

import pytest
from django.db import ProgrammingError, connection
from django.test.utils import CaptureQueriesContext

from adapters.db import routing

pytestmark = pytest.mark.django_db


def test_a_read_is_prepared_on_the_server_at_its_first_run() -> None:
    shape = "SELECT %s::int + 40 AS read_cursor_probe"
    with routing.read_cursor() as cursor:
        cursor.execute(shape, [2])
        assert cursor.fetchone() == (42,)
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%read_cursor_probe%"])
        prepared = [row[0] for row in cursor.fetchall()]
    assert prepared == ["SELECT $1::int + 40 AS read_cursor_probe"]


def test_rows_are_fetched_as_from_djangos_cursor() -> None:
    with routing.read_cursor() as cursor:
        cursor.execute("SELECT n FROM generate_series(1, %s) AS n", [4])
        assert cursor.fetchone() == (1,)
        assert cursor.fetchall() == [(2,), (3,), (4,)]
        assert cursor.fetchone() is None
        assert cursor.fetchall() == []
        cursor.execute("SELECT n FROM generate_series(1, 0) AS n", [])
        assert cursor.fetchone() is None


def test_sql_without_parameters_is_sent_as_written() -> None:
    with routing.read_cursor() as cursor:
        cursor.execute("SELECT '50%' AS share")
        assert cursor.fetchone() == ("50%",)


def test_named_parameters_are_read_by_psycopgs_cursor() -> None:
    with routing.read_cursor() as cursor:
        cursor.execute("SELECT %(a)s::int * %(b)s::int", {"a": 6, "b": 7})
        assert cursor.fetchone() == (42,)
        cursor.execute("SELECT %s::int", [5])  # and positional ones after them go the batch's way
        assert cursor.fetchall() == [(5,)]


@pytest.mark.django_db(transaction=True)  # autocommit, as requests read: no test transaction to abort
def test_a_refused_read_raises_djangos_error_and_the_next_read_is_served() -> None:
    with routing.read_cursor() as cursor, pytest.raises(ProgrammingError, match="no_such_table"):
        cursor.execute("SELECT * FROM no_such_table WHERE id = %s", [1])
    with routing.read_cursor() as cursor:
        cursor.execute("SELECT 1", [])
        assert cursor.fetchone() == (1,)


def test_fetching_before_any_rows_is_an_error() -> None:
    with routing.read_cursor() as cursor, pytest.raises(ProgrammingError):
        cursor.fetchone()


def test_each_read_is_logged_as_djangos_cursor_logs_it() -> None:
    with CaptureQueriesContext(connection) as captured, routing.read_cursor() as cursor:
        cursor.execute("SELECT %s::int", [1])
        cursor.fetchall()
        cursor.execute("SELECT %s::int", [2])
        cursor.fetchall()
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 1::int", "SELECT 2::int"]
