"""Every SQL fragment of a domain rule (adapters.sql.rules), evaluated by the real PostgreSQL and
compared with what the domain says on many values: open states with `CreditState`, an
installment's money with `Installment`, days past due and aging buckets with
`Credit.delinquency_on` and `bucket_for`, the late fee with `LateFeePolicy`, half-even rounding
with `Money`'s rounding. One round trip per test: the cases go in as a VALUES list.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from uuid import uuid4

import pytest
from django.db import connection

from adapters.sql import rules
from adapters.sql.rules import (
    OPEN_STATES_SQL,
    amount_sql,
    bucket_sql,
    days_past_due_sql,
    due_sql,
    fees_sql,
    half_even_sql,
    minor_unit_scale_sql,
    oldest_past_due_sql,
    open_sql,
    outstanding_sql,
    paid_sql,
    scheduled_outstanding_sql,
)
from domain.analytics.model import CreditFigures
from domain.catalog.rules import MAX_MINOR_UNITS, MIN_MINOR_UNITS
from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.model import OPEN_STATES, Credit, CreditState, Installment
from domain.credits.schedule import InterestMethod, Periodicity
from domain.payments.late_fees import LateFeePolicy
from domain.shared.aging import BUCKET_BOUNDS, bucket_for
from domain.shared.money import Currency, Money, total

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

_INSTALLMENT_COLUMNS = (
    "n",
    "due_date",
    "principal",
    "interest",
    "adjustment",
    "late_fee",
    "late_fee_waived",
    "paid_principal",
    "paid_interest",
    "paid_late_fee",
    "minor_units",
)


def _rows(sql: str, params: object = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _values(rows: list[tuple[object, ...]], types: tuple[str, ...]) -> str:
    """`(VALUES ...)` with the rows rendered in (so named parameters can follow)."""
    row = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    with connection.cursor() as cursor:
        return cursor.mogrify(f"(VALUES {', '.join([row] * len(rows))})", [x for r in rows for x in r])


# --- open states ---------------------------------------------------------------------------------


def test_open_sql_is_true_exactly_for_the_open_credit_states() -> None:
    states = list(CreditState)
    source = _values([(s.value,) for s in states], ("text",))
    got = _rows(f"SELECT c.state, {open_sql('c')} FROM {source} AS c (state)")
    assert got == [(s.value, s.is_open) for s in states]
    # Analytics reads states as strings: the same states are open there.
    assert [s.value for s in states if _figures_row(s.value).is_open] == [s.value for s in OPEN_STATES]
    assert OPEN_STATES_SQL == "('active', 'defaulted')"  # the list the partial index is declared with


def _figures_row(state: str) -> CreditFigures:
    zero = Money.zero(Currency.of("COP"))
    return CreditFigures(uuid4(), 1, None, state, zero, zero, zero, zero, None, None, 0, False)


def test_open_sql_uses_the_partial_index_of_open_credits() -> None:
    """The fragment states the index's own predicate, so the planner can read the index (a copy
    listing the states in another way or order could lose it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT c.id FROM credits_credit c WHERE {open_sql('c')} ORDER BY c.id LIMIT 10")
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "credit_open_id_idx" in plan, plan


# --- an installment's money ----------------------------------------------------------------------


def _random_installments(rng: random.Random, count: int) -> list[Installment]:
    """Installments in currencies with 0, 2 and 3 decimals, with adjustments of either sign, fees
    charged, waived and paid, and partial payments: arithmetic, not constraints, is under test."""
    items = []
    for n in range(count):
        currency = rng.choice((Currency.of("COP"), Currency.of("CLP"), Currency.of("KWD")))

        def m(low: int, high: int, currency: Currency = currency) -> Money:
            return Money.from_minor(rng.randrange(low, high), currency)

        principal, interest, fee = m(0, 10**12), m(0, 10**10), m(0, 10**8)
        items.append(
            Installment(
                id=uuid4(),
                credit_id=uuid4(),
                number=n,
                due_date=date(2026, 1, 1) + timedelta(days=rng.randrange(0, 400)),
                principal=principal,
                interest=interest,
                adjustment=m(-(10**9), 10**9),
                late_fee=fee,
                late_fee_waived=Money.from_minor(rng.randrange(0, fee.minor + 1), currency),
                paid_principal=Money.from_minor(rng.randrange(0, principal.minor + 1), currency),
                paid_interest=Money.from_minor(rng.randrange(0, interest.minor + 1), currency),
                paid_late_fee=m(0, 10**6),
            )
        )
    return items


