"""The nightly delinquency job in SQL against the domain's rules.

The version-7 ids first (the rule fragments it shares with the read side, half-even rounding, the
late-fee formula, aging buckets, are tested in test_sql_rules.py); then a varied book (currencies
with 0, 2 and 3 decimals, every periodicity and interest method, partial payments, reversals,
waivers, adjustments, earlier runs, defaults and cures, rounding ties) where the SQL run must leave
every credit exactly as the domain's per-credit rules say, book the same ledger entries, keep the
book balanced, and change nothing when run a second time.
"""

from __future__ import annotations

import copy
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from adapters.db.partitioning import ensure_month_partitions
from adapters.jobs.nightly import UUID7_SQL, NightlyDelinquency, NightlyResult, refresh_one
from adapters.jobs.runners import upkeep_partitions
from config.bootstrap import build_ports
from domain.application import use_cases as services
from domain.application.ports import Actor, Policies
from domain.credits.model import Credit, CreditState
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger import entries
from domain.ledger.book import balances
from domain.ledger.model import Source, TransactionType
from domain.payments.late_fees import assess_late_fees
from domain.shared.money import Money
from tests.builders import business_today, open_credit, pay, ports_at, reload, reverse
from tests.factories import CurrencyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _rows(sql: str, params: object = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _history(credit: Credit) -> list[tuple]:
    """The credit's saved events as (kind, reason, amount, actor): a loaded credit carries none."""
    rows = _rows("SELECT kind, reason, amount, actor_id FROM credits_event WHERE credit_id = %s "
                 "ORDER BY occurred_at, id", [credit.id])  # fmt: skip
    return [(kind, reason, None if a is None else Money.stored(a, credit.currency), by) for kind, reason, a, by in rows]


# --- the SQL pieces ------------------------------------------------------------------------------


def test_uuid7_sql_makes_version_7_ids() -> None:
    ids = [
        uuid.UUID(str(r[0]))
        for r in _rows(f"SELECT {UUID7_SQL} FROM generate_series(1, 50)", {"now": "2026-01-02T03:04:05Z"})
    ]
    assert len(set(ids)) == 50
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}
    assert {i.int >> 80 for i in ids} == {1767323045000}  # the run's millisecond timestamp


# --- a varied book ------------------------------------------------------------------------------


def _policies() -> Policies:
    return build_ports().policies


def _nightly(chunk_size: int = 3) -> NightlyDelinquency:
    ports = build_ports()
    return NightlyDelinquency(
        ports.policies, chunk_size=chunk_size, fallback=lambda cid, day: refresh_one(ports, cid, day)
    )


def _domain_jobs(day: date) -> None:
    """The domain's reference run (late fees, then delinquency) as of an earlier date: history."""
    services.apply_late_fees(ports_at(day), as_of=day)
    services.recompute_delinquency(ports_at(day), as_of=day)


def _due_before(credit: Credit, day: date) -> str:
    owed = sum((i.outstanding.amount for i in credit.installments if i.due_date < day), Decimal(0))
    return f"{owed:f}"


