"""The nightly run's audit records: the set-based SQL writes, credit by credit, the records the
domain's per-credit path (`apply_late_fees`, then `recompute_delinquency`) would write."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import date

import pytest
from django.db import connection

from domain.application.audit import Figures
from domain.credits.model import Credit, CreditState
from domain.payments.late_fees import assess_late_fees
from tests.builders import reload
from tests.integration.test_nightly_job import _nightly, _policies, book  # noqa: F401  (book is a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _expected_records(credit: Credit, as_of: date) -> list[tuple]:
    policies = _policies()
    if not credit.state.is_open:
        return []
    work = copy.deepcopy(credit)
    start = Figures.of(work)
    records = []
    charges = assess_late_fees(work.installments, as_of, policies.late_fees)
    for charge in charges:
        work.charge_late_fee(charge.installment_id, charge.amount)
    charged = Figures.of(work)
    if charges:
        fee = sum((c.amount.amount for c in charges), start.due.amount * 0)
        records.append(("late_fee_charged", f"{fee:f}", start.as_strings(), charged.as_strings()))
    work.refresh_delinquency(as_of, policies.delinquency, event_id=uuid.uuid4(), at=work.opened_on)  # type: ignore[arg-type]
    if work.state is not credit.state:
        event = "credit_defaulted" if work.state is CreditState.DEFAULTED else "credit_cured"
        records.append((event, str(work.outstanding.amount), charged.as_strings(), Figures.of(work).as_strings()))
    return records


def _written(credit: Credit, as_of: date) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT event, round(amount, cur.minor_units)::text, before, after, actor_id, source
            FROM audit_entry e JOIN catalog_currency cur ON cur.code = e.currency
            WHERE credit_id = %s AND details->>'as_of' = %s
              AND event IN ('late_fee_charged', 'credit_defaulted', 'credit_cured')
            ORDER BY id
            """,
            [credit.id, as_of.isoformat()],
        )
        rows = cursor.fetchall()
    assert all(actor is None and source == "system" for *_, actor, source in rows)
    # Django's cursor hands jsonb back as text.
    return [(event, amount, json.loads(before), json.loads(after)) for event, amount, before, after, *_ in rows]


def test_the_sql_run_records_what_the_domain_path_would(book: dict) -> None:  # noqa: F811
    as_of: date = book.pop("T")
    expected = {name: _expected_records(reload(c), as_of) for name, c in book.items()}
    assert sum(len(r) for r in expected.values()) >= 10  # the varied book charges, defaults and cures

    result = _nightly(chunk_size=3).run(as_of)

    assert result.fallback == 0
    for name, credit in book.items():
        assert _written(credit, as_of) == expected[name], name
    # A second run changes nothing and records nothing.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_entry")
        count = cursor.fetchone()[0]
        _nightly(chunk_size=3).run(as_of)
        cursor.execute("SELECT count(*) FROM audit_entry")
        assert cursor.fetchone()[0] == count
