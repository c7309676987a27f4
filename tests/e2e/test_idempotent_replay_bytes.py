"""A replayed idempotent answer is the first answer, byte for byte (issue 11 §4: the replay came back
with its keys in another order, the stored JSON having gone through jsonb), for every POST that takes
an Idempotency-Key."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.ledger.model import Source
from domain.shared.money import Money
from tests.e2e.test_book_commands import WRITE_ENDPOINTS, _open, _open_body, book, cop  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

# Every POST answered through api.http.idempotency.idempotent: opening a credit, and the money writes.
ENDPOINTS = {
    "open_credit": ("/api/v1/credits", lambda b: _open_body(b)),
    **{k: v[:2] for k, v in WRITE_ENDPOINTS.items()},
}


def _targets(book: dict) -> dict[str, str]:  # noqa: F811
    """A credit with a late fee, a payment on it and a waiver request: something for each endpoint."""
    ports = build_ports()
    credit = _open(book, first_due_date=ports.clock.today().isoformat(), installments=3)
    use_cases.charge_late_fees(ports, uuid.UUID(credit["id"]), as_of=ports.clock.today() + timedelta(days=40))
    pay = {"amount": cop("10.00"), "lines": [{"payment_account_id": book["cash"], "amount": cop("10.00")}]}
    payment = book["agent"].post(f"/api/v1/credits/{credit['id']}/payments", pay).json()
    installment = credit["installments"][0]["id"]
    waiver = use_cases.request_fee_waiver(
        ports,
        use_cases.RequestWaiver(uuid.UUID(installment), Money.of("1.00", "COP"), "for the replay"),
        Actor(book["users"]["agent"].id, Source.WEB),
    )
    return {"credit": credit["id"], "payment": payment["id"], "installment": installment, "waiver": str(waiver.id)}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_the_replay_is_the_first_answer_byte_for_byte(book: dict, endpoint: str) -> None:  # noqa: F811
    template, body = ENDPOINTS[endpoint]
    path = template.format(**_targets(book))
    key = f"replay-{endpoint}"
    first = book["admin"].post(path, body(book), key=key)
    assert first.status_code in (200, 201), first.content
    assert "Idempotent-Replayed" not in first
    replay = book["admin"].post(path, body(book), key=key)
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.status_code == first.status_code
    assert replay["Content-Type"] == first["Content-Type"]
    assert replay.content == first.content
