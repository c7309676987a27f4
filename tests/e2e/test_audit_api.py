"""The audit trail over HTTP: a payment and its reversal made through the API are recorded with the
caller's address, user agent and request id; only an admin reads GET /api/v1/audit, with filters
and keyset pages; the Django admin shows the records and changes none."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from adapters.orm.audit.models import AuditEntry
from tests.e2e.test_book_commands import _open, book, cop  # noqa: F401  (book is a fixture)
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def _pay(book: dict, credit_id: str, amount: str, **headers: str) -> dict:  # noqa: F811
    response = book["agent"].client.post(
        f"/api/v1/credits/{credit_id}/payments",
        {"amount": cop(amount), "lines": [{"payment_account_id": book["cash"], "amount": cop(amount)}], "prepay": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {book['agent'].token}",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        **headers,
    )
    assert response.status_code == 201, response.content
    return response.json()


def _audit(book: dict, query: str = "", who: str = "admin") -> object:  # noqa: F811
    return book[who].get(f"/api/v1/audit{query}")


def test_a_payment_and_its_reversal_are_recorded_with_where_they_came_from(book: dict) -> None:  # noqa: F811
    credit = _open(book)
    payment = _pay(
        book,
        credit["id"],
        "100000.00",
        REMOTE_ADDR="192.0.2.10",
        HTTP_USER_AGENT="collector-app/3.2 (android)",
        HTTP_X_REQUEST_ID="req-pay-0001",
    )
    reversal = book["admin"].client.post(
        f"/api/v1/payments/{payment['id']}/reversal",
        {"reason": "bounced transfer"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {book['admin'].token}",
        HTTP_IDEMPOTENCY_KEY="rev-1",
        REMOTE_ADDR="192.0.2.99",
        HTTP_USER_AGENT="backoffice",
    )
    assert reversal.status_code == 200, reversal.content
    response = _audit(book, f"?credit={credit['id']}")
    assert response.status_code == 200, response.content
    reversed_, paid, opened = response.json()["data"]
    assert [opened["event"], paid["event"], reversed_["event"]] == [
        "credit_opened",
        "payment_registered",
        "payment_reversed",
    ]
    agent, admin = book["users"]["agent"], book["users"]["admin"]
    assert paid["actor_id"] == str(agent.public_id) and paid["actor_role"] == "agent"
    assert (paid["ip"], paid["user_agent"], paid["request_id"]) == (
        "192.0.2.10",
        "collector-app/3.2 (android)",
        "req-pay-0001",
    )
    assert paid["reference_id"] == payment["id"] and paid["amount"] == cop("100000.00")
    pending = credit["pending"]["amount"]
    assert paid["changes"]["paid"] == {"before": "0.00", "after": "100000.00"}
    assert paid["changes"]["pending"]["before"] == pending
    assert reversed_["actor_id"] == str(admin.public_id) and reversed_["ip"] == "192.0.2.99"
    assert reversed_["reference_id"] == payment["id"] and reversed_["details"] == {"reason": "bounced transfer"}
    assert reversed_["changes"]["pending"] == {"before": paid["changes"]["pending"]["after"], "after": pending}
    assert len(reversed_["request_id"]) == 32  # none sent: the one the middleware made
    assert datetime.fromisoformat(paid["at"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("trusted", "address"), [(True, "203.0.113.7"), (False, "192.0.2.10")], ids=["behind a trusted proxy", "direct"]
)
def test_the_channel_and_the_forwarded_address_come_from_the_request_headers(
    book: dict,  # noqa: F811
    settings: object,
    trusted: bool,
    address: str,
) -> None:
    settings.TRUST_X_FORWARDED_FOR = trusted  # type: ignore[attr-defined]
    credit = _open(book)
    _pay(book, credit["id"], "1000.00", REMOTE_ADDR="192.0.2.10", HTTP_X_CLIENT="Mobile",
         HTTP_X_FORWARDED_FOR="203.0.113.7, 10.0.0.1")  # fmt: skip
    _pay(book, credit["id"], "1000.00", REMOTE_ADDR="192.0.2.10")
    paid = _audit(book, f"?credit={credit['id']}&event=payment_registered").json()["data"]
    assert [(p["source"], p["ip"]) for p in paid] == [("web", "192.0.2.10"), ("mobile", address)]


def test_only_an_admin_reads_the_trail(book: dict) -> None:  # noqa: F811
    _open(book)
    for who in ("agent", "other_agent", "client_a"):
        response = _audit(book, who=who)
        assert response.status_code == 403, who
        assert "data" not in response.json()
    assert Client().get("/api/v1/audit").status_code == 401


def test_filters_and_keyset_pages(book: dict) -> None:  # noqa: F811
    credit = _open(book)
    other = _open(book)
    for _ in range(3):
        _pay(book, credit["id"], "1000.00")
    agent = book["users"]["agent"]

    mine = _audit(book, f"?credit={credit['id']}&event=payment_registered").json()["data"]
    assert len(mine) == 3 and {r["credit_id"] for r in mine} == {credit["id"]}
    by_agent = _audit(book, f"?actor={agent.public_id}&limit=100").json()["data"]
    assert {r["credit_id"] for r in by_agent} == {credit["id"], other["id"]}
    assert _audit(book, f"?actor={uuid.uuid4()}").json()["data"] == []
    assert _audit(book, "?actor=system").json()["data"] == []
    assert _audit(book, "?actor=not-an-id").status_code == 422
    assert _audit(book, "?event=made_up").status_code == 422

    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert _audit(book, f"?credit={credit['id']}&from={later}").json()["data"] == []
    assert len(_audit(book, f"?credit={credit['id']}&from={earlier}&to={later}").json()["data"]) == 4
    assert _audit(book, f"?from={later}&to={earlier}").status_code == 422
    assert _audit(book, "?from=2026-01-01T00:00:00").status_code == 422  # no time zone

    seen, cursor = [], ""
    while True:
        page = _audit(book, f"?credit={credit['id']}&limit=2{cursor}").json()
        seen += [r["id"] for r in page["data"]]
        if not page["has_more"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    everything = [r["id"] for r in _audit(book, f"?credit={credit['id']}&limit=100").json()["data"]]
    assert seen == everything and len(seen) == 4 and seen == sorted(seen, reverse=True)
    assert _audit(book, "?cursor=garbage").status_code == 422
    forged = base64.urlsafe_b64encode(json.dumps([["v", 5], ["v", 1]]).encode()).decode()
    assert _audit(book, f"?cursor={forged}").status_code == 422


def test_the_django_admin_shows_records_and_changes_none(book: dict) -> None:  # noqa: F811
    _open(book)
    staff = Client()
    staff.force_login(UserFactory(username="root", role="admin", is_superuser=True))
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None
    assert staff.get(reverse("admin:audit_auditentry_changelist")).status_code == 200
    page = staff.get(reverse("admin:audit_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert staff.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert staff.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert staff.post(reverse("admin:audit_auditentry_change", args=[entry.pk]), {"event": "x"}).status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).event == entry.event
