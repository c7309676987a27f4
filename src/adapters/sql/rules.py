"""The SQL fragments of domain rules: each is written once here, read from the domain's own
statement of the rule where it has one, and checked against the domain by the real PostgreSQL
(tests/integration/test_sql_rules.py).

- open states: `OPEN_STATES_SQL`, `open_sql(alias)` (`CreditState.is_open`);
- an installment's money (`domain.credits.model.Installment`): `amount_sql`, `due_sql`, `paid_sql`,
  `scheduled_outstanding_sql`, `outstanding_sql`, each on a table alias;
- days past due: `oldest_past_due_sql`, `days_past_due_sql` (`Credit.delinquency_on`);
- aging: `bucket_sql(days)` (`domain.shared.aging.bucket_for`, from `BUCKET_BOUNDS`);
- late fees: `fees_sql(source)` (`LateFeePolicy.accrued`), with its exact half-even rounding
  (`half_even_sql`, `tie_to_even_sql`) since PostgreSQL's `round()` rounds ties away from zero.

A fragment is an expression in parentheses, safe to put inside any other expression. Aliases and
column expressions are code, never user input.
"""

from __future__ import annotations

from domain.catalog.rules import MAX_MINOR_UNITS, MIN_MINOR_UNITS
from domain.credits.model import OPEN_STATES
from domain.shared.aging import BUCKET_BOUNDS, OLDEST_BUCKET

# --- open states -------------------------------------------------------------------------------

# `('active', 'defaulted')`, in CreditState's order: the partial index `credit_open_id_idx` is
# declared with the same list, and a query must state it to use the index.
OPEN_STATES_SQL = "(" + ", ".join(f"'{state.value}'" for state in OPEN_STATES) + ")"


def open_sql(alias: str = "c") -> str:
    """True where the credit row `alias` is open (`CreditState.is_open`)."""
    return f"({alias}.state IN {OPEN_STATES_SQL})"


# --- an installment's money --------------------------------------------------------------------


def _signed_sum(alias: str, plus: tuple[str, ...], minus: tuple[str, ...] = ()) -> str:
    terms = " + ".join(f"{alias}.{column}" for column in plus)
    return "(" + terms + "".join(f" - {alias}.{column}" for column in minus) + ")"


_AMOUNT = ("principal", "adjustment", "interest")
_PAID = ("paid_principal", "paid_interest", "paid_late_fee")


def amount_sql(alias: str = "i") -> str:
    """`Installment.amount`: what it asks for, late fees aside (principal as adjusted + interest)."""
    return _signed_sum(alias, _AMOUNT)


def due_sql(alias: str = "i") -> str:
    """Everything ever asked of the client on it (`Credit.total_due` per installment): the
    amount and every late fee charged, waived or not."""
    return _signed_sum(alias, (*_AMOUNT, "late_fee"))


def paid_sql(alias: str = "i") -> str:
    """`Installment.paid`: what payments covered."""
    return _signed_sum(alias, _PAID)


def scheduled_outstanding_sql(alias: str = "i") -> str:
    """`Installment.scheduled_outstanding`: principal and interest still owed (the base late
    fees accrue on: no fee on fees)."""
    return _signed_sum(alias, _AMOUNT, ("paid_principal", "paid_interest"))


def outstanding_sql(alias: str = "i") -> str:
    """`Installment.outstanding`: what it still asks for (fees net of waivers, less what was paid)."""
    return _signed_sum(alias, (*_AMOUNT, "late_fee"), ("late_fee_waived", *_PAID))


# --- days past due ------------------------------------------------------------------------------


def oldest_past_due_sql(as_of: str, alias: str = "i") -> str:
    """An aggregate over a credit's installment rows `alias`: the due date of the oldest one
    still owed and past due on `as_of` (NULL when none is), where `Credit.delinquency_on` counts
    the days past due from."""
    return f"(min({alias}.due_date) FILTER (WHERE NOT {alias}.is_settled AND {alias}.due_date < {as_of}))"


