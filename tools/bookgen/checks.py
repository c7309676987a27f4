"""`check_book`: does the stored book satisfy the domain's invariants? Set-based SQL over every row,
then the domain itself on a sample of credits.

Whole book (SQL):
- every transaction has two or more postings, each posting belongs to a transaction, and the
  postings of every transaction balance per currency (month by month: one partition at a time);
- the whole ledger balances per currency (confirmed and reversed transactions, as balances count);
- each credit's receivable account balance equals its pending (the outstanding of its installments
  when active or defaulted, zero otherwise), in the credit's currency; a paid credit has every
  installment settled and an open one does not;
- installments: numbered 1..installments_count, `is_settled` exactly when nothing is outstanding,
  `credit_open` and `agent_id` copied from the credit;
- what each installment has paid (late fee, interest, principal) equals the sum of its allocations
  from payments that were not reversed, and allocations stay on the payment's credit;
- each payment's method lines and its allocation add up to its amount, the lines repeat the
  payment's date, currency, credit and transaction, and the payment's repayment transaction is
  there with its status following the payment's (a reversal pointing back at it when reversed).

Sample of N credits, rebuilt by the repository (`DjangoCreditRepository`):
- the delinquency snapshot equals `credit.delinquency_on(snapshot date)` (a clear snapshot when
  the nightly job never saw the credit open) — exact for a book untouched since that job;
- the schedule equals `generate_schedule` for the credit's terms;
- the history replays through the domain: from the schedule alone, every late-fee run, waiver,
  adjustment, payment (allocated by `allocate_payment`, or reprocessed with the others by
  `domain.payments.replay` when it was entered after its date), reversal (the standing payments
  reprocessed), delinquency run and write-off, in time order, gives back the stored installments,
  late-fee amounts, state and each standing payment's stored allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper

from adapters.db.partitioning import month_start, next_month
from adapters.sql.credits import DjangoCreditRepository
from adapters.sql.holidays import CatalogHolidayCalendar
from adapters.sql.rules import open_sql, outstanding_sql
from adapters.sql.session import OrmSession
from domain.credits.delinquency import CLEAR, DelinquencyPolicy
from domain.credits.model import Credit, CreditState
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms, generate_schedule
from domain.payments.allocation import AllocationLine, allocate_payment
from domain.payments.late_fees import LateFeePolicy, assess_late_fees
from domain.payments.replay import replay
from domain.shared.money import Money

EXAMPLES = 5
OUTSTANDING = outstanding_sql("i")
SIGNED = "CASE WHEN p.side = 'debit' THEN p.amount WHEN p.side = 'credit' THEN -p.amount END"


@dataclass
class CheckResult:
    name: str
    problems: list[str] = field(default_factory=list)
    count: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.count == 0


@dataclass
class BookReport:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)


class BookChecker:
    def __init__(self, *, sample: int = 200, say: Callable[[str], None] | None = None) -> None:
        self.sample = sample
        self.say = say or (lambda _: None)
        self.late_fees = LateFeePolicy(
            grace_days=settings.LATE_FEE_GRACE_DAYS,
            monthly_rate=settings.LATE_FEE_MONTHLY_RATE,
            cap_share=settings.LATE_FEE_CAP_SHARE,
        )
        self.delinquency = DelinquencyPolicy(default_after_days=settings.DEFAULT_AFTER_DAYS)

    def run(self) -> BookReport:
        report = BookReport()
        with connection.cursor() as cursor:
            cursor.execute("SET work_mem = '256MB'")
            months = self._months(cursor)
            checks: list[tuple[str, Callable[[CursorWrapper], CheckResult]]] = [
                ("transactions balance per currency", lambda c: self._per_month(c, months, _UNBALANCED)),
                ("every transaction has its postings", lambda c: self._per_month(c, months, _POSTINGS)),
                ("stored amount = the transaction's debits", lambda c: self._per_month(c, months, _AMOUNTS)),
                ("the ledger balances per currency", lambda c: self._query(c, _BOOK)),
                ("receivable balance = pending; states", lambda c: self._query(c, _RECEIVABLE)),
                ("installment numbering", lambda c: self._query(c, _NUMBERING)),
                ("installment flags and agent", lambda c: self._query(c, _FLAGS)),
                ("paid = allocations of posted payments", lambda c: self._query(c, _PAID)),
                ("allocations stay on the payment's credit", lambda c: self._query(c, _ALLOCATION_CREDIT)),
                ("payment = lines = allocation", lambda c: self._query(c, _PAYMENT_SUMS)),
                ("lines repeat their payment", lambda c: self._query(c, _LINES)),
                ("payments have their transactions", lambda c: self._query(c, _PAYMENT_TX)),
                ("reversals pair up", lambda c: self._query(c, _REVERSALS)),
            ]
            for name, check in checks:
                started = time.perf_counter()
                result = check(cursor)
                result.name = name
                result.seconds = time.perf_counter() - started
                report.results.append(result)
                self._announce(result)
            cursor.execute("RESET work_mem")
        if self.sample:
            for result in self._samples():
                report.results.append(result)
                self._announce(result)
        return report

    def _announce(self, result: CheckResult) -> None:
        status = "ok" if result.ok else f"FAILED ({result.count} problem(s))"
        self.say(f"{result.name:<45} {status:<24} {result.seconds:7.2f} s")
        for problem in result.problems:
            self.say(f"    {problem}")

    # --- whole-book SQL -------------------------------------------------------------------------------

    def _months(self, cursor: CursorWrapper) -> list[tuple[date, date]]:
        cursor.execute("SELECT min(occurred_on), max(occurred_on) FROM ledger_transaction")
        low, high = cursor.fetchone()
        cursor.execute("SELECT min(occurred_on), max(occurred_on) FROM ledger_posting")
        p_low, p_high = cursor.fetchone()
        lows = [d for d in (low, p_low) if d]
        highs = [d for d in (high, p_high) if d]
        if not lows:
            return []
        months = []
        month = month_start(min(lows))
        while month <= max(highs):
            months.append((month, next_month(month)))
            month = next_month(month)
        return months

    def _query(self, cursor: CursorWrapper, sql: str, params: list[Any] | None = None) -> CheckResult:
        result = CheckResult("")
        cursor.execute(f"SELECT count(*) OVER (), * FROM ({sql}) q LIMIT {EXAMPLES}", params or [])
        rows = cursor.fetchall()
        if rows:
            names = [column[0] for column in cursor.description][1:]
            result.count = int(rows[0][0])
            result.problems = [_describe(names, row[1:]) for row in rows]
        return result

    def _per_month(self, cursor: CursorWrapper, months: list[tuple[date, date]], sql: str) -> CheckResult:
        total = CheckResult("")
        for start, end in months:
            part = self._query(cursor, sql, [start, end] * (sql.count("%s") // 2))
            total.count += part.count
            total.problems.extend(part.problems[: EXAMPLES - len(total.problems)])
        return total

    # --- samples through the domain ----------------------------------------------------------------

    def _sample_ids(self) -> list[UUID]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM credits_credit ORDER BY md5(id::text) LIMIT %s", [self.sample])
            return [row[0] for row in cursor.fetchall()]

    def _samples(self) -> list[CheckResult]:
        started = time.perf_counter()
        ids = self._sample_ids()
        repository = DjangoCreditRepository(OrmSession())
        holidays = CatalogHolidayCalendar()
        with connection.cursor() as cursor:
            cursor.execute("SELECT code, skip_sundays, skip_holidays FROM catalog_periodicity")
            skip = {code: (sundays, hols) for code, sundays, hols in cursor.fetchall()}
        loaded = [(cid, repository.get(cid)) for cid in ids]
        results = []
        for name, check in (
            ("delinquency snapshot = domain rules", self._delinquency),
            ("schedule = generate_schedule", lambda c: self._schedule(c, skip, holidays)),
            ("history replays through the domain", self._replay),
        ):
            result = CheckResult(f"{name} ({len(ids)} sampled)")
            for cid, credit in loaded:
                problem: str | None
                if credit is None:
                    problem = f"credit {cid}: not found by the repository"
                else:
                    try:
                        problem = check(credit)
                    except Exception as exc:  # a domain refusal is a finding here, not a crash
                        problem = (
                            f"credit {cid}: {type(exc).__name__}: {exc} {getattr(exc, 'details', '') or ''}".rstrip()
                        )
                if problem:
                    result.count += 1
                    if len(result.problems) < EXAMPLES:
                        result.problems.append(problem)
            result.seconds = time.perf_counter() - started
            started = time.perf_counter()
            results.append(result)
        return results

    def _delinquency(self, credit: Credit) -> str | None:
        stored = credit.delinquency
        expected = CLEAR if stored.as_of is None else credit.delinquency_on(stored.as_of, self.delinquency)
        if stored != expected:
            return f"credit {credit.id}: stored {stored}, the rules give {expected}"
        return None

    def _schedule(self, credit: Credit, skip: dict[str, tuple[bool, bool]], holidays: object) -> str | None:
        sundays, hols = skip.get(credit.periodicity.value, (False, False))
        terms = ScheduleTerms(
            principal=credit.price,
            installments=len(credit.installments),
            periodicity=Periodicity(credit.periodicity),
            first_due_date=credit.installments[0].due_date,
            method=InterestMethod(credit.interest_method),
            annual_rate=credit.annual_rate,
            skip_sundays=sundays,
            skip_holidays=hols,
        )
        expected = [(r.number, r.due_date, r.principal, r.interest) for r in generate_schedule(terms, holidays)]  # type: ignore[arg-type]
        stored = [(i.number, i.due_date, i.principal, i.interest) for i in credit.installments]
        if stored != expected:
            if len(stored) != len(expected):
                return f"credit {credit.id}: {len(stored)} installments stored, {len(expected)} generated"
            mine, theirs = next((a, b) for a, b in zip(stored, expected, strict=True) if a != b)
            return f"credit {credit.id}: stored {mine} != generated {theirs}"
        return None

    def _replay(self, credit: Credit) -> str | None:
        return Replay(credit, self.late_fees, self.delinquency).run()


class Replay:
    """A credit's history, from its schedule alone, replayed through the domain in time order."""

    def __init__(self, stored: Credit, late_fees: LateFeePolicy, delinquency: DelinquencyPolicy) -> None:
        self.stored = stored
        self.late_fees = late_fees
        self.policy = delinquency
        self.cid = stored.id
        self.currency = stored.currency
        self.zone = ZoneInfo(settings.BUSINESS_TIME_ZONE)
        self.credit = self._unpaid_copy()
        self.standing: dict[UUID, _Paid] = {}  # the payments in force
        self.computed: dict[UUID, list[tuple]] = {}  # payment -> allocation lines the replay gives
        self.nights: list[tuple[date, datetime, Money]] = []  # late-fee runs that charged something

    def run(self) -> str | None:
        """The first difference between the stored credit and its replay, or None."""
        handlers: dict[str, Callable[[datetime, dict], str | None]] = {
            "activated": self._activated,
            "defaulted": self._defaulted,
            "cured": self._cured,
            "refinance": self._refinance,
            "cancellation": self._cancellation,
            "late_fee": self._late_fee,
            "waiver": self._waiver,
            "adjustment": self._adjustment,
            "payment": self._payment,
            "reversal": self._reversal,
            "delinquency": self._delinquency,
            "write_off": self._write_off,
        }
        events = self._events()
        for at, _, kind, data in events:
            handler = handlers.get(kind)
            problem = handler(at, data) if handler else None
            if problem:
                return problem
        stored_allocations = {d["id"]: d["allocation"] for _, _, kind, d in events if kind == "payment"}
        return self._compare(stored_allocations)

    def _unpaid_copy(self) -> Credit:
        """The stored credit as it was opened: pending, its schedule with nothing paid, charged or adjusted."""
        stored, cid = self.stored, self.cid
        zero = Money.zero(self.currency)
        credit = Credit(
            id=cid,
            user_id=stored.user_id,
            agent_id=stored.agent_id,
            price=stored.price,
            cost=stored.cost,
            subcategory_id=stored.subcategory_id,
            periodicity=stored.periodicity,
            interest_method=stored.interest_method,
            annual_rate=stored.annual_rate,
            opened_on=stored.opened_on,
            state=CreditState.PENDING,
            installments=[],
        )
        for inst in stored.installments:
            copy = type(inst)(inst.id, cid, inst.number, inst.due_date, inst.principal, inst.interest,
                              zero, zero, zero, zero, zero, zero)  # fmt: skip
            credit.installments.append(copy)
        return credit

    def _money(self, value: Decimal | None) -> Money:
        return Money(value, self.currency)  # type: ignore[arg-type]

    def _compare(self, stored_allocations: dict[UUID, list[tuple]]) -> str | None:
        cid, credit, stored = self.cid, self.credit, self.stored
        for pid, replayed in self.computed.items():
            if replayed != stored_allocations[pid]:
                return f"credit {cid}: payment {pid} allocated {stored_allocations[pid]}, the replay gives {replayed}"
        figures = _figures(credit)
        if figures != _figures(stored):
            diff = next((a, b) for a, b in zip(_figures(stored), figures, strict=True) if a != b)
            return f"credit {cid}: stored {diff[0]}, replayed {diff[1]}"
        if credit.state is not stored.state:
            return f"credit {cid}: stored state {stored.state}, replayed {credit.state}"
        return None

    # --- one handler per kind of event: None when it replays as stored, else the difference ----------

    def _activated(self, at: datetime, data: dict) -> None:
        self.credit.activate(event_id=data["id"], at=at)

    def _defaulted(self, at: datetime, data: dict) -> None:
        # Declared by the nightly job (then replayed below as of its date) or by an admin.
        if self.credit.state is CreditState.ACTIVE:
            self.credit.declare_default(event_id=data["id"], at=at)

    def _cured(self, at: datetime, data: dict) -> None:
        if self.credit.state is CreditState.DEFAULTED:
            self.credit.cure(event_id=data["id"], at=at)

    def _refinance(self, at: datetime, data: dict) -> None:
        self.credit.mark_refinanced(
            event_id=data["id"],
            new_credit_id=data["related"],
            reason=data["reason"] or "-",
            at=at,
            on=_business_date(at),
        )

    def _cancellation(self, at: datetime, data: dict) -> None:
        self.credit.cancel(event_id=data["id"], reason=data["reason"], at=at)

    def _late_fee(self, at: datetime, data: dict) -> str | None:
        charges = assess_late_fees(self.credit.installments, data["on"], self.late_fees)
        charged = sum((c.amount.amount for c in charges), Decimal(0))
        if charged != data["amount"]:
            return (
                f"credit {self.cid}: late fees as of {data['on']}: the policy charges {charged}, "
                f"stored {data['amount']}"
            )
        for charge in charges:
            self.credit.charge_late_fee(charge.installment_id, charge.amount)
        if charges:
            self.nights.append((data["on"], at, self._money(data["amount"])))
        return None

    def _waiver(self, at: datetime, data: dict) -> None:
        self.credit.waive_late_fee(data["installment_id"], self._money(data["amount"]))

    def _adjustment(self, at: datetime, data: dict) -> None:
        self.credit.adjust(
            event_id=data["id"],
            amount=self._money(data["amount"]),
            reason=data["reason"],
            at=at,
            on=_business_date(at),
        )

    def _payment(self, at: datetime, data: dict) -> str | None:
        credit = self.credit
        payment = _Paid(data["id"], self._money(data["amount"]), data["paid_on"], at)
        if data["paid_on"] < at.astimezone(self.zone).date():
            # Entered after its date: the use case reprocessed the credit with it.
            before = credit.state
            self.standing[payment.id] = payment
            self._reprocess(reopen_as=credit.state)
        else:
            lines = allocate_payment(payment.amount, credit.installments, as_of=payment.paid_on,
                                     prepay=data["prepay"])  # fmt: skip
            before = credit.apply_allocation(lines)
            self.standing[payment.id] = payment
            self.computed[payment.id] = _lines(lines)
        if before.value != data["state_before"]:
            return f"credit {self.cid}: payment {data['id']} found the credit {before}, stored {data['state_before']}"
        return None

    def _reversal(self, at: datetime, data: dict) -> None:
        del self.standing[data["id"]]
        self.computed.pop(data["id"])
        self._reprocess(reopen_as=CreditState(data["state_before"]))

    def _delinquency(self, at: datetime, data: dict) -> None:
        self.credit.refresh_delinquency(data["on"], self.policy, event_id=self.cid, at=at)

    def _write_off(self, at: datetime, data: dict) -> str | None:
        amount = self.credit.write_off(event_id=data["id"], reason=data["reason"], at=at, on=_business_date(at))
        if amount.amount != data["amount"]:
            return f"credit {self.cid}: written off {data['amount']}, the credit owed {amount}"
        return None

    def _reprocess(self, *, reopen_as: CreditState) -> None:
        """What `use_cases.payments.reprocess` does: the standing payments replayed in date order."""
        credit = self.credit
        result = replay(
            credit.installments, list(self.standing.values()), currency=credit.currency, fee_nights=self.nights,
            policy=self.late_fees,
        )  # fmt: skip
        credit.restate(result.installments, reopen_as=reopen_as)
        for pid, lines in result.allocations.items():
            self.computed[pid] = _lines(lines)

    def _events(self) -> list[tuple[datetime, int, str, dict]]:
        """Everything that happened to the credit, as (time, tie-break, kind, data), in order."""
        cid = self.stored.id
        found: list[tuple[datetime, int, str, dict]] = []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, kind, occurred_at, reason, amount, related_credit_id FROM credits_event "
                "WHERE credit_id = %s",
                [cid],
            )
            for eid, kind, at, reason, amount, related in cursor.fetchall():
                data = {"id": eid, "reason": reason, "amount": amount, "related": related}
                found.append((at, 3, kind, data))
            cursor.execute(
                "SELECT t.type, t.occurred_on, t.recorded_at, t.reference_id, "
                "(SELECT sum(p.amount) FROM ledger_posting p WHERE p.transaction_id = t.id "
                "AND p.occurred_on = t.occurred_on AND p.side = 'debit') "
                "FROM ledger_transaction t WHERE t.credit_id = %s AND t.type = 'late_fee'",
                [cid],
            )
            for _, on, at, _, amount in cursor.fetchall():
                found.append((at, 1, "late_fee", {"on": on, "amount": amount}))
            cursor.execute(
                "SELECT installment_id, amount, decided_at FROM payments_fee_waiver "
                "WHERE credit_id = %s AND status = 'approved'",
                [cid],
            )
            for installment_id, amount, at in cursor.fetchall():
                found.append((at, 3, "waiver", {"installment_id": installment_id, "amount": amount}))
            cursor.execute(
                "SELECT p.id, p.amount, p.paid_on, p.received_at, p.prepay, p.credit_state_before, p.status, "
                "p.reversed_at FROM payments_payment p WHERE p.credit_id = %s",
                [cid],
            )
            payments = cursor.fetchall()
            for pid, amount, paid_on, at, prepay, before, status, reversed_at in payments:
                cursor.execute(
                    "SELECT installment_id, late_fee, interest, principal FROM payments_allocation "
                    "WHERE payment_id = %s ORDER BY position",
                    [pid],
                )
                allocation = [tuple(row) for row in cursor.fetchall()]
                data = {
                    "id": pid,
                    "amount": amount,
                    "paid_on": paid_on,
                    "prepay": prepay,
                    "state_before": before,
                    "allocation": allocation,
                }
                found.append((at, 4, "payment", data))
                if status == "reversed":
                    found.append((reversed_at, 5, "reversal", data))
            cursor.execute("SELECT delinquency_as_of FROM credits_credit WHERE id = %s", [cid])
            (as_of,) = cursor.fetchone()
        if as_of is not None:
            # The nightly job: late fees first (tie-break 1), then delinquency, at the day's start.
            day_start = min((at for at, _, kind, d in found if kind == "late_fee" and d["on"] == as_of), default=None)
            found.append((day_start or _day_start(as_of), 2, "delinquency", {"on": as_of}))
        found.sort(key=lambda e: (e[0], e[1]))
        return found


