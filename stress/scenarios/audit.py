"""The audit trail against the running stack: money events made over HTTP are recorded with who did
them and from where, only an admin reads them, and the database refuses to change or remove one.

1. An agent pays a credit of its portfolio (with its own User-Agent and X-Request-ID), retries the
   same payment from 10 threads with one Idempotency-Key, and tries to reverse it (refused); the
   admin reverses it. As admin, GET /api/v1/audit?credit=... must show exactly one
   payment_registered and one payment_reversed record, with the right actor, address, user agent,
   request id, amount and before/after figures; the agent and a client get 403.
2. Straight in the database (each statement in a transaction that is always rolled back, so a
   missing trigger could not damage the stack's trail): UPDATE, DELETE and TRUNCATE of audit_entry
   must be refused, and the rows read back unchanged.
3. Over the whole book (after the concurrency scenarios raced payments and reversals): every payment
   has exactly one payment_registered record, every reversed one exactly one payment_reversed, and
   no payment record points at a payment that does not exist (a refused or rolled-back payment
   left none).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg

from stress.book import Checks, connect
from stress.client import Api, parallel
from stress.core import Context, Result
from stress.scenarios.concurrency import Desk

SECTION = "Audit trail"
AGENT_UA = "stress-audit-collector/1.0"
ADMIN_UA = "stress-audit-backoffice/1.0"


def _records(api: Api, admin: str, credit_id: str) -> list[dict]:
    answer = api.get(f"/api/v1/audit?credit={credit_id}&limit=100", admin)
    if answer.status != 200:
        raise RuntimeError(f"GET /audit: {answer.status} {answer.body}")
    return list(answer.body["data"])


def recorded_over_http(ctx: Context) -> tuple[Result, str]:
    api, checks = Api(ctx.base_url), Checks()
    desk = Desk.open(ctx, api)
    credit = desk.open_credit("500.00", 5)
    pay_request = f"stress-audit-pay-{uuid.uuid4().hex[:12]}"
    key = uuid.uuid4().hex
    headers = {"Idempotency-Key": key, "User-Agent": AGENT_UA, "X-Request-ID": pay_request}
    body = desk.payment("120.00", prepay=True)
    path = f"/api/v1/credits/{credit['id']}/payments"
    paid = api.call("POST", path, token=desk.agent, body=body, headers=headers)
    checks.expect(paid.status == 201, "the agent's payment is accepted", f"{paid.status} {paid.body}")
    payment_id = str(paid.body["id"]) if paid.status == 201 else ""
    retries = parallel(range(10), lambda _: api.call("POST", path, token=desk.agent, body=body, headers=headers), 10)
    checks.expect(
        all(a.status == 201 and a.body.get("id") == payment_id for a in retries),
        "10 parallel retries with the same Idempotency-Key replay the one payment",
        f"statuses {[a.status for a in retries]}",
    )
    refused = api.call(  # only an admin reverses
        "POST",
        f"/api/v1/payments/{payment_id}/reversal",
        token=desk.agent,
        body={"reason": "stress: agent tries"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    checks.expect(refused.status == 403, "an agent's reversal is refused", f"{refused.status}")
    rev_request = f"stress-audit-rev-{uuid.uuid4().hex[:12]}"
    reversal = api.call(
        "POST",
        f"/api/v1/payments/{payment_id}/reversal",
        token=desk.admin,
        body={"reason": "stress: bounced"},
        headers={"Idempotency-Key": uuid.uuid4().hex, "User-Agent": ADMIN_UA, "X-Request-ID": rev_request},
    )
    checks.expect(reversal.status == 200, "the admin's reversal is accepted", f"{reversal.status} {reversal.body}")

    records = _records(api, desk.admin, credit["id"])
    by_event: dict[str, list[dict]] = {}
    for r in records:
        by_event.setdefault(r["event"], []).append(r)
    pays, revs = by_event.get("payment_registered", []), by_event.get("payment_reversed", [])
    checks.expect(len(pays) == 1, "exactly one payment_registered record (12 POSTs, one effect)", f"{len(pays)}")
    checks.expect(len(revs) == 1, "exactly one payment_reversed record (the refused attempt left none)", f"{len(revs)}")
    agent_id = _public_id(ctx, ctx.agents[0])
    admin_id = _public_id(ctx, ctx.admin)
    pending = str(credit["pending"]["amount"])
    after_pay = f"{Decimal(pending) - Decimal('120.00'):.2f}"
    if pays:
        p = pays[0]
        checks.expect(p["actor_id"] == agent_id and p["actor_role"] == "agent", "payment: the agent is the actor")
        checks.expect(bool(p["ip"]), "payment: the caller's address is recorded", str(p["ip"]))
        checks.expect(p["user_agent"] == AGENT_UA, "payment: the caller's user agent", p["user_agent"])
        checks.expect(p["request_id"] == pay_request, "payment: the request id", p["request_id"])
        checks.expect(p["reference_id"] == payment_id, "payment: the payment's id", str(p["reference_id"]))
        checks.expect(
            p["amount"] == {"amount": "120.00", "currency": "COP"}, "payment: amount and currency", str(p["amount"])
        )
        checks.expect(
            p["changes"].get("pending") == {"before": pending, "after": after_pay},
            "payment: pending before and after",
            str(p["changes"]),
        )
    if revs:
        r = revs[0]
        checks.expect(r["actor_id"] == admin_id and r["actor_role"] == "admin", "reversal: the admin is the actor")
        checks.expect(r["user_agent"] == ADMIN_UA, "reversal: the caller's user agent", r["user_agent"])
        checks.expect(r["request_id"] == rev_request, "reversal: the request id", r["request_id"])
        checks.expect(bool(r["ip"]), "reversal: the caller's address is recorded", str(r["ip"]))
        checks.expect(r["reference_id"] == payment_id, "reversal: the payment's id")
        checks.expect(r["amount"] == {"amount": "120.00", "currency": "COP"}, "reversal: amount and currency")
        checks.expect(
            r["changes"].get("pending") == {"before": after_pay, "after": pending},
            "reversal: pending back to what it was",
            str(r["changes"]),
        )
    for who, token in (("agent", desk.agent), ("client", api.login(ctx.clients[0], ctx.password))):
        answer = api.get("/api/v1/audit", token)
        checks.expect(answer.status == 403, f"a {who} cannot read the trail", f"{answer.status}")
    result = Result(
        SECTION,
        "payment and reversal over HTTP recorded with actor, address, user agent, request id, figures",
        requests=api.requests,
        errors_5xx=api.failures,
        details=[
            f"{len(records)} records on the credit: {sorted(by_event)}",
            f"answers by status: {api.status_line()}",
        ],
        fixed=[
            "there was no audit trail: every money use case (and the nightly SQL run) now appends its record "
            "in its own transaction, with the caller's address, user agent and request id",
            "GET /audit, /credits, /transactions: a forged keyset cursor (right length, wrong value types) "
            "reached PostgreSQL and answered 500; now 422",
        ],
    )
    return checks.into(result), payment_id


def _public_id(ctx: Context, username: str) -> str:
    with connect(ctx) as db:
        return str(db.execute("SELECT public_id FROM identity_user WHERE username = %s", [username]).fetchone()[0])


def refused_by_the_database(ctx: Context, payment_id: str) -> Result:
    checks = Checks()
    statements = {
        "UPDATE": "UPDATE audit_entry SET amount = 0, actor_id = NULL WHERE reference_id = %s",
        "DELETE": "DELETE FROM audit_entry WHERE reference_id = %s",
        "TRUNCATE": "TRUNCATE audit_entry",
    }
    snapshot = "SELECT id, event, amount, actor_id FROM audit_entry WHERE reference_id = %s ORDER BY id"
    with connect(ctx) as db:
        before = db.execute(snapshot, [payment_id]).fetchall()
        total_before = db.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    checks.expect(len(before) == 2, "two records to attack (payment, reversal)", f"{len(before)}")
    for verb, sql in statements.items():
        # Never autocommit: whatever happens, the transaction is rolled back.
        with psycopg.connect(ctx.database_url, connect_timeout=5) as db:
            try:
                db.execute(sql, [payment_id] if "%s" in sql else [])
                refused, message = False, "it went through (rolled back)"
            except psycopg.Error as exc:
                refused, message = "append-only" in str(exc), str(exc).splitlines()[0]
            finally:
                db.rollback()
        checks.expect(refused, f"{verb} of audit rows refused by the database", message)
    with connect(ctx) as db:
        after = db.execute(snapshot, [payment_id]).fetchall()
        total_after = db.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    checks.expect(after == before, "the attacked rows read back unchanged")
    checks.expect(total_after >= total_before, "no record lost", f"{total_before} -> {total_after}")
    return checks.into(
        Result(
            SECTION,
            "UPDATE, DELETE and TRUNCATE of audit_entry straight in PostgreSQL",
            details=[f"{len(statements)} statements tried, trail of {total_after} records"],
        )
    )


def one_record_per_effect(ctx: Context) -> Result:
    checks = Checks()
    with connect(ctx) as db:
        payments, reversed_ = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'reversed') FROM payments_payment"
        ).fetchone()
        registered_off = db.execute(
            """
            SELECT count(*) FROM payments_payment p
            WHERE (SELECT count(*) FROM audit_entry e
                   WHERE e.reference_id = p.id AND e.event = 'payment_registered') <> 1
            """
        ).fetchone()[0]
        reversed_off = db.execute(
            """
            SELECT count(*) FROM payments_payment p
            WHERE (SELECT count(*) FROM audit_entry e WHERE e.reference_id = p.id AND e.event = 'payment_reversed')
                  <> CASE WHEN p.status = 'reversed' THEN 1 ELSE 0 END
            """
        ).fetchone()[0]
        orphans = db.execute(
            """
            SELECT count(*) FROM audit_entry e
            WHERE e.event IN ('payment_registered', 'payment_reversed')
              AND NOT EXISTS (SELECT 1 FROM payments_payment p WHERE p.id = e.reference_id)
            """
        ).fetchone()[0]
        records = db.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    checks.expect(registered_off == 0, "every payment has exactly one payment_registered record", f"{registered_off}")
    checks.expect(reversed_off == 0, "every reversed payment exactly one payment_reversed record", f"{reversed_off}")
    checks.expect(orphans == 0, "no payment record without its payment (refused ones left none)", f"{orphans}")
    return checks.into(
        Result(
            SECTION,
            "whole book: one audit record per payment and per reversal, none for refused ones",
            details=[f"{payments} payments ({reversed_} reversed), {records} audit records in the trail"],
        )
    )


def run(ctx: Context) -> list[Result]:
    recorded, payment_id = recorded_over_http(ctx)
    results = [recorded]
    if payment_id:
        results.append(refused_by_the_database(ctx, payment_id))
    results.append(one_record_per_effect(ctx))
    return results