def _installment_source(items: list[Installment]) -> str:
    rows = [
        (
            n,
            i.due_date,
            *(
                getattr(i, column).amount
                for column in _INSTALLMENT_COLUMNS[2:-1]  # the money columns, as stored
            ),
            i.currency.minor_units,
        )
        for n, i in enumerate(items)
    ]
    types = ("int", "date", *["numeric(20,4)"] * 8, "int")
    return f"SELECT v.* FROM {_values(rows, types)} AS v ({', '.join(_INSTALLMENT_COLUMNS)})"


def test_installment_fragments_equal_the_domain_installment() -> None:
    items = _random_installments(random.Random(13), 600)
    items.append(Installment.scheduled(  # a fresh one: nothing paid, nothing charged
        id=uuid4(), credit_id=uuid4(), number=0, due_date=date(2026, 1, 1),
        principal=Money(Decimal("100.00"), Currency.of("COP")), interest=Money(Decimal("1.50"), Currency.of("COP")),
    ))  # fmt: skip
    fragments = (amount_sql("i"), due_sql("i"), paid_sql("i"), scheduled_outstanding_sql("i"), outstanding_sql("i"))
    got = _rows(f"SELECT {', '.join(fragments)} FROM ({_installment_source(items)}) i ORDER BY i.n")
    for item, (amount, due, paid, scheduled, outstanding) in zip(items, got, strict=True):
        c = item.currency
        assert Money(amount, c) == item.amount
        assert Money(due, c) == item.amount + item.late_fee  # Credit.total_due, per installment
        assert Money(paid, c) == item.paid
        assert Money(scheduled, c) == item.scheduled_outstanding
        assert Money(outstanding, c) == item.outstanding


def test_fragments_take_any_alias() -> None:
    assert outstanding_sql("i2").count("i2.") == 8 and "i." not in outstanding_sql("i2")
    assert open_sql("w") == f"(w.state IN {OPEN_STATES_SQL})"


# --- days past due ------------------------------------------------------------------------------


def _random_credit(rng: random.Random, k: int) -> Credit:
    """A credit of one to six monthly installments, some settled, some paid in part."""
    cop = Currency.of("COP")
    credit_id, first = uuid4(), date(2026, 1, 1) + timedelta(days=rng.randrange(0, 300))
    installments = []
    for n in range(rng.randrange(1, 7)):
        inst = Installment.scheduled(
            id=uuid4(),
            credit_id=credit_id,
            number=n + 1,
            due_date=first + timedelta(days=30 * n),
            principal=Money.from_minor(rng.randrange(1, 10**6), cop),
            interest=Money.from_minor(rng.randrange(0, 10**4), cop),
        )
        if rng.random() < 0.4:  # settled
            inst.paid_principal, inst.paid_interest = inst.principal_due, inst.interest
        elif rng.random() < 0.3:  # paid in part
            inst.paid_interest = inst.interest
        installments.append(inst)
    price = total((i.amount for i in installments), cop)
    return Credit(
        id=credit_id,
        user_id=k,
        agent_id=None,
        price=price,
        cost=price,
        subcategory_id=None,
        periodicity=Periodicity.MONTHLY,
        interest_method=InterestMethod.FLAT_MARKUP,
        annual_rate=Decimal("0.2"),
        opened_on=first - timedelta(days=30),
        state=CreditState.ACTIVE,
        installments=installments,
    )


def test_days_past_due_fragments_equal_the_domain_delinquency() -> None:
    as_of, policy = date(2026, 9, 1), DelinquencyPolicy()
    credits = [_random_credit(random.Random(19 + k), k) for k in range(300)]
    rows = [(k, i.due_date, i.is_settled) for k, c in enumerate(credits) for i in c.installments]
    source = _values(rows, ("int", "date", "boolean"))
    days = days_past_due_sql(oldest_past_due_sql("%(as_of)s"), "%(as_of)s")
    source += " AS i (k, due_date, is_settled)"
    got = _rows(f"SELECT i.k, {days}, {bucket_sql(days)} FROM {source} GROUP BY i.k ORDER BY i.k", {"as_of": as_of})
    expected = [
        (k, d.days_past_due, d.bucket.value) for k, d in enumerate(c.delinquency_on(as_of, policy) for c in credits)
    ]
    assert got == expected
    assert {d for _, d, _ in got} - {0} and 0 in {d for _, d, _ in got}  # both cases are there


