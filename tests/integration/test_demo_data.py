"""`make run`'s demo data: loads through the use cases, twice without duplicating, and the book
it writes balances."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection

from config.bootstrap import build_ports
from domain.application.use_cases import verify_book

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def test_demo_book_shows_every_feature_and_balances() -> None:
    call_command("load_demo", stdout=io.StringIO())
    counts = {t: _count(t) for t in ("credits_credit", "payments_payment", "ledger_transaction")}
    call_command("load_demo", stdout=io.StringIO())
    assert {t: _count(t) for t in counts} == counts  # idempotent
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT state FROM credits_credit")
        states = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT interest_method FROM credits_credit")
        methods = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT DISTINCT type FROM ledger_transaction")
        kinds = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT count(*) FROM payments_line GROUP BY payment_id ORDER BY 1 DESC LIMIT 1")
        widest_split = cursor.fetchone()[0]
    assert {"active", "paid", "defaulted"} <= states
    assert methods == {"french", "zero_interest", "flat_markup", "equal_principal"}
    assert {"disbursement", "repayment", "reversal", "late_fee"} <= kinds
    assert widest_split == 2
    assert _count("payments_fee_waiver") == 1
    assert verify_book(build_ports()).problems == []
    # Its history (200 days back) sits in month partitions, none in DEFAULT: /health stays ok.
    assert {_count(f"{t}_default") for t in ("ledger_transaction", "ledger_posting", "payments_line")} == {0}
