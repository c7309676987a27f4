"""One batch of credits, simulated through the domain's rules and written as COPY text rows.

Every credit lives its history in date order, exactly as the use cases would book it
(`domain.application.use_cases`), with money as integer minor units instead of `Money` objects:

- opened by its agent (or an admin) and disbursed at once (`open_credit`): an ACTIVATED event and a
  disbursement transaction (receivable D principal + interest; funding C principal; interest C);
  a few stay pending (opened this week) and a few are cancelled before delivery;
- collection visits: on the morning of each visit the late-fee job runs for the credit (`charge_due`:
  grace days, monthly rate on principal + interest still owed, capped at a share of the installment,
  charged up to what accrued), an admin may waive half a fee (`waive_fee`) or an adjustment may be
  booked (`adjust_credit`, on the last installment); then the client pays (`register_payment`): the
  amount is split over 1-3 payment accounts, allocated by the waterfall (oldest installment first;
  late fee, interest, principal), and over "what is due now" only with prepayment; a few payments
  bounce and are reversed the same evening (`reverse_payment`: the allocation taken back, a mirrored
  transaction);
- today (or on the day a write-off is decided) the late-fee job and then the delinquency job run
  (`apply_late_fees`, `recompute_delinquency`): the snapshot is stored and active credits past the
  default threshold become defaulted; some long-defaulted credits are written off.

The jobs run on those dates for this credit rather than every night (running the idempotent fee job
on fewer dates is a history the use cases could have written too, with fewer late-fee transactions).
`check_book --sample N` replays sampled credits through the domain objects and compares.

Row ids: UUIDs are version 7 with a timestamp that grows with the batch and the row, so primary-key
inserts land at the right edge of the indexes; bigint ids (postings, payment lines, allocations)
are `batch << 24 | n`, unique without coordination between worker processes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from fractions import Fraction

from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.schedule import add_months
from domain.ledger import accounts
from domain.payments.late_fees import LateFeePolicy
from domain.shared.aging import bucket_for
from domain.shared.money import Currency
from tools.bookgen import plan as shapes
from tools.bookgen.plan import Plan
from tools.bookgen.schedules import DueDates, ScheduleTemplates

# The tables in load order, with their COPY column lists.
COLUMNS: dict[str, str] = {
    "credits_credit": (
        "id, user_id, agent_id, currency, price, cost, subcategory_id, periodicity, interest_method, annual_rate, "
        "installments_count, opened_on, state, refinanced_from_id, delinquency_as_of, days_past_due, aging_bucket, "
        "missed_installments, morosidad_level, is_in_default, version, created_at"
    ),
    "credits_installment": (
        "id, credit_id, agent_id, number, due_date, principal, interest, adjustment, late_fee, late_fee_waived, "
        "paid_principal, paid_interest, paid_late_fee, is_settled, credit_open"
    ),
    "credits_event": "id, credit_id, kind, occurred_at, reason, amount, actor_id, related_credit_id",
    "ledger_transaction": (
        "id, occurred_on, type, status, source, user_id, agent_id, credit_id, reference_id, reverses_id, "
        "reversed_by_id, memo, recorded_at, amount, currency"
    ),
    "ledger_posting": "id, occurred_on, transaction_id, account, side, amount, currency",
    "payments_payment": (
        "id, credit_id, user_id, agent_id, amount, currency, paid_on, received_at, idempotency_key, prepay, "
        "credit_state_before, transaction_id, status, reversal_transaction_id, reversed_at, reversal_reason, "
        "reversed_by_id"
    ),
    "payments_line": "id, paid_on, payment_id, credit_id, transaction_id, payment_account_id, amount, currency",
    "payments_allocation": "id, payment_id, installment_id, position, late_fee, interest, principal",
    "payments_fee_waiver": (
        "id, credit_id, installment_id, amount, currency, reason, requested_by_id, requested_at, status, "
        "decided_by_id, decided_at, decision_note, transaction_id"
    ),
}
TABLES = tuple(COLUMNS)

N = "\\N"
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000
_ID_STRIDE_BITS = 24  # bigint ids: batch << 24 | n (16.7M rows of a table per batch at most)

# Seconds after local midnight at which things happen (business time).
_FEE_JOB = 1
_DELINQUENCY_JOB = 2
_WAIVER_REQUEST = 3
_ADMIN_DESK = 8 * 3600
_OPENING = 9 * 3600
_VISITS = 10 * 3600
_WRITE_OFF_DESK = 11 * 3600
_BOUNCES = 18 * 3600

REVERSAL_REASON = "Transfer bounced"
WAIVER_REASON = "Client was ill"
REJECTED_REASON = "Client asks to waive the fee"
REJECTED_NOTE = "Not eligible: third late payment"
REQUEST_REASON = "Client lost their job"
ADJUSTMENT_REASON = "Insurance premium added"
WRITE_OFF_REASON = "Uncollectable: more than 180 days past due"
CANCEL_REASON = "Client withdrew before delivery"
DEFAULT_REASON = "days past due over the default threshold"


@dataclass(frozen=True, slots=True)
class Catalog:
    """The catalog rows the generator points at (ids read from the database)."""

    subcategories: list[tuple[int, int]]  # (id, price tier), expanded by weight
    accounts: dict[str, list[int]]  # currency -> payment account ids
    skip: dict[str, tuple[bool, bool]]  # periodicity -> (skip Sundays, skip holidays)
    holidays: frozenset[date]


def _expand(pairs: Sequence[tuple[object, int]]) -> list:
    return [value for value, weight in pairs for _ in range(weight)]


def _round_half_even(num: int, den: int) -> int:
    """num / den (both >= 0) rounded half-even: `Money.rounded` on minor units."""
    q, r = divmod(num, den)
    twice = r * 2
    if twice > den or (twice == den and q & 1):
        q += 1
    return q


class Context:
    """What every batch of one load shares: the plan, catalogs, policies, caches and text tables."""

    def __init__(
        self,
        plan: Plan,
        catalog: Catalog,
        late_fees: LateFeePolicy,
        delinquency: DelinquencyPolicy,
        business_tz: tzinfo,
    ) -> None:
        self.plan = plan
        self.catalog = catalog
        self.delinquency = delinquency
        self.grace = late_fees.grace_days
        rate = Fraction(late_fees.monthly_rate)
        self.fee_num, self.fee_den = rate.numerator, rate.denominator * late_fees.days_per_month
        cap = Fraction(late_fees.cap_share)
        self.cap_num, self.cap_den = cap.numerator, cap.denominator
        self.templates = ScheduleTemplates()
        self.due_dates = DueDates(catalog.skip, catalog.holidays)
        self.currencies = {code: Currency.of(code) for code in catalog.accounts}
        self.today = plan.today.toordinal()
        # Day ordinal -> "YYYY-MM-DD", from before the history to past the last due date.
        self.day0 = plan.history_start.toordinal() - 40
        last = self.today + 3 * 366
        self.days = [date.fromordinal(o).isoformat() for o in range(self.day0, last)]
        # The business time zone's UTC offset on each day, for timestamps in local business time.
        self.offsets: list[str] = []
        for o in range(self.day0, last):
            local = datetime.combine(date.fromordinal(o), datetime.min.time(), tzinfo=business_tz)
            offset = local.utcoffset() or timedelta(0)
            minutes = int(offset.total_seconds()) // 60
            sign = "+" if minutes >= 0 else "-"
            hours, mins = divmod(abs(minutes), 60)
            self.offsets.append(f"{sign}{hours:02d}" + (f":{mins:02d}" if mins else ""))
        self.clock = [f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in range(86_400)]
        self.subcategories = catalog.subcategories
        self.periodicities = _expand(list(shapes.PERIODICITY_WEIGHTS.items()))
        self.terms = {p: _expand(options) for p, options in shapes.TERMS.items()}
        self.methods = _expand([((m, rates), w) for m, w, rates in shapes.METHODS])
        self.profiles = _expand(list(shapes.PROFILES.items()))
        self.lines = _expand(shapes.LINES_PER_PAYMENT)
        self.id_ms0 = (self.today - _EPOCH_ORDINAL) * _DAY_MS

    def stamp(self, day: int, seconds: int) -> str:
        i = day - self.day0
        return f"{self.days[i]} {self.clock[seconds]}{self.offsets[i]}"


class Batch:
    """Generates the rows of one batch of credits (see the module docstring)."""

    def __init__(self, ctx: Context, batch: int) -> None:
        self.ctx = ctx
        self.batch = batch
        self.rng = random.Random(f"seed-data:{ctx.plan.seed}:{batch}")  # noqa: S311 - reproducible data, not secrets
        self.rows: dict[str, list[str]] = {t: [] for t in TABLES}
        self._uuid_k = 0
        self._uuid_ms = ctx.id_ms0 + batch * 1000
        self._bigint = {"ledger_posting": 0, "payments_line": 0, "payments_allocation": 0}
        self._bigint_base = batch << _ID_STRIDE_BITS

    # --- ids ----------------------------------------------------------------------------------------

    def uuid(self) -> str:
        """A version-7 UUID (hex, no dashes: PostgreSQL reads it), increasing within the load."""
        k = self._uuid_k
        self._uuid_k = k + 1
        value = (
            ((self._uuid_ms + (k >> 12)) << 80)
            | (0x7 << 76)
            | ((k & 0xFFF) << 64)
            | (0x2 << 62)
            | self.rng.getrandbits(62)
        )
        return f"{value:032x}"

    def bigint(self, table: str) -> int:
        n = self._bigint[table] + 1
        self._bigint[table] = n
        return self._bigint_base | n

    # --- generation -------------------------------------------------------------------------------

    def generate(self) -> dict[str, list[str]]:
        start, stop = self.ctx.plan.batch_bounds(self.batch)
        for number in range(start, stop):
            self.credit(number)
        return self.rows

    def credit(self, number: int) -> None:
        """One credit's whole history, in date order (see the module docstring)."""
        life = _CreditLife(self, number)
        life.open()
        if life.state == "active":
            life.collect()
        if life.state == "active":
            life.settle_today()
        life.write()