# --- aging ---------------------------------------------------------------------------------------


def test_bucket_sql_equals_bucket_for() -> None:
    got = _rows(f"SELECT d, {bucket_sql('d')} FROM generate_series(-2, 400) AS d")
    assert all(bucket == bucket_for(d).value for d, bucket in got)
    # Every bound and its neighbours, whatever the bounds are.
    days = sorted({d + k for d, _ in BUCKET_BOUNDS for k in (-1, 0, 1)})
    got = _rows(f"SELECT d, {bucket_sql('d')} FROM unnest(%s::int[]) AS d", [days])
    assert got == [(d, bucket_for(d).value) for d in days]


# --- rounding ------------------------------------------------------------------------------------


def test_half_even_sql_rounds_ties_to_even_exactly() -> None:
    rng = random.Random(7)
    cases = [(Decimal(n) / 2, Decimal(1)) for n in range(0, 12)]  # 0, 0.5, 1, 1.5, ... every tie
    cases += [(Decimal(2001), Decimal(2)), (Decimal(2003), Decimal(2)), (Decimal("1000.5"), Decimal(1))]
    cases += [
        (Decimal(rng.randrange(0, 10**9)) / 10 ** rng.randrange(0, 7), Decimal(rng.randrange(1, 100)))
        for _ in range(500)
    ]
    values = ", ".join(["(%s::numeric, %s::numeric)"] * len(cases))
    got = _rows(
        f"SELECT {half_even_sql('v.n', 'v.d')} FROM (VALUES {values}) AS v (n, d)", [x for c in cases for x in c]
    )
    for (n, d), (result,) in zip(cases, got, strict=True):
        exact = Fraction(n) / Fraction(d)
        expected = Decimal(exact.numerator) / Decimal(exact.denominator)
        assert result == expected.quantize(Decimal(1), ROUND_HALF_EVEN), (n, d)
    # PostgreSQL's own round() rounds 0.5 away from zero: the reason half_even_sql exists.
    assert _rows("SELECT round(0.5), round(2.5)") == [(Decimal(1), Decimal(3))]


def test_half_even_sql_equals_money_rounding_to_minor_units() -> None:
    """`half_even_sql(value * 10^minor units, 1) / 10^minor units` is `Money.rounded`."""
    rng = random.Random(11)
    currencies = [Currency.of("CLP"), Currency.of("COP"), Currency.of("KWD")]
    cases = [(c, Decimal(rng.randrange(0, 10**12)) / 10 ** rng.randrange(0, 9)) for c in currencies for _ in range(300)]
    cases += [(c, Decimal(k) / 2 / 10**c.minor_units) for c in currencies for k in range(0, 20)]  # the ties
    source = _values([(value, c.minor_units) for c, value in cases], ("numeric", "int"))
    scale = minor_unit_scale_sql("v.minor_units")
    got = _rows(f"SELECT {half_even_sql(f'v.value * {scale}', '1')} / {scale} FROM {source} AS v (value, minor_units)")
    for (currency, value), (result,) in zip(cases, got, strict=True):
        assert Money.rounded(result, currency) == Money.rounded(value, currency), (currency.code, value)
        assert result == Money.rounded(value, currency).amount, (currency.code, value)


def test_minor_unit_scale_sql_covers_every_allowed_number_of_minor_units() -> None:
    units = list(range(MIN_MINOR_UNITS, MAX_MINOR_UNITS + 1))
    got = _rows(f"SELECT u, {minor_unit_scale_sql('u')} FROM unnest(%s::int[]) AS u", [units])
    assert got == [(u, 10**u) for u in units]
    assert all(isinstance(s, int) for _, s in got)  # exact integers, not numeric with decimals