@pytest.fixture
def book() -> dict[str, Credit]:
    """Credits of every kind, with history, as of the business date `T` (returned under "T")."""
    t = business_today()
    ensure_month_partitions(t - timedelta(days=430), t + timedelta(days=31))
    agent = UserFactory(role="agent")
    admin = UserFactory(role="admin")
    clients = [UserFactory() for _ in range(6)]

    def credit(n: int, **kw: object) -> Credit:
        return open_credit(clients[n % len(clients)], agent, **kw)  # type: ignore[arg-type]

    def single(price: str, currency: str, due: date) -> Credit:
        return credit(
            0,
            price=price,
            currency=currency,
            installments=1,
            method=InterestMethod.ZERO_INTEREST,
            annual_rate="0",
            on=due,
            first_due_date=due,
        )

    b: dict[str, Credit] = {}
    b["current"] = credit(0, on=t - timedelta(days=10))
    b["in_grace"] = credit(1, on=t - timedelta(days=32), first_due_date=t - timedelta(days=2))
    b["three_missed"] = credit(2, on=t - timedelta(days=100))
    b["partial"] = credit(3, on=t - timedelta(days=100), method=InterestMethod.EQUAL_PRINCIPAL)
    pay(b["partial"], "60.00", on=t - timedelta(days=50))
    b["capped"] = credit(4, price="900.00", on=t - timedelta(days=420), method=InterestMethod.FLAT_MARKUP)
    b["defaults_tonight"] = credit(5, on=t - timedelta(days=125))
    b["weekly"] = credit(
        5,
        periodicity=Periodicity.WEEKLY,
        installments=8,
        on=t - timedelta(days=60),
        first_due_date=t - timedelta(days=53),
    )
    b["daily"] = credit(0, periodicity=Periodicity.DAILY, installments=30, price="300.00", on=t - timedelta(days=20),
                        first_due_date=t - timedelta(days=19))  # fmt: skip
    b["biweekly_adjusted"] = credit(1, periodicity=Periodicity.BIWEEKLY, installments=6, on=t - timedelta(days=80))
    b["reversed"] = credit(2, on=t - timedelta(days=75))
    b["cured"] = credit(3, on=t - timedelta(days=200))
    b["caught_up"] = credit(4, on=t - timedelta(days=75))
    b["charged_before"] = credit(5, on=t - timedelta(days=100))
    b["base_lowered"] = credit(0, on=t - timedelta(days=100), price="2400.00")
    b["waived"] = credit(1, on=t - timedelta(days=100))
    b["stays_defaulted"] = credit(2, on=t - timedelta(days=300), currency="USD", price="500.00")
    b["paid_off"] = credit(3, on=t - timedelta(days=75))
    b["pending"] = credit(4, on=t - timedelta(days=100), disburse=False)
    b["clp"] = credit(5, on=t - timedelta(days=130), currency="CLP", price="1200000", installments=6)
    b["kwd"] = credit(0, on=t - timedelta(days=130), currency="KWD", price="1200.000", installments=6)
    # Rounding ties: 1500.75 * 5 % * 4 / 30 = 10.005 -> 10.00 (half-even), not 10.01; the CLP and
    # KWD ones tie at half a peso / half a fils; 10.01 * 50 % = 5.005 caps at 5.00, not 5.01.
    b["tie_cop"] = single("1500.75", "COP", t - timedelta(days=4))
    b["tie_clp"] = single("150075", "CLP", t - timedelta(days=4))
    b["tie_kwd"] = single("150.075", "KWD", t - timedelta(days=4))
    b["tie_cap"] = single("10.01", "USD", t - timedelta(days=400))

    adjust_on = t - timedelta(days=20)
    services.adjust_credit(
        ports_at(adjust_on), b["biweekly_adjusted"].id, Money.of("77.77", "COP"), "price correction",
        Actor(admin.id, Source.ADMIN),
    )  # fmt: skip
    reverse(pay(b["reversed"], "100.00", on=t - timedelta(days=30)), by=admin, on=t - timedelta(days=29))

    # An earlier nightly run (the domain's), then what clients did since.
    earlier = t - timedelta(days=40)
    _domain_jobs(earlier)
    assert reload(b["cured"]).state is CreditState.DEFAULTED
    assert reload(b["stays_defaulted"]).state is CreditState.DEFAULTED
    _domain_jobs(t - timedelta(days=20))
    lowered = reload(b["base_lowered"])
    pay(
        b["base_lowered"],
        f"{lowered.installments[0].outstanding.amount - Decimal('1.00'):f}",
        on=t - timedelta(days=10),
    )
    waived = reload(b["waived"])
    fee_owed = next(i for i in waived.installments if i.late_fee.is_positive)
    services.waive_fee(
        ports_at(t - timedelta(days=5)),
        services.RequestWaiver(fee_owed.id, Money.of("1.00", "COP"), "goodwill"),
        Actor(admin.id, Source.ADMIN),
    )
    pay(b["cured"], _due_before(reload(b["cured"]), t), on=t - timedelta(days=3))
    pay(b["caught_up"], _due_before(reload(b["caught_up"]), t), on=t - timedelta(days=3))
    pay(b["paid_off"], f"{reload(b['paid_off']).outstanding.amount:f}", on=t - timedelta(days=3), prepay=True)
    assert reload(b["paid_off"]).state is CreditState.PAID
    return {**b, "T": t}  # type: ignore[dict-item]


def _expected(credit: Credit, as_of: date, policies: Policies) -> tuple[Credit, Money | None, list]:
    """The domain's per-credit rules: late fees (`apply_late_fees`) then the snapshot."""
    expected = copy.deepcopy(credit)
    if not expected.state.is_open:
        return expected, None, []
    charges = assess_late_fees(expected.installments, as_of, policies.late_fees)
    for charge in charges:
        expected.charge_late_fee(charge.installment_id, charge.amount)
    known = len(expected.events)
    expected.refresh_delinquency(as_of, policies.delinquency, event_id=uuid.uuid4(), at=build_ports().clock.now())
    fee = sum((c.amount for c in charges), Money.zero(credit.currency)) if charges else None
    return expected, fee, expected.events[known:]


def _snapshot(credit: Credit) -> tuple:
    d = credit.delinquency
    return (credit.state, d.days_past_due, d.bucket, d.missed_installments, d.morosidad_level, d.is_in_default)