class _CreditLife:
    """One credit living its history: the terms drawn at random, then each step books its events,
    transactions and payments, with the installments' amounts kept as lists of minor units.

    The random draws happen in a fixed order (the book depends only on the seed): a step must draw
    exactly what and when it did, so the steps below keep the order of the original single method.
    """

    __slots__ = (
        "ADJ", "FEE", "I", "P", "PF", "PI", "PP", "WV", "actor", "admin_id", "agent_sql", "balance", "batch",
        "cid", "code", "cost", "ctx", "due", "exp", "first", "inst_ids", "method", "n", "opened", "opened_at",
        "periodicity", "plan", "price", "profile", "rand", "rate", "receivable", "rows", "snapshot", "source",
        "state", "subcategory", "today", "user_id", "version",
    )  # fmt: skip

    def __init__(self, batch: Batch, number: int) -> None:
        self.batch = batch
        self.ctx = batch.ctx
        self.plan = batch.ctx.plan
        self.rows = batch.rows
        self.rand = batch.rng.random
        self.today = batch.ctx.today
        self._draw_parties()
        self._draw_terms(number)
        self._draw_schedule()
        self.version = 1
        self.snapshot: tuple[str, int, str, int, int, str] = (N, 0, "current", 0, 0, "f")
        self.balance = 0  # what the installments owe in all (kept in step with every movement)
        self.state = "active"
        self.first = 0  # the oldest installment still owing

    # --- who, what, when ---------------------------------------------------------------------------

    def randint(self, low: int, high: int) -> int:
        return low + int(self.rand() * (high - low + 1))

    def _draw_parties(self) -> None:
        """The client (a few heavy ones), the agent (mostly the home agent; 2 % none), an admin."""
        plan, rng, rand = self.plan, self.batch.rng, self.rand
        if rand() < shapes.HEAVY_CREDIT_SHARE:
            # One of the few heavy clients (some 250 credits each at any scale), scattered over the ids.
            heavy = int(rand() * plan.heavy_clients)
            client = (heavy * 2_654_435_761) % plan.clients
        else:
            client = rng.randrange(plan.clients)
        self.user_id = plan.client_id(client)
        pick = rand()
        if pick < 0.90:
            agent_id: int | None = plan.home_agent(client)
        elif pick < 0.98:
            agent_id = plan.agent_id(rng.randrange(plan.agents))
        else:
            agent_id = None
        self.admin_id = plan.admin_id(rng.randrange(plan.admins))
        self.actor = agent_id if agent_id is not None else self.admin_id
        self.agent_sql = N if agent_id is None else str(agent_id)
        self.source = "admin" if agent_id is None else ("mobile" if rand() < 0.7 else "web")

    def _draw_terms(self, number: int) -> None:
        """Currency, product and price, periodicity, term, interest method and rate, payer profile, opening."""
        ctx, rand = self.ctx, self.rand
        self.code = code = "USD" if rand() < shapes.USD_SHARE else "COP"
        self.exp = f"e-{ctx.currencies[code].minor_units}"
        self.subcategory, tier = ctx.subcategories[int(rand() * len(ctx.subcategories))]
        points = shapes.PRICE_POINTS[code][tier]
        self.price = points[int(rand() * len(points))]
        self.cost = self.price * self.randint(55, 85) // 100
        self.periodicity = periodicity = ctx.periodicities[int(rand() * len(ctx.periodicities))]
        self.n = ctx.terms[periodicity][int(rand() * len(ctx.terms[periodicity]))]
        self.method, rates = ctx.methods[int(rand() * len(ctx.methods))]
        self.rate = rates[int(rand() * len(rates))]
        self.profile = ctx.profiles[int(rand() * len(ctx.profiles))]
        if number == 0:
            self.opened = self.today - shapes.HISTORY_DAYS  # the oldest credit: the history spans every month
            self.profile = "punctual"
        else:
            self.opened = self.today - 1 - int((shapes.HISTORY_DAYS - 1) * (1 - rand() ** 0.5))

    def _draw_schedule(self) -> None:
        """The schedule's amounts and due dates; the credit's and installments' ids; the opening time."""
        ctx, batch, n = self.ctx, self.batch, self.n
        if self.periodicity == "monthly":
            first_due = add_months(date.fromordinal(self.opened), 1).toordinal()
        else:
            first_due = self.opened + {"daily": 1, "weekly": 7, "biweekly": 14}[self.periodicity]
        currency = ctx.currencies[self.code]
        principals, interests = ctx.templates.amounts(self.method, self.periodicity, n, self.rate, self.price, currency)
        self.due = ctx.due_dates.ordinals(self.periodicity, first_due, n)
        self.cid = batch.uuid()
        self.receivable = accounts.receivable(cid_dashed(self.cid))  # type: ignore[arg-type]
        self.inst_ids = [batch.uuid() for _ in range(n)]
        self.opened_at = ctx.stamp(self.opened, _OPENING + self.randint(0, 3 * 3600))
        self.P = list(principals)
        self.I = list(interests)
        self.ADJ = [0] * n
        self.FEE = [0] * n
        self.WV = [0] * n
        self.PP = [0] * n
        self.PI = [0] * n
        self.PF = [0] * n

    # --- rows --------------------------------------------------------------------------------------

    def owed(self, i: int) -> int:
        return self.P[i] + self.ADJ[i] - self.PP[i] + self.I[i] - self.PI[i] + self.FEE[i] - self.WV[i] - self.PF[i]

    def tx(self, txid: str, day: int, legs: Sequence[tuple[str, str, int]], kind: str, status: str, src: str,
           agent: str, ref: str, memo: str, at: str, reverses: str = N, reversed_by: str = N) -> None:  # fmt: skip
        """A transaction and its postings; its amount is its debits (`Transaction.amount`)."""
        ctx = self.ctx
        debits = sum(amount for _, side, amount in legs if side == "debit")
        self.rows["ledger_transaction"].append(
            f"{txid}\t{ctx.days[day - ctx.day0]}\t{kind}\t{status}\t{src}\t{self.user_id}\t{agent}\t{self.cid}\t"
            f"{ref}\t{reverses}\t{reversed_by}\t{memo}\t{at}\t{debits}{self.exp}\t{self.code}\n"
        )
        self.post(txid, day, legs)

    def post(self, txid: str, day: int, legs: Sequence[tuple[str, str, int]]) -> None:
        ds = self.ctx.days[day - self.ctx.day0]
        posting_rows, bigint, exp, code = self.rows["ledger_posting"], self.batch.bigint, self.exp, self.code
        for account, side, amount in legs:
            posting_rows.append(f"{bigint('ledger_posting')}\t{ds}\t{txid}\t{account}\t{side}\t{amount}{exp}\t{code}\n")

    def event(self, kind: str, at: str, reason: str = "", amount: int | None = None, by: int | None = None) -> None:
        self.rows["credits_event"].append(
            f"{self.batch.uuid()}\t{self.cid}\t{kind}\t{at}\t{reason}\t"
            f"{N if amount is None else f'{amount}{self.exp}'}\t{N if by is None else by}\t{N}\n"
        )

    def write(self) -> None:
        """The credit and its installments, as they stand."""
        ctx, d0, exp, cid, agent_sql = self.ctx, self.ctx.day0, self.exp, self.cid, self.agent_sql
        days = ctx.days
        is_open = "t" if self.state in ("active", "defaulted") else "f"
        as_of, dpd, bucket, missed, morosidad, in_default = self.snapshot
        self.rows["credits_credit"].append(
            f"{cid}\t{self.user_id}\t{agent_sql}\t{self.code}\t{self.price}{exp}\t{self.cost}{exp}\t"
            f"{self.subcategory}\t{self.periodicity}\t{self.method}\t{self.rate}\t{self.n}\t{days[self.opened - d0]}\t"
            f"{self.state}\t{N}\t{as_of}\t{dpd}\t{bucket}\t{missed}\t{morosidad}\t{in_default}\t{self.version}\t"
            f"{self.opened_at}\n"
        )
        installment_rows = self.rows["credits_installment"]
        P, I, ADJ, FEE, WV, PP, PI, PF = self.P, self.I, self.ADJ, self.FEE, self.WV, self.PP, self.PI, self.PF  # noqa: E741
        inst_ids, due, owed = self.inst_ids, self.due, self.owed
        for i in range(self.n):
            installment_rows.append(
                f"{inst_ids[i]}\t{cid}\t{agent_sql}\t{i + 1}\t{days[due[i] - d0]}\t{P[i]}{exp}\t{I[i]}{exp}\t"
                f"{ADJ[i]}{exp}\t{FEE[i]}{exp}\t{WV[i]}{exp}\t{PP[i]}{exp}\t{PI[i]}{exp}\t{PF[i]}{exp}\t"
                f"{'f' if owed(i) else 't'}\t{is_open}\n"
            )

    # --- opening -----------------------------------------------------------------------------------

    def open(self) -> None:
        """`open_credit`: pending (opened this week), cancelled before delivery, or disbursed at once."""
        if self.opened >= self.today - 7 and self.rand() < 0.4:
            self.state = "pending"
        elif self.rand() < shapes.CANCELLED_SHARE:
            self.state = "cancelled"
            self.version += 1
            cancel_day = min(self.today - 1, self.opened + self.randint(0, 3))
            at = self.ctx.stamp(cancel_day, _ADMIN_DESK + self.randint(0, 3600))
            self.event("cancellation", at, CANCEL_REASON, None, self.actor)
        else:
            self._disburse()

    def _disburse(self) -> None:
        price, opened = self.price, self.opened
        self.event("activated", self.opened_at, "", price, self.actor)
        total_interest = sum(self.I)
        txid = self.batch.uuid()
        self.balance = price + total_interest
        legs = [(self.receivable, "debit", self.balance), (accounts.FUNDING, "credit", price)]
        if total_interest:
            legs.append((accounts.INTEREST_INCOME, "credit", total_interest))
        self.tx(txid, opened, legs, "disbursement", "confirmed", self.source, str(self.actor), self.cid,
                "disbursement", self.opened_at)  # fmt: skip

    # --- the nightly jobs, for this credit ---------------------------------------------------------

    def fee_job(self, day: int) -> None:
        """`apply_late_fees` for this credit as of `day`: one transaction for what accrued."""
        ctx, n, due = self.ctx, self.n, self.due
        P, I, ADJ, FEE, PP, PI = self.P, self.I, self.ADJ, self.FEE, self.PP, self.PI  # noqa: E741
        limit = day - ctx.grace
        charged = 0
        i = self.first
        while i < n and due[i] < limit:
            base = P[i] + ADJ[i] - PP[i] + I[i] - PI[i]
            if base > 0:
                fee = _round_half_even(base * ctx.fee_num * (day - due[i]), ctx.fee_den)
                cap = _round_half_even((P[i] + ADJ[i] + I[i]) * ctx.cap_num, ctx.cap_den)
                if cap < fee:
                    fee = cap
                if fee > FEE[i]:
                    charged += fee - FEE[i]
                    FEE[i] = fee
            i += 1
        if charged:
            txid = self.batch.uuid()
            self.tx(txid, day, ((self.receivable, "debit", charged), (accounts.LATE_FEE_INCOME, "credit", charged)),
                    "late_fee", "confirmed", "system", N, N, f"late fees as of {ctx.days[day - ctx.day0]}",
                    ctx.stamp(day, _FEE_JOB))  # fmt: skip
            self.version += 1
            self.balance += charged

    def delinquency_job(self, day: int) -> None:
        """`recompute_delinquency` for this credit as of `day`: the snapshot, and defaulted past the threshold."""
        ctx, n, due, owed = self.ctx, self.n, self.due, self.owed
        oldest = -1
        missed = 0
        i = self.first
        while i < n and due[i] < day:
            if owed(i):
                missed += 1
                if oldest < 0:
                    oldest = i
            i += 1
        dpd = day - due[oldest] if oldest >= 0 else 0
        in_default = ctx.delinquency.is_in_default(dpd)
        self.snapshot = (
            ctx.days[day - ctx.day0],
            dpd,
            bucket_for(dpd).value,
            missed,
            ctx.delinquency.morosidad_level(missed),
            "t" if in_default else "f",
        )
        self.version += 1
        if in_default and self.state == "active":
            self.state = "defaulted"
            self.event("defaulted", ctx.stamp(day, _DELINQUENCY_JOB), DEFAULT_REASON, self.balance)

    def waiver(self, day: int, i: int, amount: int, status: str, by: int, decider: int, reason: str, note: str,
               at: str) -> None:  # fmt: skip
        """A fee waiver requested by `by`; approved (booked) or rejected by `decider`, or left requested."""
        wid = self.batch.uuid()
        txid = N
        if status == "approved":
            self.WV[i] += amount
            self.balance -= amount
            txid = self.batch.uuid()
            self.tx(txid, day, ((accounts.FEE_WAIVERS, "debit", amount), (self.receivable, "credit", amount)),
                    "fee_waiver", "confirmed", "admin", str(decider), wid, reason, at)  # fmt: skip
            self.version += 1
        decided = status != "requested"
        self.rows["payments_fee_waiver"].append(
            f"{wid}\t{self.cid}\t{self.inst_ids[i]}\t{amount}{self.exp}\t{self.code}\t{reason}\t{by}\t{at}\t{status}\t"
            f"{decider if decided else N}\t{at if decided else N}\t{note}\t{txid}\n"
        )

    # --- collection visits -------------------------------------------------------------------------

    def collect(self) -> None:
        """The agent's visits until the credit is paid, the client stops paying, or today comes."""
        n = self.n
        stop_after = self.randint(0, n - 1) if self.profile == "stopper" else n * 4
        adjust_visit = self.randint(0, n - 1) if self.rand() < shapes.ADJUSTMENT_SHARE else -1
        last = self.opened
        visits = 0
        payments = 0
        while visits < 4 * n + 8:
            self._skip_settled()
            if self.first == n:
                self.state = "paid"
                return
            if payments >= stop_after:
                return
            day = self._visit_day(last)
            if day >= self.today:
                return
            visits += 1
            self.fee_job(day)
            if visits - 1 == adjust_visit:
                self._adjust(day)
            self._fee_desk(day)
            payments += 1
            last = day
            if self._visit_pays(day):
                self.state = "paid"
                return

    def _skip_settled(self) -> None:
        first, n, owed = self.first, self.n, self.owed
        while first < n and not owed(first):
            first += 1
        self.first = first

    def _visit_day(self, last: int) -> int:
        """The next visit: around the oldest due date, as the payer's profile has it, after the last one."""
        anchor = self.due[self.first]
        profile = self.profile
        if profile == "late":
            day = anchor + self.randint(self.ctx.grace + 1, 35)
        elif profile == "partial":
            day = anchor + self.randint(0, 12)
        else:
            day = anchor + self.randint(-2, 0)
        if self.periodicity == "daily" and profile != "punctual":
            gap_low, gap_high = shapes.VISIT_GAP[self.periodicity]
            day = max(day, last + self.randint(gap_low, gap_high))
        return max(day, last + 1)

    def _adjust(self, day: int) -> None:
        """`adjust_credit`: an insurance premium added to the last installment by an admin."""
        amount = max(100, self.price // 50 // 100 * 100)
        at = self.ctx.stamp(day, _ADMIN_DESK + self.randint(0, 1800))
        event_id = self.batch.uuid()
        self.rows["credits_event"].append(
            f"{event_id}\t{self.cid}\tadjustment\t{at}\t{ADJUSTMENT_REASON}\t{amount}{self.exp}\t{self.admin_id}\t{N}\n"
        )
        self.ADJ[self.n - 1] += amount
        self.balance += amount
        txid = self.batch.uuid()
        self.tx(txid, day, ((self.receivable, "debit", amount), (accounts.ADJUSTMENTS, "credit", amount)),
                "adjustment", "confirmed", "admin", str(self.admin_id), event_id, ADJUSTMENT_REASON, at)  # fmt: skip
        self.version += 1

    def _fee_desk(self, day: int) -> None:
        """With a fee owed on the oldest installment, an admin may waive half of it or reject a waiver."""
        first = self.first
        fee_owed = self.FEE[first] - self.WV[first] - self.PF[first]
        if fee_owed <= 0:
            return
        pick = self.rand()
        at = self.ctx.stamp(day, _ADMIN_DESK + 1800 + self.randint(0, 1800))
        admin_id = self.admin_id
        if pick < shapes.WAIVER_SHARE:
            half = _round_half_even(fee_owed, 2)
            if half:
                self.waiver(day, first, half, "approved", admin_id, admin_id, WAIVER_REASON, WAIVER_REASON, at)
        elif pick < shapes.WAIVER_SHARE + shapes.REJECTED_WAIVER_SHARE:
            self.waiver(day, first, fee_owed, "rejected", self.actor, admin_id, REJECTED_REASON, REJECTED_NOTE, at)

    def _due_now(self, day: int) -> tuple[int, int]:
        """(overdue, due now): what may be paid now without prepayment (`allocation.due_now`) is what the
        installments due by `day` and the one in progress ask for, less everything paid on the credit."""
        n, due, owed, first = self.n, self.due, self.owed, self.first
        PP, PI, PF = self.PP, self.PI, self.PF
        upcoming = first  # the installment in progress: the first one due after `day`
        while upcoming < n and due[upcoming] <= day:
            upcoming += 1
        while upcoming > 0 and due[upcoming - 1] > day:  # paid ahead of `first`
            upcoming -= 1
        overdue = sum(owed(i) for i in range(first, upcoming))
        prepaid = sum(PP[j] + PI[j] + PF[j] for j in range(upcoming + 1, n))
        return overdue, max(0, overdue + (owed(upcoming) if upcoming < n else 0) - prepaid)

    def _amount(self, day: int, overdue: int, due_now: int) -> int:
        """What the client pays at this visit, as the payer's profile has it."""
        profile = self.profile
        if profile == "partial":
            base = overdue or due_now
            amount = base * self.randint(30, 90) // 100 // 100 * 100
            if amount <= 0:
                amount = base
        elif profile == "late":
            amount = overdue or due_now
        elif self.rand() < shapes.PREPAY_PAYOFF_SHARE:
            amount = self.balance
        else:
            amount = self._covering(day, overdue)
        if amount <= 0:  # everything due now was prepaid: this visit pays ahead again
            amount = self.owed(self.first)
        return amount

    def _covering(self, day: int, overdue: int) -> int:
        """A punctual payment: what is overdue and the next installment(s) (a few more on daily credits)."""
        cover = self.randint(5, 7) if self.periodicity == "daily" else (2 if self.rand() < 0.3 else 1)
        n, due, owed = self.n, self.due, self.owed
        amount = overdue
        j = self.first
        while cover and j < n:
            if due[j] > day:
                amount += owed(j)
                cover -= 1
            j += 1
        return amount

    def _visit_pays(self, day: int) -> bool:
        """`register_payment` at this visit (a few bounce and are reversed); True when the credit is paid."""
        overdue, due_now = self._due_now(day)
        amount = self._amount(day, overdue, due_now)
        prepay = amount > due_now
        pid, txid, at, legs, allocated = self._register_payment(day, amount)
        self.version += 1
        self.balance -= amount
        settled = not self.balance
        bounced = not settled and self.rand() < shapes.REVERSAL_SHARE
        ds = self.ctx.days[day - self.ctx.day0]
        payment = (
            f"{pid}\t{self.cid}\t{self.user_id}\t{self.actor}\t{amount}{self.exp}\t{self.code}\t{ds}\t{at}\tseed-{pid}\t"
            f"{'t' if prepay else 'f'}\t{self.state}\t{txid}\t"
        )
        if bounced:
            self.rows["payments_payment"].append(payment + self._bounce(day, amount, pid, txid, at, legs, allocated))
            return False
        self.rows["payments_payment"].append(payment + f"posted\t{N}\t{N}\t\t{N}\n")
        self.tx(txid, day, legs, "repayment", "confirmed", self.source, str(self.actor), pid, "payment", at)
        return settled

    def _bounce(self, day: int, amount: int, pid: str, txid: str, at: str, legs: list[tuple[str, str, int]],
                allocated: list[tuple[int, int, int, int]]) -> str:  # fmt: skip
        """`reverse_payment` the same evening: allocation taken back, a mirrored transaction. Returns the
        payment row's reversal columns."""
        reversal_id = self.batch.uuid()
        back_at = self.ctx.stamp(day, _BOUNCES + self.randint(0, 3600))
        admin = str(self.admin_id)
        self.tx(txid, day, legs, "repayment", "reversed", self.source, str(self.actor), pid, "payment", at, N,
                reversal_id)  # fmt: skip
        mirrored = [(a, "credit" if s == "debit" else "debit", v) for a, s, v in legs]
        self.tx(
            reversal_id, day, mirrored, "reversal", "confirmed", "admin", admin, pid, REVERSAL_REASON, back_at, txid
        )
        PF, PI, PP = self.PF, self.PI, self.PP
        for i, fee, interest, principal in allocated:
            PF[i] -= fee
            PI[i] -= interest
            PP[i] -= principal
        self.first = allocated[0][0]
        self.balance += amount
        self.version += 1
        return f"reversed\t{reversal_id}\t{back_at}\t{REVERSAL_REASON}\t{self.admin_id}\n"

    def _register_payment(
        self, day: int, amount: int
    ) -> tuple[str, str, str, list[tuple[str, str, int]], list[tuple[int, int, int, int]]]:
        """`register_payment`: method lines over 1-3 accounts and the allocation waterfall applied.

        Returns the payment and transaction ids, the time, the repayment's legs and the allocation
        (installment index, late fee, interest, principal); the caller writes the payment and its
        transaction once it knows whether the payment bounces.
        """
        ctx = self.ctx
        at = ctx.stamp(day, _VISITS + int(self.rand() * 6 * 3600))
        pid = self.batch.uuid()
        txid = self.batch.uuid()
        legs = self._method_lines(day, amount, pid, txid)
        legs.append((self.receivable, "credit", amount))
        return pid, txid, at, legs, self._allocate(amount, pid)

    def _method_lines(self, day: int, amount: int, pid: str, txid: str) -> list[tuple[str, str, int]]:
        """The payment split over 1-3 payment accounts, in whole currency units where possible; their legs."""
        ctx, rand = self.ctx, self.rand
        accts = ctx.catalog.accounts[self.code]
        ds = ctx.days[day - ctx.day0]
        wanted = ctx.lines[int(rand() * len(ctx.lines))]
        wanted = min(wanted, len(accts))
        parts: list[int] = []
        left = amount
        for _ in range(wanted - 1):
            share = left * (25 + int(rand() * 41)) // 100 // 100 * 100
            if share <= 0 or share >= left:
                break
            parts.append(share)
            left -= share
        parts.append(left)
        chosen = _distinct(rand, accts, len(parts))
        line_rows, bigint, cid, exp, code = self.rows["payments_line"], self.batch.bigint, self.cid, self.exp, self.code
        legs: list[tuple[str, str, int]] = []
        for account_id, part in zip(chosen, parts, strict=True):
            line_rows.append(
                f"{bigint('payments_line')}\t{ds}\t{pid}\t{cid}\t{txid}\t{account_id}\t{part}{exp}\t{code}\n"
            )
            legs.append((f"{accounts.CASH_PREFIX}{account_id}", "debit", part))
        return legs

    def _allocate(self, amount: int, pid: str) -> list[tuple[int, int, int, int]]:
        """The waterfall: oldest installment first; late fee, interest, principal."""
        P, I, ADJ, FEE, WV, PP, PI, PF = self.P, self.I, self.ADJ, self.FEE, self.WV, self.PP, self.PI, self.PF  # noqa: E741
        allocation_rows, bigint = self.rows["payments_allocation"], self.batch.bigint
        inst_ids, exp = self.inst_ids, self.exp
        allocated: list[tuple[int, int, int, int]] = []
        left = amount
        i = self.first
        n = self.n
        while left and i < n:
            fee_owed = FEE[i] - WV[i] - PF[i]
            interest_owed = I[i] - PI[i]
            principal_owed = P[i] + ADJ[i] - PP[i]
            if fee_owed + interest_owed + principal_owed > 0:
                fee = min(fee_owed, left)
                left -= fee
                interest = min(interest_owed, left)
                left -= interest
                principal = min(principal_owed, left)
                left -= principal
                PF[i] += fee
                PI[i] += interest
                PP[i] += principal
                allocation_rows.append(
                    f"{bigint('payments_allocation')}\t{pid}\t{inst_ids[i]}\t{len(allocated)}\t{fee}{exp}\t"
                    f"{interest}{exp}\t{principal}{exp}\n"
                )
                allocated.append((i, fee, interest, principal))
            i += 1
        if left:
            raise AssertionError(f"A payment of {amount} exceeds what credit {self.cid} owes.")
        return allocated

    # --- write-off or today's nightly jobs ---------------------------------------------------------

    def settle_today(self) -> None:
        """A client who stopped paying may be written off past 180 days; else today's nightly jobs run
        (and an agent may ask to waive half of a fee owed)."""
        self._skip_settled()
        first, n, today = self.first, self.n, self.today
        write_off_day = self.due[first] + 181 + self.randint(0, 120) if first < n else today
        if self.profile == "stopper" and write_off_day < today and self.rand() < shapes.WRITE_OFF_SHARE:
            self._write_off(write_off_day)
            return
        self.fee_job(today)
        self.delinquency_job(today)
        if self.rand() < shapes.REQUESTED_WAIVER_SHARE:
            self._request_waiver()

    def _write_off(self, day: int) -> None:
        self.fee_job(day)
        self.delinquency_job(day)
        amount = self.balance
        at = self.ctx.stamp(day, _WRITE_OFF_DESK + self.randint(0, 3600))
        event_id = self.batch.uuid()
        admin_id = self.admin_id
        self.rows["credits_event"].append(
            f"{event_id}\t{self.cid}\twrite_off\t{at}\t{WRITE_OFF_REASON}\t{amount}{self.exp}\t{admin_id}\t{N}\n"
        )
        txid = self.batch.uuid()
        self.tx(txid, day, ((accounts.WRITE_OFFS, "debit", amount), (self.receivable, "credit", amount)),
                "write_off", "confirmed", "admin", str(admin_id), event_id, WRITE_OFF_REASON, at)  # fmt: skip
        self.state = "written_off"
        self.version += 1

    def _request_waiver(self) -> None:
        """An agent asks to waive half of the first fee owed (left for an admin to decide)."""
        FEE, WV, PF = self.FEE, self.WV, self.PF
        for i in range(self.first, self.n):
            fee_owed = FEE[i] - WV[i] - PF[i]
            if fee_owed > 0:
                half = _round_half_even(fee_owed, 2)
                if half:
                    at = self.ctx.stamp(self.today, _WAIVER_REQUEST)
                    self.waiver(self.today, i, half, "requested", self.actor, self.actor, REQUEST_REASON, "", at)
                break


def _distinct(rand: object, items: list[int], k: int) -> list[int]:
    """`k` (1 to 3) distinct items picked at random (`random.sample`, cheaper for tiny k)."""
    m = len(items)
    a = int(rand() * m)  # type: ignore[operator]
    if k == 1:
        return [items[a]]
    b = int(rand() * (m - 1))  # type: ignore[operator]
    b += b >= a
    if k == 2:
        return [items[a], items[b]]
    low, high = (a, b) if a < b else (b, a)
    c = int(rand() * (m - 2))  # type: ignore[operator]
    c += c >= low
    c += c >= high
    return [items[a], items[b], items[c]]


def cid_dashed(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
