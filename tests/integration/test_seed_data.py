"""`seed_data` at a tiny scale: the book it writes passes `check_book`, is the same for the same seed,
has the shapes the benchmark needs, lands in monthly partitions; and `check_book` fails on a
corrupted row (the checker can fail)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

# One worker writes through Django's connection, so the whole load runs (and is rolled back) inside the
# test's transaction.
pytestmark = [pytest.mark.django_db, pytest.mark.integration]

SCALE = 0.006  # level 1 x 0.006: 60 users, 300 credits
PARTITIONED = ("ledger_transaction", "ledger_posting", "payments_line")


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_data", level=1, scale=SCALE, seed=7, truncate=True, workers=1, no_progress=True, stdout=out)
    return out.getvalue()


def _one(sql: str) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _fingerprint() -> dict[str, object]:
    """Row counts and sums of the money columns: equal books have equal fingerprints."""
    queries = {
        "users": "SELECT count(*) FROM identity_user WHERE username LIKE 'seed\\_%%'",
        "credits": "SELECT count(*), sum(price), sum(cost), string_agg(state, ',' ORDER BY created_at, id) "
        "FROM credits_credit",
        "installments": "SELECT count(*), sum(principal + interest), sum(late_fee), sum(late_fee_waived), "
        "sum(paid_principal + paid_interest + paid_late_fee) FROM credits_installment",
        "transactions": "SELECT count(*), string_agg(DISTINCT type, ',') FROM ledger_transaction",
        "postings": "SELECT count(*), sum(amount) FILTER (WHERE side = 'debit') FROM ledger_posting",
        "payments": "SELECT count(*), sum(amount), count(*) FILTER (WHERE status = 'reversed') FROM payments_payment",
        "lines": "SELECT count(*), sum(amount) FROM payments_line",
        "allocations": "SELECT count(*), sum(late_fee + interest + principal) FROM payments_allocation",
        "waivers": "SELECT count(*), sum(amount) FROM payments_fee_waiver",
        "events": "SELECT count(*), string_agg(DISTINCT kind, ',') FROM credits_event",
    }
    with connection.cursor() as cursor:
        found = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            found[name] = cursor.fetchone()
        return found


def _check_book(sample: int = 100) -> str:
    out = io.StringIO()
    call_command("check_book", sample=sample, stdout=out)
    return out.getvalue()


def test_generated_book_is_consistent_deterministic_and_shaped() -> None:
    output = _seed()
    assert "300 credits" in output
    assert "The book is consistent" in _check_book()
    first = _fingerprint()
    assert first["credits"][0] == 300
    assert first["users"] == (60,)

    # Shapes: defaulted, paid, overdue, written off; split payments; reversals; fees and waivers.
    with connection.cursor() as cursor:
        cursor.execute("SELECT state, count(*) FROM credits_credit GROUP BY state")
        states = dict(cursor.fetchall())
        cursor.execute(
            "SELECT max(n), count(*) FILTER (WHERE n > 1) FROM "
            "(SELECT count(*) AS n FROM payments_line GROUP BY payment_id) x"
        )
        widest, split = cursor.fetchone()
        cursor.execute("SELECT max(n), avg(n) FROM (SELECT count(*) AS n FROM credits_credit GROUP BY user_id) x")
        most, average = cursor.fetchone()
        cursor.execute("SELECT count(DISTINCT agent_id), count(DISTINCT currency), count(DISTINCT interest_method), "
                       "count(DISTINCT periodicity) FROM credits_credit")  # fmt: skip
        agents, currencies, methods, periodicities = cursor.fetchone()
    assert states["paid"] > 0 and states["defaulted"] > 0 and states["active"] > 0, states
    assert (
        _one("SELECT count(*) FROM credits_credit WHERE is_in_default AND state <> 'written_off'")
        == states["defaulted"]
    )
    assert _one("SELECT count(*) FROM credits_credit WHERE state = 'active' AND days_past_due > 0") > 0
    assert widest == 3 and split > 0
    assert most >= 3 * average  # a few clients with many credits
    assert agents > 1 and currencies == 2 and methods == 4 and periodicities == 4
    assert first["payments"][2] > 0  # reversed payments
    assert {"disbursement", "repayment", "late_fee", "reversal"} <= set(first["transactions"][1].split(","))

    # Three years of history, in monthly partitions, none of it in a DEFAULT partition.
    assert _one("SELECT max(occurred_on) - min(occurred_on) FROM ledger_transaction") >= 3 * 365
    for table in PARTITIONED:
        assert _one(f"SELECT count(*) FROM {table}_default") == 0
        assert _one(f"SELECT count(DISTINCT tableoid) FROM {table}") >= 36
    assert _one("SELECT count(*) FROM ledger_posting WHERE id >= (SELECT last_value FROM ledger_posting_id_seq)") == 0

    # Nothing dated after now; a second load must be asked to replace the first.
    assert _one("SELECT max(recorded_at) <= now() + interval '5 seconds' FROM ledger_transaction")
    with pytest.raises(CommandError, match="--truncate"):
        call_command("seed_data", level=1, scale=SCALE, workers=1, no_progress=True, stdout=io.StringIO())

    # The same seed writes the same book.
    _seed()
    assert _fingerprint() == first

    # A transaction whose stored amount (what the list shows) is not its debits: the checker says so.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_transaction SET amount = amount + 0.01 WHERE id = (SELECT min(id::text)::uuid "
            "FROM ledger_transaction WHERE type = 'repayment')"
        )
        assert cursor.rowcount == 1
    with pytest.raises(CommandError, match="stored amount = the transaction's debits"):
        _check_book()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_transaction SET amount = amount - 0.01 WHERE id = (SELECT min(id::text)::uuid "
                       "FROM ledger_transaction WHERE type = 'repayment')")  # fmt: skip
        assert cursor.rowcount == 1

    # One cent more paid on one installment than its allocations: the checker must say so.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE credits_installment SET paid_principal = paid_principal + 0.01 WHERE id = ("
            "SELECT id FROM credits_installment WHERE credit_open AND NOT is_settled "
            "AND paid_principal + 0.01 < principal + adjustment ORDER BY id LIMIT 1)"
        )
        assert cursor.rowcount == 1
    with pytest.raises(CommandError, match="paid = allocations of posted payments"):
        _check_book(sample=20)


def test_check_book_passes_on_a_book_written_by_the_use_cases() -> None:
    """No false alarms: the demo book is written through the use cases (nightly jobs included)."""
    call_command("load_demo", stdout=io.StringIO())
    assert "The book is consistent" in _check_book(sample=50)