def _fee_transactions(credit_id: uuid.UUID, as_of: date) -> list:
    return [
        tx
        for tx in build_ports().transactions.stream()
        if tx.credit_id == credit_id and tx.type is TransactionType.LATE_FEE and tx.occurred_on == as_of
    ]


def _state_of_book() -> tuple:
    return (
        _rows("SELECT id, state, version, delinquency_as_of, days_past_due, aging_bucket, missed_installments, "
              "morosidad_level, is_in_default FROM credits_credit ORDER BY id"),
        _rows("SELECT id, late_fee FROM credits_installment ORDER BY id"),
        _rows("SELECT count(*) FROM credits_event"),
        _rows("SELECT count(*), count(DISTINCT transaction_id) FROM ledger_posting"),
    )  # fmt: skip


def _run_and_compare(credits: dict[str, Credit], as_of: date, job: NightlyDelinquency) -> NightlyResult:
    """Run the SQL job, then check every credit against the domain's rules applied to it before."""
    policies = _policies()
    before = {name: reload(c) for name, c in credits.items()}
    histories = {name: _history(c) for name, c in before.items()}
    expected = {name: _expected(c, as_of, policies) for name, c in before.items()}
    fees_before = {name: len(_fee_transactions(c.id, as_of)) for name, c in before.items()}

    result = job.run(as_of)

    changed = 0
    for name, credit in before.items():
        after = reload(credit)
        want, fee, events = expected[name]
        assert [i.late_fee for i in after.installments] == [i.late_fee for i in want.installments], name
        assert _snapshot(after) == _snapshot(want), name
        moved = _snapshot(want) != _snapshot(credit) or fee is not None
        changed += moved
        # Untouched credits keep their row (and version); changed ones are stamped with the date.
        assert after.version == credit.version + moved, name
        assert after.delinquency.as_of == (as_of if moved else credit.delinquency.as_of), name
        new_events = _history(after)[len(histories[name]) :]
        assert new_events == [(e.kind.value, e.reason, e.amount, e.actor_id) for e in events], name
        booked = _fee_transactions(credit.id, as_of)[fees_before[name] :]
        if fee is None:
            assert booked == [], name
            continue
        (tx,) = booked
        reference = entries.late_fee(
            entries.Meta(
                id=tx.id,
                source=Source.SYSTEM,
                occurred_on=as_of,
                recorded_at=tx.recorded_at,
                user_id=credit.user_id,
                credit_id=credit.id,
                memo=f"late fees as of {as_of}",
            ),
            amount=fee,
        )
        assert tx == reference, name
    assert result.changed == changed
    return result


def test_nightly_sql_gives_what_the_domain_rules_give_credit_by_credit(book: dict) -> None:
    as_of: date = book.pop("T")
    policies = _policies()
    expected = {name: _expected(reload(c), as_of, policies) for name, c in book.items()}

    result = _run_and_compare(book, as_of, _nightly(chunk_size=3))

    assert result.fallback == 0 and result.chunks >= 5
    # The rounding ties went to even, the cap too.
    assert reload(book["tie_cop"]).installments[0].late_fee == Money.of("10.00", "COP")
    assert reload(book["tie_clp"]).installments[0].late_fee == Money.of("1000", "CLP")
    assert reload(book["tie_kwd"]).installments[0].late_fee == Money.of("1.000", "KWD")
    assert reload(book["tie_cap"]).installments[0].late_fee == Money.of("5.00", "USD")
    # The varied book really covered the cases.
    assert [e.kind.value for e in expected["cured"][2]] == ["cured"]
    assert [e.kind.value for e in expected["defaults_tonight"][2]] == ["defaulted"]
    assert reload(book["caught_up"]).delinquency.days_past_due == 0 and expected["caught_up"][2] == []
    assert expected["in_grace"][1] is None and expected["current"][1] is None
    assert reload(book["weekly"]).delinquency.morosidad_level == 3

    # The whole book still balances, and every open credit's receivable equals what it owes.
    ports = build_ports()
    assert services.verify_book(ports).ok
    ledger = balances(ports.transactions.stream())
    for credit in book.values():
        after = reload(credit)
        if after.state.is_open:
            account = f"receivable:{after.id}"
            assert ledger.get((account, after.currency), Money.zero(after.currency)) == after.pending

    # A second run for the same date finds nothing to do and changes nothing.
    state = _state_of_book()
    again = _nightly(chunk_size=3).run(as_of)
    assert (again.changed, again.fee_transactions, again.installments_charged) == (0, 0, 0)
    assert _state_of_book() == state