def days_past_due_sql(oldest: str, as_of: str) -> str:
    """`Delinquency.days_past_due` on `as_of` from the `oldest_past_due_sql` date: 0 when nothing
    is past due."""
    return f"COALESCE({as_of}::date - {oldest}, 0)"


# --- aging -------------------------------------------------------------------------------------


def bucket_sql(days: str) -> str:
    """`domain.shared.aging.bucket_for` of the integer expression `days`."""
    whens = " ".join(f"WHEN {days} <= {int(last_day)} THEN '{bucket.value}'" for last_day, bucket in BUCKET_BOUNDS)
    return f"(CASE {whens} ELSE '{OLDEST_BUCKET.value}' END)"


# --- rounding ----------------------------------------------------------------------------------


def tie_to_even_sql(q: str, r: str, d: str) -> str:
    """`n / d` rounded half to even, from the truncated quotient `q` and the exact remainder
    `r = n - q * d` (for `n >= 0`, `d > 0`): up when `2r > d`, to the even neighbour when `2r = d`."""
    return f"({q} + CASE sign(2 * {r} - ({d})) WHEN 1 THEN 1 WHEN 0 THEN mod({q}, 2) ELSE 0 END)"


def half_even_sql(n: str, d: str) -> str:
    """SQL for `n / d` rounded half to even to an integer, for numeric `n >= 0` and `d > 0`
    (`domain.shared.money.ROUNDING`).

    `div` truncates and numeric multiplication and subtraction are exact, so the tie test
    `2 * remainder = d` is exact too; PostgreSQL's `round()` would round ties away from zero.
    """
    q = f"div({n}, {d})"
    return tie_to_even_sql(q, f"({n} - {q} * ({d}))", d)


def minor_unit_scale_sql(minor_units: str) -> str:
    """10^`minor_units` as an exact integer for every number of minor units a currency may have;
    `power()` would carry 16 decimals into every product and division after it."""
    whens = " ".join(f"WHEN {n} THEN {10**n}" for n in range(MIN_MINOR_UNITS, MAX_MINOR_UNITS + 1))
    return f"(CASE {minor_units} {whens} END)"


# --- late fees ---------------------------------------------------------------------------------


def fees_sql(source: str) -> str:
    """`LateFeePolicy.accrued` in SQL: every column of `source` (which has `base`, `amount`,
    `due_date` and `minor_units`) plus `fee`, what the installment carries as of `%(as_of)s`,
    with the policy's `%(rate)s`, `%(cap_share)s` and `%(days_per_month)s` as parameters.

    Only meaningful where the days late exceed the grace days and the base is positive (the
    callers' WHERE). Each step is fenced with OFFSET 0 so its values are computed once per row: a
    merged subquery would evaluate an expression once per reference.

    The fee is `base * rate * days / days_per_month` and the cap `amount * cap_share`, each in
    minor units (times `s` = 10^minor units) rounded half-even: `n / d` as an integer quotient with
    `div` and the tie broken to the even quotient. Python's Decimal divides at 28 significant
    digits before quantizing, which could only differ if that division turned a non-tie into a
    tie; with a denominator of 30 * 10^k the expansion repeats 3s or 6s, never the 9s or 0s that
    would need, so both give the same figure.
    """
    dpm = "%(days_per_month)s"
    accrued = tie_to_even_sql("q.qa", f"(q.accrued_n - q.qa * {dpm})", dpm)
    cap = tie_to_even_sql("q.qc", "(q.cap_n - q.qc)", "1")
    return f"""
    SELECT q.*, round(least({accrued}, {cap}) / q.s, q.minor_units) AS fee
    FROM (
        SELECT n.*, div(n.accrued_n, {dpm}) AS qa, trunc(n.cap_n) AS qc
        FROM (
            SELECT src.*, k.s,
                   src.base * %(rate)s * (%(as_of)s::date - src.due_date) * k.s AS accrued_n,
                   src.amount * %(cap_share)s * k.s AS cap_n
            FROM ({source}) src
            CROSS JOIN LATERAL (SELECT {minor_unit_scale_sql("src.minor_units")} AS s) k
            OFFSET 0
        ) n
        OFFSET 0
    ) q
    OFFSET 0
    """
