"""One batch of credits, simulated through the domain's rules and written as COPY text rows.

Every credit lives its history in date order, exactly as the use cases would book it
(`domain.application.services`), with money as integer minor units instead of `Money` objects:

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
        "reversed_by_id, memo, recorded_at"
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
        ctx, plan, rng = self.ctx, self.ctx.plan, self.rng
        rand = rng.random

        def randint(low: int, high: int) -> int:
            return low + int(rand() * (high - low + 1))

        rows = self.rows
        tx_rows, posting_rows = rows["ledger_transaction"], rows["ledger_posting"]
        event_rows = rows["credits_event"]
        days, d0, stamp = ctx.days, ctx.day0, ctx.stamp
        today = ctx.today

        # --- who, what, when ---------------------------------------------------------------------
        if rand() < shapes.HEAVY_CREDIT_SHARE:
            # One of the few heavy clients (some 250 credits each at any scale), scattered over the ids.
            heavy = int(rand() * plan.heavy_clients)
            client = (heavy * 2_654_435_761) % plan.clients
        else:
            client = rng.randrange(plan.clients)
        user_id = plan.client_id(client)
        pick = rand()
        if pick < 0.90:
            agent_id: int | None = plan.home_agent(client)
        elif pick < 0.98:
            agent_id = plan.agent_id(rng.randrange(plan.agents))
        else:
            agent_id = None
        admin_id = plan.admin_id(rng.randrange(plan.admins))
        actor = agent_id if agent_id is not None else admin_id
        agent_sql = N if agent_id is None else str(agent_id)
        source = "admin" if agent_id is None else ("mobile" if rand() < 0.7 else "web")
        code = "USD" if rand() < shapes.USD_SHARE else "COP"
        currency = ctx.currencies[code]
        exp = f"e-{currency.minor_units}"
        subcategory, tier = ctx.subcategories[int(rand() * len(ctx.subcategories))]
        points = shapes.PRICE_POINTS[code][tier]
        price = points[int(rand() * len(points))]
        cost = price * randint(55, 85) // 100
        periodicity = ctx.periodicities[int(rand() * len(ctx.periodicities))]
        count = ctx.terms[periodicity][int(rand() * len(ctx.terms[periodicity]))]
        method, rates = ctx.methods[int(rand() * len(ctx.methods))]
        rate = rates[int(rand() * len(rates))]
        profile = ctx.profiles[int(rand() * len(ctx.profiles))]
        if number == 0:
            opened = today - shapes.HISTORY_DAYS  # the oldest credit: the history spans every month
            profile = "punctual"
        else:
            opened = today - 1 - int((shapes.HISTORY_DAYS - 1) * (1 - rand() ** 0.5))
        if periodicity == "monthly":
            first_due = add_months(date.fromordinal(opened), 1).toordinal()
        else:
            first_due = opened + {"daily": 1, "weekly": 7, "biweekly": 14}[periodicity]
        principals, interests = ctx.templates.amounts(method, periodicity, count, rate, price, currency)
        due = ctx.due_dates.ordinals(periodicity, first_due, count)
        n = count
        cid = self.uuid()
        receivable = accounts.receivable(cid_dashed(cid))  # type: ignore[arg-type]
        inst_ids = [self.uuid() for _ in range(n)]
        opened_at = stamp(opened, _OPENING + randint(0, 3 * 3600))

        P = list(principals)
        I = list(interests)  # noqa: E741
        ADJ = [0] * n
        FEE = [0] * n
        WV = [0] * n
        PP = [0] * n
        PI = [0] * n
        PF = [0] * n
        version = 1
        snapshot = (N, 0, "current", 0, 0, "f")
        balance = 0  # what the installments owe in all (kept in step with every movement)

        def owed(i: int) -> int:
            return P[i] + ADJ[i] - PP[i] + I[i] - PI[i] + FEE[i] - WV[i] - PF[i]

        def tx(txid: str, day: int, kind: str, status: str, src: str, agent: str, ref: str, memo: str, at: str,
               reverses: str = N, reversed_by: str = N) -> None:  # fmt: skip
            tx_rows.append(
                f"{txid}\t{days[day - d0]}\t{kind}\t{status}\t{src}\t{user_id}\t{agent}\t{cid}\t{ref}\t{reverses}\t"
                f"{reversed_by}\t{memo}\t{at}\n"
            )

        def post(txid: str, day: int, legs: Sequence[tuple[str, str, int]]) -> None:
            ds = days[day - d0]
            for account, side, amount in legs:
                posting_rows.append(
                    f"{self.bigint('ledger_posting')}\t{ds}\t{txid}\t{account}\t{side}\t{amount}{exp}\t{code}\n"
                )

        def event(kind: str, at: str, reason: str = "", amount: int | None = None, by: int | None = None) -> None:
            event_rows.append(
                f"{self.uuid()}\t{cid}\t{kind}\t{at}\t{reason}\t{N if amount is None else f'{amount}{exp}'}\t"
                f"{N if by is None else by}\t{N}\n"
            )

        def fee_job(day: int) -> None:
            """`apply_late_fees` for this credit as of `day`: one transaction for what accrued."""
            nonlocal version, balance
            limit = day - ctx.grace
            charged = 0
            i = first
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
                txid = self.uuid()
                tx(txid, day, "late_fee", "confirmed", "system", N, N, f"late fees as of {days[day - d0]}",
                   stamp(day, _FEE_JOB))  # fmt: skip
                post(txid, day, ((receivable, "debit", charged), (accounts.LATE_FEE_INCOME, "credit", charged)))
                version += 1
                balance += charged

        def delinquency_job(day: int) -> bool:
            """`recompute_delinquency` for this credit as of `day`; True when it became defaulted."""
            nonlocal version, snapshot, state
            oldest = -1
            missed = 0
            i = first
            while i < n and due[i] < day:
                if owed(i):
                    missed += 1
                    if oldest < 0:
                        oldest = i
                i += 1
            dpd = day - due[oldest] if oldest >= 0 else 0
            in_default = ctx.delinquency.is_in_default(dpd)
            snapshot = (
                days[day - d0],
                dpd,
                bucket_for(dpd).value,
                missed,
                ctx.delinquency.morosidad_level(missed),
                "t" if in_default else "f",
            )
            version += 1
            if in_default and state == "active":
                state = "defaulted"
                event("defaulted", stamp(day, _DELINQUENCY_JOB), DEFAULT_REASON, outstanding())
                return True
            return False

        def outstanding() -> int:
            return balance

        def waiver(day: int, i: int, amount: int, status: str, by: int, decider: int, reason: str, note: str,
                   at: str) -> None:  # fmt: skip
            """A fee waiver requested by `by`; approved (booked) or rejected by `decider`, or left requested."""
            nonlocal version, balance
            wid = self.uuid()
            txid = N
            if status == "approved":
                WV[i] += amount
                balance -= amount
                txid = self.uuid()
                tx(txid, day, "fee_waiver", "confirmed", "admin", str(decider), wid, reason, at)
                post(txid, day, ((accounts.FEE_WAIVERS, "debit", amount), (receivable, "credit", amount)))
                version += 1
            decided = status != "requested"
            rows["payments_fee_waiver"].append(
                f"{wid}\t{cid}\t{inst_ids[i]}\t{amount}{exp}\t{code}\t{reason}\t{by}\t{at}\t{status}\t"
                f"{decider if decided else N}\t{at if decided else N}\t{note}\t{txid}\n"
            )

        # --- opening -----------------------------------------------------------------------------
        state = "active"
        first = 0
        if opened >= today - 7 and rand() < 0.4:
            state = "pending"
        elif rand() < shapes.CANCELLED_SHARE:
            state = "cancelled"
            version += 1
            cancel_day = min(today - 1, opened + randint(0, 3))
            event("cancellation", stamp(cancel_day, _ADMIN_DESK + randint(0, 3600)), CANCEL_REASON, None, actor)
        else:
            event("activated", opened_at, "", price, actor)
            total_interest = sum(interests)
            txid = self.uuid()
            tx(txid, opened, "disbursement", "confirmed", source, str(actor), cid, "disbursement", opened_at)
            balance = price + total_interest
            legs = [(receivable, "debit", balance), (accounts.FUNDING, "credit", price)]
            if total_interest:
                legs.append((accounts.INTEREST_INCOME, "credit", total_interest))
            post(txid, opened, legs)

        # --- collection visits -------------------------------------------------------------------
        if state == "active":
            stop_after = randint(0, n - 1) if profile == "stopper" else n * 4
            adjust_visit = randint(0, n - 1) if rand() < shapes.ADJUSTMENT_SHARE else -1
            gap_low, gap_high = shapes.VISIT_GAP[periodicity]
            accts = ctx.catalog.accounts[code]
            last = opened
            visits = 0
            payments = 0
            while visits < 4 * n + 8:
                while first < n and not owed(first):
                    first += 1
                if first == n:
                    state = "paid"
                    break
                if payments >= stop_after:
                    break
                anchor = due[first]
                if profile == "late":
                    day = anchor + randint(ctx.grace + 1, 35)
                elif profile == "partial":
                    day = anchor + randint(0, 12)
                else:
                    day = anchor + randint(-2, 0)
                if periodicity == "daily" and profile != "punctual":
                    day = max(day, last + randint(gap_low, gap_high))
                day = max(day, last + 1)
                if day >= today:
                    break
                visits += 1
                fee_job(day)
                if visits - 1 == adjust_visit:
                    amount = max(100, price // 50 // 100 * 100)
                    at = stamp(day, _ADMIN_DESK + randint(0, 1800))
                    event_id = self.uuid()
                    event_rows.append(
                        f"{event_id}\t{cid}\tadjustment\t{at}\t{ADJUSTMENT_REASON}\t{amount}{exp}\t{admin_id}\t{N}\n"
                    )
                    ADJ[n - 1] += amount
                    balance += amount
                    txid = self.uuid()
                    tx(txid, day, "adjustment", "confirmed", "admin", str(admin_id), event_id, ADJUSTMENT_REASON, at)
                    post(txid, day, ((receivable, "debit", amount), (accounts.ADJUSTMENTS, "credit", amount)))
                    version += 1
                fee_owed = FEE[first] - WV[first] - PF[first]
                if fee_owed > 0:
                    pick = rand()
                    at = stamp(day, _ADMIN_DESK + 1800 + randint(0, 1800))
                    if pick < shapes.WAIVER_SHARE:
                        half = _round_half_even(fee_owed, 2)
                        if half:
                            waiver(day, first, half, "approved", admin_id, admin_id, WAIVER_REASON, WAIVER_REASON, at)
                    elif pick < shapes.WAIVER_SHARE + shapes.REJECTED_WAIVER_SHARE:
                        waiver(day, first, fee_owed, "rejected", actor, admin_id, REJECTED_REASON, REJECTED_NOTE, at)
                # What may be paid now without prepayment (`allocation.due_now`): what the installments
                # due by `day` and the one in progress ask for, less everything paid on the credit.
                upcoming = first  # the installment in progress: the first one due after `day`
                while upcoming < n and due[upcoming] <= day:
                    upcoming += 1
                while upcoming > 0 and due[upcoming - 1] > day:  # paid ahead of `first`
                    upcoming -= 1
                overdue = sum(owed(i) for i in range(first, upcoming))
                prepaid = sum(PP[j] + PI[j] + PF[j] for j in range(upcoming + 1, n))
                due_now = max(0, overdue + (owed(upcoming) if upcoming < n else 0) - prepaid)
                if profile == "partial":
                    base = overdue or due_now
                    amount = base * randint(30, 90) // 100 // 100 * 100
                    if amount <= 0:
                        amount = base
                elif profile == "late":
                    amount = overdue or due_now
                elif rand() < shapes.PREPAY_PAYOFF_SHARE:
                    amount = outstanding()
                else:
                    cover = randint(5, 7) if periodicity == "daily" else (2 if rand() < 0.3 else 1)
                    amount = overdue
                    j = first
                    while cover and j < n:
                        if due[j] > day:
                            amount += owed(j)
                            cover -= 1
                        j += 1
                if amount <= 0:  # everything due now was prepaid: this visit pays ahead again
                    amount = owed(first)
                prepay = amount > due_now
                pid, txid, at, legs, allocated = self.pay(
                    cid, receivable, code, exp, day, amount, accts, inst_ids, P, I, ADJ, FEE, WV, PP, PI, PF, first
                )
                version += 1
                payments += 1
                last = day
                balance -= amount
                settled = not balance
                bounced = not settled and rand() < shapes.REVERSAL_SHARE
                ds = days[day - d0]
                rows["payments_payment"].append(
                    f"{pid}\t{cid}\t{user_id}\t{actor}\t{amount}{exp}\t{code}\t{ds}\t{at}\tseed-{pid}\t"
                    f"{'t' if prepay else 'f'}\t{state}\t{txid}\t"
                )
                if bounced:
                    # `reverse_payment` the same evening: allocation taken back, a mirrored transaction.
                    reversal_id = self.uuid()
                    back_at = stamp(day, _BOUNCES + randint(0, 3600))
                    rows["payments_payment"][-1] += (
                        f"reversed\t{reversal_id}\t{back_at}\t{REVERSAL_REASON}\t{admin_id}\n"
                    )
                    tx(txid, day, "repayment", "reversed", source, str(actor), pid, "payment", at, N, reversal_id)
                    post(txid, day, legs)
                    tx(reversal_id, day, "reversal", "confirmed", "admin", str(admin_id), pid, REVERSAL_REASON,
                       back_at, txid)  # fmt: skip
                    post(reversal_id, day, [(a, "credit" if s == "debit" else "debit", v) for a, s, v in legs])
                    for i, fee, interest, principal in allocated:
                        PF[i] -= fee
                        PI[i] -= interest
                        PP[i] -= principal
                    first = allocated[0][0]
                    balance += amount
                    version += 1
                else:
                    rows["payments_payment"][-1] += f"posted\t{N}\t{N}\t\t{N}\n"
                    tx(txid, day, "repayment", "confirmed", source, str(actor), pid, "payment", at)
                    post(txid, day, legs)
                    if settled:
                        state = "paid"
                        break

        # --- write-off or today's nightly jobs ---------------------------------------------------
        if state == "active":
            while first < n and not owed(first):
                first += 1
            write_off_day = due[first] + 181 + randint(0, 120) if first < n else today
            if profile == "stopper" and write_off_day < today and rand() < shapes.WRITE_OFF_SHARE:
                fee_job(write_off_day)
                delinquency_job(write_off_day)
                amount = outstanding()
                at = stamp(write_off_day, _WRITE_OFF_DESK + randint(0, 3600))
                event_id = self.uuid()
                event_rows.append(
                    f"{event_id}\t{cid}\twrite_off\t{at}\t{WRITE_OFF_REASON}\t{amount}{exp}\t{admin_id}\t{N}\n"
                )
                txid = self.uuid()
                tx(txid, write_off_day, "write_off", "confirmed", "admin", str(admin_id), event_id, WRITE_OFF_REASON,
                   at)  # fmt: skip
                post(txid, write_off_day, ((accounts.WRITE_OFFS, "debit", amount), (receivable, "credit", amount)))
                state = "written_off"
                version += 1
            else:
                fee_job(today)
                delinquency_job(today)
                if rand() < shapes.REQUESTED_WAIVER_SHARE:
                    for i in range(first, n):
                        fee_owed = FEE[i] - WV[i] - PF[i]
                        if fee_owed > 0:
                            half = _round_half_even(fee_owed, 2)
                            if half:
                                at = stamp(today, _WAIVER_REQUEST)
                                waiver(today, i, half, "requested", actor, actor, REQUEST_REASON, "", at)
                            break

        # --- the credit and its installments, as they stand --------------------------------------
        is_open = "t" if state in ("active", "defaulted") else "f"
        as_of, dpd, bucket, missed, morosidad, in_default = snapshot
        rows["credits_credit"].append(
            f"{cid}\t{user_id}\t{agent_sql}\t{code}\t{price}{exp}\t{cost}{exp}\t{subcategory}\t{periodicity}\t"
            f"{method}\t{rate}\t{n}\t{days[opened - d0]}\t{state}\t{N}\t{as_of}\t{dpd}\t{bucket}\t{missed}\t"
            f"{morosidad}\t{in_default}\t{version}\t{opened_at}\n"
        )
        installment_rows = rows["credits_installment"]
        for i in range(n):
            installment_rows.append(
                f"{inst_ids[i]}\t{cid}\t{agent_sql}\t{i + 1}\t{days[due[i] - d0]}\t{P[i]}{exp}\t{I[i]}{exp}\t"
                f"{ADJ[i]}{exp}\t{FEE[i]}{exp}\t{WV[i]}{exp}\t{PP[i]}{exp}\t{PI[i]}{exp}\t{PF[i]}{exp}\t"
                f"{'f' if owed(i) else 't'}\t{is_open}\n"
            )

    # --- payments ------------------------------------------------------------------------------------

    def pay(
        self,
        cid: str,
        receivable: str,
        code: str,
        exp: str,
        day: int,
        amount: int,
        accts: list[int],
        inst_ids: list[str],
        P: list[int],
        I: list[int],  # noqa: E741
        ADJ: list[int],
        FEE: list[int],
        WV: list[int],
        PP: list[int],
        PI: list[int],
        PF: list[int],
        first: int,
    ) -> tuple[str, str, str, list[tuple[str, str, int]], list[tuple[int, int, int, int]]]:
        """`register_payment`: method lines over 1-3 accounts and the allocation waterfall applied.

        Returns the payment and transaction ids, the time, the repayment's legs and the allocation
        (installment index, late fee, interest, principal); the caller writes the payment and its
        transaction once it knows whether the payment bounces.
        """
        ctx, rng, rows = self.ctx, self.rng, self.rows
        ds = ctx.days[day - ctx.day0]
        rand = rng.random
        at = ctx.stamp(day, _VISITS + int(rand() * 6 * 3600))
        pid = self.uuid()
        txid = self.uuid()
        # Split over 1-3 payment accounts, in whole currency units where possible.
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
        chosen = _distinct(rng.random, accts, len(parts))
        line_rows = rows["payments_line"]
        legs: list[tuple[str, str, int]] = []
        for account_id, part in zip(chosen, parts, strict=True):
            line_rows.append(
                f"{self.bigint('payments_line')}\t{ds}\t{pid}\t{cid}\t{txid}\t{account_id}\t{part}{exp}\t{code}\n"
            )
            legs.append((f"{accounts.CASH_PREFIX}{account_id}", "debit", part))
        legs.append((receivable, "credit", amount))
        # The waterfall: oldest installment first; late fee, interest, principal.
        allocation_rows = rows["payments_allocation"]
        allocated: list[tuple[int, int, int, int]] = []
        left = amount
        i = first
        n = len(P)
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
                    f"{self.bigint('payments_allocation')}\t{pid}\t{inst_ids[i]}\t{len(allocated)}\t{fee}{exp}\t"
                    f"{interest}{exp}\t{principal}{exp}\n"
                )
                allocated.append((i, fee, interest, principal))
            i += 1
        if left:
            raise AssertionError(f"A payment of {amount} exceeds what credit {cid} owes.")
        return pid, txid, at, legs, allocated


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