def test_a_credit_changed_after_the_plan_goes_through_the_domain_path(book: dict) -> None:
    as_of: date = book.pop("T")
    job = _nightly(chunk_size=2)
    params = job.params(as_of, build_ports().clock.now())
    job.prepare(params)
    # A payment lands between the plan and its application: the plan's version is stale.
    pay(book["three_missed"], "50.00", on=as_of)
    paid = reload(book["three_missed"])
    want, fee, _ = _expected(paid, as_of, _policies())
    result = NightlyResult(as_of=as_of)
    conflicts = job.apply(params, result)
    assert conflicts == [paid.id]
    job.finish(as_of, conflicts, result)
    job.clean_up()
    after = reload(paid)
    assert [i.late_fee for i in after.installments] == [i.late_fee for i in want.installments]
    assert _snapshot(after) == _snapshot(want)
    assert fee is not None and len(_fee_transactions(paid.id, as_of)) == 1
    assert result.fallback == 1
    # Everything else was written by the SQL; running again changes nothing.
    assert _nightly().run(as_of).changed == 0


@pytest.mark.django_db(transaction=True)
def test_parallel_sessions_apply_committed_chunks_the_same_way() -> None:
    """Outside a transaction the chunks go to two sessions at once; the outcome is the same."""
    CurrencyFactory(code="COP", minor_units=2)
    CurrencyFactory(code="USD", minor_units=2)
    t = business_today()
    agent = UserFactory(role="agent")
    credits = {
        f"c{n}": open_credit(UserFactory(), agent, price=f"{400 + 10 * n}.00", on=t - timedelta(days=20 + 23 * n),
                             currency="USD" if n % 3 == 0 else "COP")
        for n in range(9)
    }  # fmt: skip
    ports = build_ports()
    job = NightlyDelinquency(
        ports.policies, chunk_size=2, workers=2, fallback=lambda cid, day: refresh_one(ports, cid, day)
    )
    result = _run_and_compare(credits, t, job)
    assert result.chunks >= 3 and result.defaulted >= 1 and result.fee_transactions >= 5
    assert services.verify_book(build_ports()).ok
    assert _rows("SELECT to_regclass('jobs_nightly_plan'), to_regclass('jobs_nightly_fee')") == [(None, None)]


def test_partition_upkeep_creates_the_next_twelve_months_and_deletes_nothing() -> None:
    today = business_today()
    first = upkeep_partitions()
    month = today.replace(day=1)
    names = []
    for _ in range(13):
        names.append(f"ledger_transaction_{month.strftime('%Y_%b').lower()}")
        month = (month + timedelta(days=32)).replace(day=1)
    existing = {r[0] for r in _rows("SELECT relname FROM pg_class WHERE relname = ANY(%s)", [names])}
    assert existing == set(names)
    tables = ("ledger_transaction", "ledger_posting", "payments_line")
    assert set(first["created"]) <= {n.replace("ledger_transaction", t) for n in names for t in tables}
    again = upkeep_partitions()
    assert again == {"created": [], "moved_from_default": {}}
    assert _rows("SELECT count(*) FROM jobs_job WHERE kind = 'partition_upkeep' AND state = 'succeeded'") == [(2,)]


_HOLDERS = """
SELECT a.state, a.pid = pg_backend_pid() FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted
  AND ((l.classid::bigint << 32) | l.objid::bigint) = %s
"""


@pytest.mark.django_db(transaction=True)
def test_one_run_at_a_time_held_by_a_transaction_of_its_own_and_released_after() -> None:
    """Found on `make cluster`: the run took a session-level advisory lock on its own connection;
    behind pgbouncer's transaction pooling that lock stays with whichever server connection took it
    and the unlock may reach another. The lock is now held by a transaction of a connection of its
    own, open for the run: a second run is refused meanwhile, nothing is left after a run, finished
    or failed."""
    from adapters.jobs.nightly import _LOCK_KEY, NightlyAlreadyRunning

    CurrencyFactory(code="COP", minor_units=2)
    t = business_today()
    agent = UserFactory(role="agent")
    for n in range(4):
        open_credit(UserFactory(), agent, price=f"{500 + n}.00", on=t - timedelta(days=40 + 20 * n))
    seen: list[list[tuple]] = []

    def during(done: int, total: int) -> None:
        seen.append(_rows(_HOLDERS, [_LOCK_KEY]))
        with pytest.raises(NightlyAlreadyRunning):
            _nightly().run(t)

    _nightly(chunk_size=2).run(t, progress=during)
    assert seen and all(holders == [("idle in transaction", False)] for holders in seen), seen
    assert _rows(_HOLDERS, [_LOCK_KEY]) == []

    def fail(done: int, total: int) -> None:
        raise RuntimeError("the run breaks midway")

    with pytest.raises(RuntimeError):
        _nightly(chunk_size=2).run(t + timedelta(days=1), progress=fail)
    assert _rows(_HOLDERS, [_LOCK_KEY]) == []
    assert _nightly().run(t + timedelta(days=1)).chunks >= 1  # the next run is not refused