@dataclass(frozen=True, slots=True)
class _Paid:
    """A standing payment, as the replay needs it."""

    id: UUID
    amount: Money
    paid_on: date
    received_at: datetime


def _lines(lines: tuple[AllocationLine, ...]) -> list[tuple]:
    return [(x.installment_id, x.late_fee.amount, x.interest.amount, x.principal.amount) for x in lines]


def _day_start(day: date) -> datetime:
    """The first moment of `day` in the business time zone (when the nightly jobs run)."""
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(settings.BUSINESS_TIME_ZONE))


def _business_date(at: datetime) -> date:
    """The business date of a recorded moment (what the use case's clock called today)."""
    return at.astimezone(ZoneInfo(settings.BUSINESS_TIME_ZONE)).date()


def _figures(credit: Credit) -> list[tuple]:
    return [
        (
            i.number,
            i.adjustment.amount,
            i.late_fee.amount,
            i.late_fee_waived.amount,
            i.paid_principal.amount,
            i.paid_interest.amount,
            i.paid_late_fee.amount,
        )
        for i in credit.installments
    ]


def _describe(names: list[str], row: tuple) -> str:
    """The row's first column (what is wrong) then name=value for the rest."""
    head, *rest = row
    return f"{head}: " + ", ".join(f"{name}={value}" for name, value in zip(names[1:], rest, strict=True))


