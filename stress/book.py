"""The book's invariants, checked straight in the database after a scenario (read only).

- per credit: no installment paid beyond what it owes, pending = due - paid (per installment and
  credit; the API's figure too), the posted payments add up to what the installments were paid,
  every payment the API confirmed has its row, each of this credit's transactions balances per
  currency;
- the whole book: `manage.py check_book` (ledger balanced per transaction and in total, receivable
  = pending, paid = allocations, lines = payment, reversals pair up, history replays through the
  domain).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg

from stress.core import Context, Result

ROOT = Path(__file__).resolve().parents[1]
DUE = "(principal + adjustment + interest + late_fee - late_fee_waived)"
PAID = "(paid_principal + paid_interest + paid_late_fee)"


@dataclass
class Checks:
    """Named expectations; each one passes or fails with a line saying why."""

    passed: int = 0
    failed: int = 0
    lines: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.lines.append(f"FAILED: {what}" + (f" ({detail})" if detail else ""))
        return ok

    def into(self, result: Result) -> Result:
        result.checks_passed += self.passed
        result.checks_failed += self.failed
        result.details.extend(self.lines)
        return result


def connect(ctx: Context) -> psycopg.Connection:
    return psycopg.connect(ctx.database_url, autocommit=True, connect_timeout=5)


def user_public_id(ctx: Context, username: str) -> str:
    with connect(ctx) as db:
        row = db.execute("SELECT public_id FROM identity_user WHERE username = %s", [username]).fetchone()
    if row is None:
        raise RuntimeError(f"no user {username} in the stack's book")
    return str(row[0])


def credit_figures(ctx: Context, credit_id: str) -> dict[str, Decimal]:
    with connect(ctx) as db:
        due, paid = db.execute(
            f"SELECT sum({DUE}), sum({PAID}) FROM credits_installment WHERE credit_id = %s",  # noqa: S608 - constant column expressions
            [credit_id],
        ).fetchone()
        posted = db.execute(
            "SELECT coalesce(sum(amount), 0) FROM payments_payment WHERE credit_id = %s AND status = 'posted'",
            [credit_id],
        ).fetchone()[0]
    return {"due": due, "paid": paid, "pending": due - paid, "posted": posted}


def check_credit(ctx: Context, checks: Checks, credit_id: str, *, api_pending: str | None = None) -> None:
    """The per-credit invariants (see the module docstring)."""
    with connect(ctx) as db:
        over = db.execute(
            f"SELECT number, {DUE}, {PAID} FROM credits_installment WHERE credit_id = %s "  # noqa: S608
            f"AND ({PAID} > {DUE} OR {PAID} < 0 OR paid_principal < 0 OR paid_interest < 0 OR paid_late_fee < 0)",
            [credit_id],
        ).fetchall()
        checks.expect(not over, f"credit {credit_id[:8]}: no installment paid beyond what it owes", f"{over}")
        settled = db.execute(
            f"SELECT count(*) FROM credits_installment WHERE credit_id = %s AND is_settled <> ({DUE} = {PAID})",  # noqa: S608
            [credit_id],
        ).fetchone()[0]
        checks.expect(settled == 0, f"credit {credit_id[:8]}: is_settled exactly when nothing is pending")
        unbalanced = db.execute(
            "SELECT t.id, p.currency, sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END) "
            "FROM ledger_transaction t JOIN ledger_posting p ON p.transaction_id = t.id "
            "AND p.occurred_on = t.occurred_on WHERE t.credit_id = %s GROUP BY t.id, p.currency "
            "HAVING sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END) <> 0",
            [credit_id],
        ).fetchall()
        checks.expect(
            not unbalanced, f"credit {credit_id[:8]}: every transaction balances per currency", f"{unbalanced}"
        )
    figures = credit_figures(ctx, credit_id)
    checks.expect(
        figures["posted"] == figures["paid"],
        f"credit {credit_id[:8]}: posted payments = paid on the installments",
        f"posted {figures['posted']}, paid {figures['paid']}",
    )
    checks.expect(figures["pending"] >= 0, f"credit {credit_id[:8]}: pending >= 0", f"{figures['pending']}")
    if api_pending is not None:
        checks.expect(
            Decimal(api_pending) == figures["pending"],
            f"credit {credit_id[:8]}: the API's pending = due - paid",
            f"API {api_pending}, due {figures['due']} - paid {figures['paid']} = {figures['pending']}",
        )


def check_payments_exist(ctx: Context, checks: Checks, payment_ids: list[str], what: str) -> None:
    """No lost payment: every payment the API confirmed (2xx) is in the table."""
    with connect(ctx) as db:
        found = db.execute("SELECT count(*) FROM payments_payment WHERE id = ANY(%s::uuid[])", [payment_ids]).fetchone()
    checks.expect(found[0] == len(set(payment_ids)), f"{what}: every confirmed payment has its row",
                  f"{found[0]} of {len(set(payment_ids))}")  # fmt: skip


def check_book(ctx: Context, checks: Checks, *, sample: int = 200) -> None:
    """`manage.py check_book` on the stack's database: one check per line it reports."""
    env = {**os.environ, **ctx.manage_env, "APP_ENV": "development", "DATABASE_URL": ctx.database_url}
    env.pop("DATABASE_REPLICA_URLS", None)  # the primary only: what was committed
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(ROOT / "manage.py"), "check_book", "--sample", str(sample)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    results = [line for line in lines if line.rstrip().endswith(" s") and not line.startswith(" ")]
    for line in results:
        checks.expect(" ok " in f" {line} ", f"check_book: {line.split('  ')[0].strip()}", line.strip())
    checks.expect(done.returncode == 0 and bool(results), "check_book: the book is consistent",
                  (done.stderr or done.stdout)[-500:])  # fmt: skip
