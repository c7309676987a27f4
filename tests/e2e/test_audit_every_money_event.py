"""Every money event is found under its credit: GET /api/v1/audit?credit=<id> lists the fee-waiver
requests and rejections too, not only the events that change the credit's figures (issue 11 §4:
they were recorded with `credit_id: null`, the id only in their details)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from config.bootstrap import build_ports
from domain.application import use_cases
from tests.e2e.test_book_commands import _open, book, cop  # noqa: F401  (book is a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def test_waiver_requests_and_rejections_are_listed_under_their_credit(book: dict) -> None:  # noqa: F811
    ports = build_ports()
    credit = _open(book, first_due_date=ports.clock.today().isoformat(), installments=3)
    use_cases.charge_late_fees(ports, uuid.UUID(credit["id"]), as_of=ports.clock.today() + timedelta(days=40))
    path = f"/api/v1/installments/{credit['installments'][0]['id']}/fee-waivers"
    requested = book["agent"].post(path, {"amount": cop("1.00"), "reason": "client was ill"})
    assert requested.status_code == 201, requested.content
    waiver_id = requested.json()["id"]
    rejected = book["admin"].post(f"/api/v1/fee-waivers/{waiver_id}/decision", {"approve": False, "note": "no"})
    assert rejected.status_code == 200, rejected.content

    trail = book["admin"].get(f"/api/v1/audit?credit={credit['id']}&limit=100").json()["data"]
    by_event = {record["event"]: record for record in trail}
    assert {"fee_waiver_requested", "fee_waiver_rejected"} <= set(by_event), sorted(by_event)
    for event in ("fee_waiver_requested", "fee_waiver_rejected"):
        record = by_event[event]
        assert record["credit_id"] == credit["id"]
        assert record["reference_id"] == waiver_id and record["amount"] == cop("1.00")
        assert record["changes"] == {}  # no figures moved: a request or a refusal changes nothing owed
    # Filtering by event finds them under the credit as well.
    only = book["admin"].get(f"/api/v1/audit?credit={credit['id']}&event=fee_waiver_requested").json()["data"]
    assert [r["reference_id"] for r in only] == [waiver_id]
