"""The generator's rows are a pure function of the plan: a small fixed book (level 1 x 0.05, seed 7,
two batches, fixed catalog ids, policies and business date) hashes to the digest the generator gave
before its credit history was split into named steps. A change that moves one byte fails here."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from domain.credits.delinquency import DelinquencyPolicy
from domain.payments.late_fees import LateFeePolicy
from tools.bookgen import plan as shapes
from tools.bookgen.book import TABLES, Batch, Catalog, Context
from tools.bookgen.plan import Plan

AS_OF = date(2026, 6, 30)
HOLIDAYS = [(1, 1), (5, 1), (7, 20), (8, 7), (12, 8), (12, 25)]
# sha256 over every table's rows, in load order, of both batches (computed on the code before the split).
EXPECTED_DIGEST = "4b01b23444abe42f64a3d78e6f8423879853c9fa47ffb0a572bbe7207e5d7c32"
EXPECTED_ROWS = {
    "credits_credit": 2500,
    "credits_installment": 17615,
    "credits_event": 2764,
    "ledger_transaction": 14190,
    "ledger_posting": 44737,
    "payments_payment": 9732,
    "payments_line": 23891,
    "payments_allocation": 18329,
    "payments_fee_waiver": 121,
}


def _context() -> Context:
    plan = Plan.build(level=1, scale=0.05, seed=7, today=AS_OF, user_id_base=100)
    weighted = zip(shapes.SUBCATEGORIES, shapes.SUBCATEGORY_WEIGHTS, strict=True)
    subcategories = [(number, tier) for number, ((_, _, tier), weight) in enumerate(weighted, 1) for _ in range(weight)]
    catalog = Catalog(
        subcategories=subcategories,
        accounts={"COP": list(range(1, 12)), "USD": [12, 13, 14]},
        skip={"daily": (True, True), "weekly": (False, False), "biweekly": (False, False), "monthly": (False, False)},
        holidays=frozenset(date(y, m, d) for y in range(2022, 2031) for m, d in HOLIDAYS),
    )
    late_fees = LateFeePolicy(grace_days=3, monthly_rate=Decimal("0.05"), cap_share=Decimal("0.50"))
    delinquency = DelinquencyPolicy(default_after_days=90)
    return Context(plan, catalog, late_fees, delinquency, ZoneInfo("America/Bogota"))


TX_COLUMNS_BEFORE_AMOUNT = 13  # ledger_transaction's amount and currency came after the digest


def _without_amount(row: str) -> str:
    return "\t".join(row.rstrip("\n").split("\t")[:TX_COLUMNS_BEFORE_AMOUNT]) + "\n"


def _generate() -> tuple[str, dict[str, int], dict[str, list[str]]]:
    ctx = _context()
    digest = hashlib.sha256()
    counts = dict.fromkeys(TABLES, 0)
    every: dict[str, list[str]] = {table: [] for table in TABLES}
    for batch in range(ctx.plan.batches):
        rows = Batch(ctx, batch).generate()
        for table in TABLES:
            digest.update(f"{batch}:{table}\n".encode())
            hashed = [_without_amount(r) for r in rows[table]] if table == "ledger_transaction" else rows[table]
            digest.update("".join(hashed).encode())
            counts[table] += len(rows[table])
            every[table] += rows[table]
    return digest.hexdigest(), counts, every


def test_a_fixed_plan_generates_the_same_rows_byte_for_byte() -> None:
    digest, counts, rows = _generate()
    assert counts == EXPECTED_ROWS
    assert digest == EXPECTED_DIGEST
    # The two columns added since: each transaction's amount is its debits (`Transaction.amount`).
    debits: dict[str, tuple[Decimal, str]] = {}
    for row in rows["ledger_posting"]:
        _, _, tid, _, side, amount, code = row.rstrip("\n").split("\t")
        if side == "debit":
            before = debits.get(tid, (Decimal(0), code))[0]
            debits[tid] = (before + Decimal(amount), code)
    stored = {}
    for row in rows["ledger_transaction"]:
        fields = row.rstrip("\n").split("\t")
        stored[fields[0]] = (Decimal(fields[13]), fields[14])
    assert stored == debits