# --- late fees -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "cap_share", "grace"), [("0.05", "0.50", 3), ("0.07", "0.35", 0), ("0.0333", "1", 5), ("0.05", "0", 3)]
)
def test_fee_sql_equals_late_fee_policy(rate: str, cap_share: str, grace: int) -> None:
    policy = LateFeePolicy(grace_days=grace, monthly_rate=Decimal(rate), cap_share=Decimal(cap_share))
    as_of = date(2026, 3, 31)
    rng = random.Random(f"{rate}{cap_share}")
    cases: list[tuple[Currency, int, int, int]] = []
    for currency in (Currency.of("COP"), Currency.of("CLP"), Currency.of("KWD")):
        # Half-unit ties at 5 %: base * 12 days / 600 = k + 1/2 (3000.5 -> 3000, 3001.5 -> 3002), and
        # on the cap with an odd amount (1001 * 50 % = 500.5 -> 500).
        cases += [(currency, 150025, 150025, 12), (currency, 150075, 150075, 12), (currency, 1001, 1001, 400)]
        for _ in range(150):
            amount = rng.randrange(1, 10**9)
            cases.append((currency, rng.randrange(1, amount + 1), amount, rng.randrange(grace + 1, 900)))
    values = ", ".join(["(%s::int, %s::numeric, %s::numeric, %s::date, %s::int)"] * len(cases))
    params = {
        "as_of": as_of,
        "rate": policy.monthly_rate,
        "cap_share": policy.cap_share,
        "days_per_month": policy.days_per_month,
    }
    flat: list[object] = []
    for n, (currency, base, amount, days) in enumerate(cases):
        flat += [n, Money.from_minor(base, currency).amount, Money.from_minor(amount, currency).amount]
        flat += [as_of - timedelta(days=days), currency.minor_units]
    # Positional placeholders for the rows, named ones for the policy: render the rows first.
    with connection.cursor() as cursor:
        rendered = cursor.mogrify(f"(VALUES {values})", flat)
    source = f"SELECT v.* FROM {rendered} AS v (n, base, amount, due_date, minor_units)"
    got = _rows(f"SELECT f.fee FROM ({fees_sql(source)}) f ORDER BY f.n", params)
    for (currency, base, amount, days), (fee,) in zip(cases, got, strict=True):
        expected = policy.accrued(
            base=Money.from_minor(base, currency), amount=Money.from_minor(amount, currency), days_late=days
        )
        assert Money(fee, currency) == expected, (currency.code, base, amount, days)


def test_fee_sql_on_installment_fragments_equals_charge_due() -> None:
    """The fragments together, as the nightly job combines them: the base and the amount from an
    installment's columns, the fee from the policy, the charge `fee - late_fee` when positive."""
    policy = LateFeePolicy()
    as_of = date(2027, 3, 1)
    items = _random_installments(random.Random(17), 400)
    source = f"""
        SELECT i.n, i.due_date, i.minor_units, i.late_fee,
               {scheduled_outstanding_sql("i")} AS base, {amount_sql("i")} AS amount
        FROM ({_installment_source(items)}) i
        WHERE i.due_date < %(as_of)s::date - %(grace_days)s::int AND {scheduled_outstanding_sql("i")} > 0
    """
    params = {
        "as_of": as_of,
        "grace_days": policy.grace_days,
        "rate": policy.monthly_rate,
        "cap_share": policy.cap_share,
        "days_per_month": policy.days_per_month,
    }
    got = dict(_rows(f"SELECT f.n, greatest(f.fee - f.late_fee, 0) FROM ({fees_sql(source)}) f", params))
    assert len(got) > 100  # most of them are late and owe something
    for n, item in enumerate(items):
        assert Money(got.get(n, Decimal(0)), item.currency) == policy.charge_due(item, as_of), n


def test_every_fragment_is_listed_in_the_module() -> None:
    """A new fragment gets a test here: the module's public functions are the ones tested above."""
    public = {name for name in vars(rules) if name.endswith("_sql") and not name.startswith("_")}
    assert public == {
        "open_sql",
        "amount_sql",
        "due_sql",
        "paid_sql",
        "scheduled_outstanding_sql",
        "outstanding_sql",
        "oldest_past_due_sql",
        "days_past_due_sql",
        "bucket_sql",
        "tie_to_even_sql",
        "half_even_sql",
        "minor_unit_scale_sql",
        "fees_sql",
    }
