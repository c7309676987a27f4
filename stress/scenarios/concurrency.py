"""Concurrency over HTTP against the running stack: racing payments, one Idempotency-Key from many
threads, reversals racing payments (and each other), two staff paying the same installment.

Who may pay what (api/book_commands.py): an agent pays only credits of their own portfolio (anyone
else's is a 404), an admin pays any. So "two agents on one installment" is the credit's agent and
an admin at the same moment, with an agent of another portfolio trying too (refused, no effect).
After each scenario: no lost payment, no overpayment, one effect per key, every transaction
balanced, pending = due - paid, and `check_book` over the whole book.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from stress.book import Checks, check_book, check_credit, check_payments_exist, connect, user_public_id
from stress.client import Answer, Api, parallel
from stress.core import Context, Result

SECTION = "Concurrency"
ZONE = ZoneInfo("America/Bogota")  # settings.BUSINESS_TIME_ZONE's default: what "today" means


def business_today() -> date:
    return datetime.now(ZONE).date()


def cop(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "COP"}


@dataclass
class Desk:
    """Logged-in staff and what opening credits and paying them needs."""

    api: Api
    admin: str
    agent: str  # the portfolio's agent (agent1)
    other_agent: str  # an agent of another portfolio (agent2)
    client_ids: list[str]
    account: int  # a COP payment account

    @classmethod
    def open(cls, ctx: Context, api: Api) -> Desk:
        admin = api.login(ctx.admin, ctx.password)
        agent = api.login(ctx.agents[0], ctx.password)
        other = api.login(ctx.agents[1], ctx.password)
        accounts = api.get("/api/v1/payment-accounts?currency=COP", agent)
        if accounts.status != 200:
            raise RuntimeError(f"payment accounts: {accounts}")
        account = next(a["id"] for a in accounts.body["data"] if a["active"])
        return cls(api, admin, agent, other, [user_public_id(ctx, c) for c in ctx.clients], account)

    def open_credit(self, price: str, installments: int, client: int = 0) -> dict[str, Any]:
        body = {
            "client_id": self.client_ids[client % len(self.client_ids)],
            "price": cop(price),
            "cost": cop(f"{Decimal(price) / 2:.2f}"),
            "periodicity": "monthly",
            "installments": installments,
            "first_due_date": (business_today() + timedelta(days=30)).isoformat(),
            "interest_method": "zero_interest",
        }
        answer = self.api.post("/api/v1/credits", body, self.agent, key=uuid.uuid4().hex)
        if answer.status != 201:
            raise RuntimeError(f"open credit: {answer.status} {answer.body}")
        return answer.body

    def payment(self, amount: str, *, prepay: bool = False) -> dict[str, Any]:
        return {
            "amount": cop(amount),
            "lines": [{"payment_account_id": self.account, "amount": cop(amount)}],
            "prepay": prepay,
        }

    def pay(self, credit_id: str, amount: str, token: str, *, key: str | None = None, prepay: bool = False) -> Answer:
        return self.api.post(
            f"/api/v1/credits/{credit_id}/payments", self.payment(amount, prepay=prepay), token, key or uuid.uuid4().hex
        )

    def reverse(self, payment_id: str, key: str | None = None) -> Answer:
        return self.api.post(
            f"/api/v1/payments/{payment_id}/reversal",
            {"reason": "stress: bounced"},
            self.admin,
            key or uuid.uuid4().hex,
        )

    def api_pending(self, credit_id: str) -> str:
        answer = self.api.get(f"/api/v1/credits/{credit_id}", self.agent)
        if answer.status != 200:
            raise RuntimeError(f"credit {credit_id}: {answer.status} {answer.body}")
        return str(answer.body["pending"]["amount"])


def _result(name: str, api: Api, checks: Checks, details: list[str]) -> Result:
    result = Result(SECTION, name, requests=api.requests, errors_5xx=api.failures, details=details)
    result.details.append(f"answers by status: {api.status_line()}")
    return checks.into(result)


def racing_payments(ctx: Context, *, payers: int = 50, price: str = "1000.00", amount: str = "30.00") -> Result:
    """`payers` parallel payments (distinct keys, prepay) on one credit whose pending covers only some."""
    api, checks = Api(ctx.base_url), Checks()
    desk = Desk.open(ctx, api)
    credit = desk.open_credit(price, 4)
    fits = int(Decimal(price) // Decimal(amount))
    answers = parallel(range(payers), lambda _: desk.pay(credit["id"], amount, desk.agent, prepay=True), payers)
    paid = [a for a in answers if a.status == 201]
    refused = [a for a in answers if 400 <= a.status < 500]
    checks.expect(
        len(paid) == fits,
        f"exactly {fits} of {payers} payments accepted (what the pending covers)",
        f"{len(paid)} accepted",
    )
    checks.expect(len(refused) == payers - fits, "every other one refused with a 4xx", f"{len(refused)} refused")
    codes = sorted({a.body["error"]["code"] for a in refused if isinstance(a.body, dict) and "error" in a.body})
    checks.expect(all(a.status == 422 for a in refused), "the refusals are 422 overpayment_refused", f"{codes}")
    ids = [a.body["id"] for a in paid]
    checks.expect(len(set(ids)) == len(ids), "each accepted payment is its own payment")
    check_payments_exist(ctx, checks, ids, "racing payments")
    with connect(ctx) as db:
        rows = db.execute("SELECT count(*) FROM payments_payment WHERE credit_id = %s", [credit["id"]]).fetchone()[0]
    checks.expect(rows == len(paid), "no payment row beyond the accepted ones", f"{rows} rows")
    pending = desk.api_pending(credit["id"])
    expected = Decimal(price) - fits * Decimal(amount)
    checks.expect(Decimal(pending) == expected, f"pending = {price} - {fits} x {amount}", f"API says {pending}")
    check_credit(ctx, checks, credit["id"], api_pending=pending)
    check_book(ctx, checks)
    slowest = max(a.seconds for a in answers)
    details = [
        f"{payers} payments of {amount} COP at once on a credit of {price}: {len(paid)} accepted, "
        f"{len(refused)} refused ({', '.join(codes) or '-'}), pending after {pending}; slowest {slowest:.2f} s"
    ]
    return _result(f"{payers} parallel payments on one credit, pending covers {fits}", api, checks, details)


def _differences(bodies: list[str]) -> list[str]:
    """Where JSON bodies differ, field by field (first level and one below)."""
    parsed = [json.loads(b) for b in bodies]
    found = []
    for key in sorted(set().union(*(p.keys() for p in parsed if isinstance(p, dict)))):
        values = {json.dumps(p.get(key), sort_keys=True) for p in parsed}
        if len(values) > 1:
            found.append(f"{key}: {' vs '.join(sorted(values))[:300]}")
    return found or [f"{len(bodies)} distinct bodies"]


def one_key(ctx: Context, *, copies: int = 20) -> Result:
    """`copies` parallel requests with one Idempotency-Key and body: one payment, the same answer replayed."""
    api, checks = Api(ctx.base_url), Checks()
    desk = Desk.open(ctx, api)
    credit = desk.open_credit("800.00", 4)
    key = f"stress-{uuid.uuid4().hex}"
    answers = parallel(range(copies), lambda _: desk.pay(credit["id"], "50.00", desk.agent, key=key), copies)
    statuses = sorted({a.status for a in answers})
    checks.expect(all(a.status == 201 for a in answers), f"all {copies} answered 201", f"statuses {statuses}")
    ids = {a.body["id"] for a in answers if a.status == 201}
    checks.expect(len(ids) == 1, "one payment id in every answer", f"{len(ids)} ids")
    # Compared as JSON documents: a replay comes from a jsonb column, which keeps its own key order.
    bodies = sorted({json.dumps(a.body, sort_keys=True) for a in answers if a.status == 201})
    checks.expect(len(bodies) == 1, "the same body replayed to every caller", " / ".join(_differences(bodies)))
    replayed = sum(a.headers.get("idempotent-replayed") == "true" for a in answers)
    checks.expect(replayed == copies - 1, f"{copies - 1} answers marked Idempotent-Replayed", f"{replayed}")
    other = desk.pay(credit["id"], "60.00", desk.agent, key=key)
    checks.expect(other.status == 409, "the same key with another body is a 409", f"{other.status}")
    with connect(ctx) as db:
        rows = db.execute(
            "SELECT count(*) FROM payments_payment WHERE credit_id = %s AND idempotency_key LIKE %s",
            [credit["id"], f"%:{key}"],
        ).fetchone()[0]
        all_rows = db.execute("SELECT count(*) FROM payments_payment WHERE credit_id = %s", [credit["id"]]).fetchone()[
            0
        ]
        txs = db.execute(
            "SELECT count(*) FROM ledger_transaction WHERE credit_id = %s AND type = 'repayment'", [credit["id"]]
        ).fetchone()[0]
    checks.expect(
        rows == 1 and all_rows == 1, "exactly one payment row for the key", f"{rows} with the key, {all_rows} in all"
    )
    checks.expect(txs == 1, "exactly one repayment transaction", f"{txs}")
    check_payments_exist(ctx, checks, list(ids), "one key")
    check_credit(ctx, checks, credit["id"], api_pending=desk.api_pending(credit["id"]))
    check_book(ctx, checks)
    details = [
        f"{copies} identical requests at once: statuses {statuses}, {len(ids)} payment, {replayed} replays; "
        f"another body with the key: {other.status}"
    ]
    return _result(f"{copies} parallel requests with one Idempotency-Key", api, checks, details)


def reversal_races(ctx: Context, *, credits: int = 10) -> Result:
    """On each of `credits` credits with a payment P1: a reversal of P1, a second reversal of P1 and a
    new payment P2, all at once (3 x credits requests)."""
    api, checks = Api(ctx.base_url), Checks()
    desk = Desk.open(ctx, api)
    opened = [desk.open_credit("1000.00", 4, client=n) for n in range(credits)]
    first: list[dict[str, Any]] = []
    for credit in opened:
        answer = desk.pay(credit["id"], "250.00", desk.agent)
        if answer.status != 201:
            raise RuntimeError(f"first payment: {answer.status} {answer.body}")
        first.append(answer.body)
    jobs = [(kind, n) for n in range(credits) for kind in ("reverse", "reverse-again", "pay")]

    def act(job: tuple[str, int]) -> Answer:
        kind, n = job
        if kind == "pay":
            # Prepay: before the reversal lands, installment 1 is paid and installment 2 not due yet
            # ("due now" counts what was already paid); either order must then be accepted.
            return desk.pay(opened[n]["id"], "250.00", desk.agent, prepay=True)
        return desk.reverse(first[n]["id"])

    answers = dict(zip(jobs, parallel(jobs, act, len(jobs)), strict=True))
    second_ids = []
    for n, credit in enumerate(opened):
        reversals = [answers[("reverse", n)], answers[("reverse-again", n)]]
        won = [a for a in reversals if a.status == 200]
        lost = [a for a in reversals if a.status != 200]
        checks.expect(
            len(won) == 1 and all(a.status in (409, 422) for a in lost),
            f"credit {n}: exactly one of two racing reversals succeeds, the other 409/422",
            f"{[a.status for a in reversals]}",
        )
        payment = answers[("pay", n)]
        checks.expect(
            payment.status == 201, f"credit {n}: the payment racing the reversal is accepted", f"{payment.status}"
        )
        if payment.status == 201:
            second_ids.append(payment.body["id"])
        with connect(ctx) as db:
            status, tx, reversal_tx = db.execute(
                "SELECT status, transaction_id, reversal_transaction_id FROM payments_payment WHERE id = %s",
                [first[n]["id"]],
            ).fetchone()
            reversals_booked = db.execute(
                "SELECT count(*) FROM ledger_transaction WHERE reverses_id = %s", [tx]
            ).fetchone()[0]
        checks.expect(
            status == "reversed" and reversal_tx is not None and reversals_booked == 1,
            f"credit {n}: P1 reversed once (one compensating transaction)",
            f"status {status}, {reversals_booked} reversal transactions",
        )
        pending = desk.api_pending(credit["id"])
        checks.expect(
            Decimal(pending) == Decimal("750.00"), f"credit {n}: pending 750.00 (P1 undone, P2 kept)", pending
        )
        check_credit(ctx, checks, credit["id"], api_pending=pending)
    check_payments_exist(ctx, checks, second_ids, "payments racing reversals")
    check_book(ctx, checks)
    statuses = sorted({(k, a.status) for (k, _), a in answers.items()})
    details = [f"{credits} credits x (reversal, second reversal, new payment) at once: {statuses}"]
    return _result(f"a reversal racing a payment and another reversal ({credits} credits)", api, checks, details)


def same_installment(ctx: Context, *, credits: int = 10) -> Result:
    """Single-installment credits: the portfolio's agent and an admin both pay it in full at once, and
    an agent of another portfolio tries too."""
    api, checks = Api(ctx.base_url), Checks()
    desk = Desk.open(ctx, api)
    opened = [desk.open_credit("300.00", 1, client=n) for n in range(credits)]
    payers = {"agent": desk.agent, "admin": desk.admin, "other agent": desk.other_agent}
    jobs = [(who, n) for n in range(credits) for who in payers]
    results = parallel(jobs, lambda job: desk.pay(opened[job[1]]["id"], "300.00", payers[job[0]]), len(jobs))
    answers = dict(zip(jobs, results, strict=True))
    accepted_ids = []
    winners = {"agent": 0, "admin": 0}
    for n, credit in enumerate(opened):
        staff = [answers[("agent", n)], answers[("admin", n)]]
        won = [a for a in staff if a.status == 201]
        checks.expect(
            len(won) == 1,
            f"credit {n}: exactly one of agent and admin pays the installment",
            f"{[a.status for a in staff]}",
        )
        checks.expect(
            all(a.status in (201, 409) for a in staff), f"credit {n}: the other is refused (409 credit_not_open)"
        )
        for who in winners:
            winners[who] += answers[(who, n)].status == 201
        accepted_ids += [a.body["id"] for a in won]
        checks.expect(
            answers[("other agent", n)].status == 404,
            f"credit {n}: an agent of another portfolio gets 404",
            f"{answers[('other agent', n)].status}",
        )
        with connect(ctx) as db:
            rows, state = db.execute(
                "SELECT (SELECT count(*) FROM payments_payment WHERE credit_id = c.id), c.state "
                "FROM credits_credit c WHERE c.id = %s",
                [credit["id"]],
            ).fetchone()
        checks.expect(rows == 1 and state == "paid", f"credit {n}: one payment, credit paid", f"{rows} rows, {state}")
        pending = desk.api_pending(credit["id"])
        checks.expect(Decimal(pending) == 0, f"credit {n}: pending 0", pending)
        check_credit(ctx, checks, credit["id"], api_pending=pending)
    check_payments_exist(ctx, checks, accepted_ids, "same installment")
    check_book(ctx, checks)
    details = [
        f"{credits} one-installment credits, agent + admin + another portfolio's agent paying at once: "
        f"agent won {winners['agent']}, admin won {winners['admin']}; the other agent: 404 every time"
    ]
    return _result(f"two staff paying the same installment ({credits} credits)", api, checks, details)


def run(ctx: Context) -> list[Result]:
    return [racing_payments(ctx), one_key(ctx), reversal_races(ctx), same_installment(ctx)]