# --- the SQL -------------------------------------------------------------------------------------------

_UNBALANCED = f"""
SELECT 'transaction ' || p.transaction_id AS tx, p.currency, sum({SIGNED}) AS debit_minus_credit
FROM ledger_posting p WHERE p.occurred_on >= %s AND p.occurred_on < %s
GROUP BY p.transaction_id, p.currency HAVING sum({SIGNED}) IS DISTINCT FROM 0
"""
_POSTINGS = """
SELECT coalesce('transaction ' || t.id, 'posting(s) of missing transaction ' || p.transaction_id) AS tx,
       coalesce(p.n, 0) AS postings
FROM (SELECT id, occurred_on FROM ledger_transaction WHERE occurred_on >= %s AND occurred_on < %s) t
FULL JOIN (SELECT transaction_id, occurred_on, count(*) AS n FROM ledger_posting
           WHERE occurred_on >= %s AND occurred_on < %s GROUP BY transaction_id, occurred_on) p
  ON p.transaction_id = t.id AND p.occurred_on = t.occurred_on
WHERE t.id IS NULL OR coalesce(p.n, 0) < 2
"""
# `Transaction.amount`, stored with the row for the transactions list: the debits of the first currency.
_AMOUNTS = """
SELECT 'transaction ' || t.id AS tx, t.amount, t.currency, d.total AS debits, d.currency AS debit_currency
FROM (SELECT id, occurred_on, amount, currency FROM ledger_transaction WHERE occurred_on >= %s AND occurred_on < %s) t
LEFT JOIN (SELECT DISTINCT ON (transaction_id) transaction_id, occurred_on, currency, sum(amount) AS total
           FROM ledger_posting WHERE occurred_on >= %s AND occurred_on < %s AND side = 'debit'
           GROUP BY transaction_id, occurred_on, currency ORDER BY transaction_id, currency) d
  ON d.transaction_id = t.id AND d.occurred_on = t.occurred_on
WHERE t.amount IS DISTINCT FROM d.total OR t.currency IS DISTINCT FROM d.currency
"""
_BOOK = f"""
SELECT 'book in ' || p.currency, sum({SIGNED}) AS debit_minus_credit
FROM ledger_posting p JOIN ledger_transaction t ON t.id = p.transaction_id AND t.occurred_on = p.occurred_on
WHERE t.status IN ('confirmed', 'reversed')
GROUP BY p.currency HAVING sum({SIGNED}) <> 0
"""
_RECEIVABLE = f"""
WITH balance AS (
    SELECT p.account, min(p.currency) AS currency, max(p.currency) AS currency2, sum({SIGNED}) AS balance
    FROM ledger_posting p JOIN ledger_transaction t ON t.id = p.transaction_id AND t.occurred_on = p.occurred_on
    WHERE p.account LIKE 'receivable:%%' AND t.status IN ('confirmed', 'reversed')
    GROUP BY p.account
), owed AS (
    SELECT c.id, c.state, c.currency,
           CASE WHEN {open_sql("c")} THEN coalesce(sum({OUTSTANDING}), 0) ELSE 0 END AS pending,
           bool_and(i.is_settled) AS all_settled
    FROM credits_credit c LEFT JOIN credits_installment i ON i.credit_id = c.id
    GROUP BY c.id, c.state, c.currency
)
SELECT coalesce('credit ' || o.id, b.account) AS credit, o.state, o.pending, b.balance, b.currency AS ledger_currency
FROM owed o FULL JOIN balance b ON b.account = 'receivable:' || o.id::text
WHERE coalesce(b.balance, 0) <> coalesce(o.pending, 0)
   OR o.id IS NULL
   OR b.currency <> o.currency OR b.currency2 <> o.currency
   OR (o.state = 'paid' AND NOT o.all_settled)
   OR ({open_sql("o")} AND o.all_settled)
"""
_NUMBERING = """
SELECT 'credit ' || c.id, c.installments_count, i.n, i.low, i.high
FROM credits_credit c
LEFT JOIN (SELECT credit_id, count(*) AS n, min(number) AS low, max(number) AS high
           FROM credits_installment GROUP BY credit_id) i ON i.credit_id = c.id
WHERE i.n IS DISTINCT FROM c.installments_count OR i.low <> 1 OR i.high <> i.n
"""
_FLAGS = f"""
SELECT 'installment ' || i.id, i.is_settled, {OUTSTANDING} AS outstanding, i.credit_open, c.state,
       i.agent_id, c.agent_id AS credit_agent_id
FROM credits_installment i JOIN credits_credit c ON c.id = i.credit_id
WHERE i.is_settled <> ({OUTSTANDING} = 0)
   OR i.credit_open <> {open_sql("c")}
   OR i.agent_id IS DISTINCT FROM c.agent_id
"""
_PAID = """
WITH a AS (
    SELECT a.installment_id, sum(a.late_fee) AS fee, sum(a.interest) AS interest, sum(a.principal) AS principal
    FROM payments_allocation a JOIN payments_payment p ON p.id = a.payment_id
    WHERE p.status = 'posted' GROUP BY a.installment_id
)
SELECT 'installment ' || i.id, i.paid_late_fee, a.fee, i.paid_interest, a.interest, i.paid_principal, a.principal
FROM credits_installment i LEFT JOIN a ON a.installment_id = i.id
WHERE i.paid_late_fee <> coalesce(a.fee, 0) OR i.paid_interest <> coalesce(a.interest, 0)
   OR i.paid_principal <> coalesce(a.principal, 0)
"""
_ALLOCATION_CREDIT = """
SELECT 'allocation ' || a.id, p.credit_id, i.credit_id
FROM payments_allocation a
JOIN payments_payment p ON p.id = a.payment_id
JOIN credits_installment i ON i.id = a.installment_id
WHERE i.credit_id <> p.credit_id
   OR a.late_fee < 0 OR a.interest < 0 OR a.principal < 0 OR a.late_fee + a.interest + a.principal = 0
"""
_PAYMENT_SUMS = """
SELECT 'payment ' || p.id, p.amount, l.total AS lines, a.total AS allocated
FROM payments_payment p
LEFT JOIN (SELECT payment_id, sum(amount) AS total FROM payments_line GROUP BY payment_id) l ON l.payment_id = p.id
LEFT JOIN (SELECT payment_id, sum(late_fee + interest + principal) AS total
           FROM payments_allocation GROUP BY payment_id) a ON a.payment_id = p.id
WHERE l.total IS DISTINCT FROM p.amount OR a.total IS DISTINCT FROM p.amount
"""
_LINES = """
SELECT 'line ' || l.id, l.paid_on, p.paid_on, l.currency, p.currency
FROM payments_line l JOIN payments_payment p ON p.id = l.payment_id
WHERE l.paid_on <> p.paid_on OR l.currency <> p.currency OR l.credit_id <> p.credit_id
   OR l.transaction_id <> p.transaction_id
"""
_PAYMENT_TX = """
SELECT 'payment ' || p.id, p.status, t.type, t.status, t.reference_id
FROM payments_payment p
LEFT JOIN ledger_transaction t ON t.id = p.transaction_id AND t.occurred_on = p.paid_on
WHERE t.id IS NULL OR t.type <> 'repayment' OR t.reference_id IS DISTINCT FROM p.id
   OR (t.status = 'reversed') <> (p.status = 'reversed')
   OR (p.status = 'reversed' AND t.reversed_by_id IS DISTINCT FROM p.reversal_transaction_id)
"""
_REVERSALS = """
SELECT 'transaction ' || t.id, t.status, t.reversed_by_id, r.id AS reversal, r.reverses_id
FROM ledger_transaction t
LEFT JOIN ledger_transaction r ON r.id = t.reversed_by_id AND r.type = 'reversal'
WHERE (t.status = 'reversed' OR t.reversed_by_id IS NOT NULL)
  AND (r.id IS NULL OR r.reverses_id IS DISTINCT FROM t.id OR t.status <> 'reversed')
UNION ALL
SELECT 'reversal ' || r.id, r.status, NULL, NULL, r.reverses_id
FROM ledger_transaction r
WHERE r.type = 'reversal' AND NOT EXISTS (
    SELECT 1 FROM ledger_transaction t WHERE t.id = r.reverses_id AND t.reversed_by_id = r.id AND t.status = 'reversed')
"""
