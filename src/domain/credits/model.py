"""The Credit aggregate: its installments, its guarded states and its recorded events.

A Credit owns its installments; every change to what a client owes goes through a Credit method
so that the rules hold: money only moves on an open credit (active or defaulted); nothing paid
exceeds what was owed; the credit becomes `paid` when nothing is outstanding; adjustments,
write-offs, cancellations, refinancing and default/cure are appended to `events`, never edits.
`events` holds what was recorded since the credit was loaded (every event of a new one): saving
appends them to the credit's history, which is the repository's and is not loaded with the credit
(a payment never reads it, and loading it was a statement more on every change of a credit).

What is owed is always *derived* from the installment figures (scheduled principal and interest,
adjustments, late fees charged, waived and paid); no balance is stored as a truth of its own.
The `delinquency` snapshot is a cache of `delinquency_on(...)` written by the nightly job so the
database can index `is_in_default`; the rules themselves live in `delinquency_on`.

The objects are plain dataclasses with explicit ids so that the ORM mappers can rebuild them from
rows and save them field by field.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from domain.credits.accrual import RefinanceBalance, refinance_balance
from domain.credits.delinquency import CLEAR, Delinquency, DelinquencyPolicy
from domain.credits.errors import (
    AdjustmentRefused,
    CannotActivate,
    CannotCancel,
    CannotCure,
    CannotDefault,
    CannotMarkPaid,
    CannotRefinance,
    CannotReopen,
    CannotWriteOff,
    CostAbovePrice,
    CreditNotOpen,
    DatedBeforeOpening,
    IllegalTransition,
)
from domain.credits.schedule import (
    InterestMethod,
    Periodicity,
    ScheduleTerms,
    generate_schedule,
    require_no_empty_installments,
    require_rate_fits_method,
)
from domain.shared.aging import bucket_for
from domain.shared.calendar import HolidayCalendar
from domain.shared.credit_states import OPEN_STATE_VALUES
from domain.shared.errors import CurrencyMismatch, InvalidInput, NotFound, RuleViolated, WaiverRefused
from domain.shared.ids import IdGenerator
from domain.shared.money import Currency, Money, require_storable, total


class CreditState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAID = "paid"
    DEFAULTED = "defaulted"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"
    REFINANCED = "refinanced"

    @property
    def is_open(self) -> bool:
        """Money may move (payments, fees, waivers, adjustments) only on an open credit."""
        return self in _OPEN

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


# Open states: domain.shared.credit_states states them once for every context and the SQL.
OPEN_STATES: tuple[CreditState, ...] = tuple(CreditState(value) for value in OPEN_STATE_VALUES)
_OPEN = frozenset(OPEN_STATES)
_TERMINAL = frozenset({CreditState.WRITTEN_OFF, CreditState.CANCELLED, CreditState.REFINANCED})

# Every legal move, keyed by target state; the error names the move that was refused.
_TRANSITIONS: dict[CreditState, tuple[frozenset[CreditState], type[IllegalTransition]]] = {
    CreditState.ACTIVE: (frozenset({CreditState.PENDING}), CannotActivate),
    CreditState.PAID: (_OPEN, CannotMarkPaid),
    CreditState.DEFAULTED: (frozenset({CreditState.ACTIVE}), CannotDefault),
    CreditState.WRITTEN_OFF: (_OPEN, CannotWriteOff),
    CreditState.CANCELLED: (frozenset({CreditState.PENDING}), CannotCancel),
    CreditState.REFINANCED: (_OPEN, CannotRefinance),
}


class CreditEventKind(enum.StrEnum):
    ACTIVATED = "activated"
    ADJUSTMENT = "adjustment"
    WRITE_OFF = "write_off"
    CANCELLATION = "cancellation"
    REFINANCE = "refinance"
    DEFAULTED = "defaulted"
    CURED = "cured"


@dataclass(frozen=True, slots=True)
class CreditEvent:
    """Something that happened to a credit, kept forever (an append-only row)."""

    id: UUID
    credit_id: UUID
    kind: CreditEventKind
    occurred_at: datetime
    reason: str = ""
    amount: Money | None = None
    actor_id: int | None = None
    related_credit_id: UUID | None = None


@dataclass(slots=True)
class Installment:
    """One due date of a credit and the state of its money.

    `principal`/`interest` are the schedule and never change; `adjustment` is the signed change
    adjustments made to the principal owed; `late_fee` is every fee charged so far (cumulative),
    of which `late_fee_waived` was waived; the `paid_*` fields are what payments covered.
    """

    id: UUID
    credit_id: UUID
    number: int
    due_date: date
    principal: Money
    interest: Money
    adjustment: Money
    late_fee: Money
    late_fee_waived: Money
    paid_principal: Money
    paid_interest: Money
    paid_late_fee: Money

    @classmethod
    def scheduled(
        cls, *, id: UUID, credit_id: UUID, number: int, due_date: date, principal: Money, interest: Money
    ) -> Installment:
        zero = Money.zero(principal.currency)
        return cls(id, credit_id, number, due_date, principal, interest, zero, zero, zero, zero, zero, zero)

    @property
    def currency(self) -> Currency:
        return self.principal.currency

    def __post_init__(self) -> None:
        # One currency for every figure, checked once here: the figures below are then worked out
        # on the bare Decimals (an installment is read on every payment, many times over).
        currency = self.principal.currency
        for figure in (
            self.interest,
            self.adjustment,
            self.late_fee,
            self.late_fee_waived,
            self.paid_principal,
            self.paid_interest,
            self.paid_late_fee,
        ):
            if figure.currency != currency:
                raise CurrencyMismatch("An installment's figures must share one currency.")

    def _money(self, amount: Decimal) -> Money:
        return Money._make(amount, self.principal.currency)

    @property
    def principal_due(self) -> Money:
        return self._money(self.principal.amount + self.adjustment.amount)

    @property
    def amount(self) -> Money:
        """What this installment asks for, late fees aside (principal as adjusted + interest)."""
        return self._money(self.principal.amount + self.adjustment.amount + self.interest.amount)

    @property
    def principal_outstanding(self) -> Money:
        return self._money(self.principal.amount + self.adjustment.amount - self.paid_principal.amount)

    @property
    def interest_outstanding(self) -> Money:
        return self._money(self.interest.amount - self.paid_interest.amount)

    @property
    def late_fee_outstanding(self) -> Money:
        return self._money(self.late_fee.amount - self.late_fee_waived.amount - self.paid_late_fee.amount)

    @property
    def scheduled_outstanding(self) -> Money:
        """Principal and interest still owed (the base late fees accrue on: no fee on fees)."""
        return self._money(self._scheduled_owed())

    @property
    def outstanding(self) -> Money:
        return self._money(self.owed())

    def _scheduled_owed(self) -> Decimal:
        return (
            self.principal.amount
            + self.adjustment.amount
            - self.paid_principal.amount
            + self.interest.amount
            - self.paid_interest.amount
        )

    def owed(self) -> Decimal:
        """`outstanding` as a bare Decimal (for sums over many installments)."""
        return self._scheduled_owed() + self.late_fee.amount - self.late_fee_waived.amount - self.paid_late_fee.amount

    @property
    def paid(self) -> Money:
        return self._money(self.paid_principal.amount + self.paid_interest.amount + self.paid_late_fee.amount)

    @property
    def is_settled(self) -> bool:
        return not self.owed()

    def days_past_due(self, as_of: date) -> int:
        """Days since the due date while anything is owed; 0 on the due date and once settled."""
        if self.is_settled or as_of <= self.due_date:
            return 0
        return (as_of - self.due_date).days

    def _apply(self, late_fee: Money, interest: Money, principal: Money) -> None:
        if late_fee.is_negative or interest.is_negative or principal.is_negative:
            raise InvalidInput("Allocation parts cannot be negative.")
        if late_fee > self.late_fee_outstanding or interest > self.interest_outstanding:
            raise RuleViolated(f"Allocation exceeds what installment {self.number} owes.")
        if principal > self.principal_outstanding:
            raise RuleViolated(f"Allocation exceeds what installment {self.number} owes.")
        self.paid_late_fee += late_fee
        self.paid_interest += interest
        self.paid_principal += principal

    def _unapply(self, late_fee: Money, interest: Money, principal: Money) -> None:
        if late_fee > self.paid_late_fee or interest > self.paid_interest or principal > self.paid_principal:
            raise RuleViolated(f"Cannot take back more than was paid on installment {self.number}.")
        self.paid_late_fee -= late_fee
        self.paid_interest -= interest
        self.paid_principal -= principal


class AllocationPart(Protocol):
    """What credits needs of an allocation line (the payments context's lines fit it)."""

    @property
    def installment_id(self) -> UUID: ...

    @property
    def late_fee(self) -> Money: ...

    @property
    def interest(self) -> Money: ...

    @property
    def principal(self) -> Money: ...


class RestatedInstallment(Protocol):
    """An installment's figures after a reprocessing (the payments' replay outcome fits it)."""

    @property
    def late_fee(self) -> Money: ...

    @property
    def paid_late_fee(self) -> Money: ...

    @property
    def paid_interest(self) -> Money: ...

    @property
    def paid_principal(self) -> Money: ...


@dataclass(slots=True)
class Credit:
    id: UUID
    user_id: int
    agent_id: int | None
    price: Money
    cost: Money
    subcategory_id: int | None
    periodicity: Periodicity
    interest_method: InterestMethod
    annual_rate: Decimal
    opened_on: date
    state: CreditState
    installments: list[Installment]
    # Recorded since it was loaded; not part of its state (a reloaded credit equals the saved one).
    events: list[CreditEvent] = field(default_factory=list, compare=False)
    refinanced_from_id: UUID | None = None
    delinquency: Delinquency = CLEAR
    # Opened with cost above price on purpose (a loss-leader); without it such a credit is refused.
    allow_loss: bool = False
    # Optimistic-lock counter: the repository compares and bumps it; the domain never reads it.
    version: int = 0

    def __post_init__(self) -> None:
        # The credit's sums add its installments' bare Decimals: one currency, checked once here.
        if any(i.principal.currency != self.price.currency for i in self.installments):
            raise CurrencyMismatch("A credit's installments must be in its currency.")

    @classmethod
    def open(
        cls,
        *,
        id: UUID,
        user_id: int,
        agent_id: int | None,
        price: Money,
        cost: Money,
        subcategory_id: int | None,
        terms: ScheduleTerms,
        opened_on: date,
        ids: IdGenerator,
        holidays: HolidayCalendar | None = None,
        refinanced_from_id: UUID | None = None,
        allow_loss: bool = False,
    ) -> Credit:
        """A new pending credit with its schedule generated from `terms` (principal = price).

        Refused: cost above price unless `allow_loss` (a loss-leader said so explicitly), a rate
        the interest method cannot mean, and a schedule with installments of 0.00.
        """
        if terms.principal != price:
            raise InvalidInput("The schedule's principal must be the credit's price.")
        if cost.currency != price.currency:
            raise InvalidInput("Price and cost must be in the same currency.")
        if cost.is_negative:
            raise InvalidInput("The cost cannot be negative.")
        require_storable(price, "The price")
        require_storable(cost, "The cost")
        if cost > price and not allow_loss:
            raise CostAbovePrice(
                "The cost is above the price (negative earnings); say allow_loss: true if it is a loss-leader.",
                details={"price": str(price.amount), "cost": str(cost.amount)},
            )
        if terms.first_due_date < opened_on:
            raise InvalidInput("The first due date cannot be before the credit is opened.")
        require_rate_fits_method(terms.method, terms.annual_rate)
        rows = generate_schedule(terms, holidays)
        require_no_empty_installments(rows)
        installments = [
            Installment.scheduled(
                id=ids.new_id(),
                credit_id=id,
                number=row.number,
                due_date=row.due_date,
                principal=row.principal,
                interest=row.interest,
            )
            for row in rows
        ]
        return cls(
            id=id,
            user_id=user_id,
            agent_id=agent_id,
            price=price,
            cost=cost,
            subcategory_id=subcategory_id,
            periodicity=terms.periodicity,
            interest_method=terms.method,
            annual_rate=terms.annual_rate,
            opened_on=opened_on,
            state=CreditState.PENDING,
            installments=installments,
            refinanced_from_id=refinanced_from_id,
            allow_loss=allow_loss,
        )

    # --- derived figures ------------------------------------------------------------------------

    @property
    def currency(self) -> Currency:
        return self.price.currency

    @property
    def earnings(self) -> Money:
        return self.price - self.cost

    @property
    def total_interest(self) -> Money:
        return total((i.interest for i in self.installments), self.currency)

    @property
    def total_due(self) -> Money:
        """Everything ever asked of the client: schedule, adjustments and late fees charged."""
        return self._sum(
            i.principal.amount + i.adjustment.amount + i.interest.amount + i.late_fee.amount for i in self.installments
        )

    @property
    def total_paid(self) -> Money:
        return self._sum(
            i.paid_principal.amount + i.paid_interest.amount + i.paid_late_fee.amount for i in self.installments
        )

    @property
    def outstanding(self) -> Money:
        """What remains unsettled on the installments, whatever the state."""
        return self._sum(i.owed() for i in self.installments)

    def _sum(self, amounts: Iterable[Decimal]) -> Money:
        """A sum of the installments' figures (one currency: each installment checks its own)."""
        currency = self.currency
        return Money._make(sum(amounts, Money.zero(currency).amount), currency)

    @property
    def pending(self) -> Money:
        """What the client owes now: the outstanding of an open credit, zero otherwise.

        A pending credit was not disbursed yet; a written-off, refinanced or cancelled one is
        closed (a refinanced balance lives on in the new credit).
        """
        return self.outstanding if self.state.is_open else Money.zero(self.currency)

    def overdue(self, as_of: date) -> Money:
        """Outstanding of installments whose due date has passed."""
        return total((i.outstanding for i in self.installments if i.due_date < as_of), self.currency)

    def next_due(self) -> Installment | None:
        """The earliest installment not yet settled."""
        return next((i for i in self.installments if not i.is_settled), None)

    def refinance_balance(self, on: date) -> RefinanceBalance:
        """What refinancing on `on` would carry: principal, interest earned, unpaid fees (domain.credits.accrual)."""
        self.require_not_before_opening(on, "A refinance")
        return refinance_balance(self.installments, self.opened_on, on, self.currency)

    def require_not_before_opening(self, on: date, what: str) -> None:
        """No money is booked on a credit with a date before it was opened."""
        if on < self.opened_on:
            raise DatedBeforeOpening(
                f"{what} cannot be dated {on.isoformat()}, before the credit was opened; "
                f"the earliest allowed date is {self.opened_on.isoformat()}.",
                details={"date": on.isoformat(), "earliest_allowed": self.opened_on.isoformat()},
            )

    def installment(self, installment_id: UUID) -> Installment:
        for inst in self.installments:
            if inst.id == installment_id:
                return inst
        raise NotFound("No such installment on this credit.", details={"installment_id": str(installment_id)})

    def delinquency_on(self, as_of: date, policy: DelinquencyPolicy) -> Delinquency:
        """Days past due of the oldest unpaid installment, its aging bucket, default and morosidad."""
        oldest = next((i for i in self.installments if not i.is_settled and i.due_date < as_of), None)
        days = oldest.days_past_due(as_of) if oldest else 0
        missed = sum(1 for i in self.installments if not i.is_settled and i.due_date < as_of)
        return Delinquency(
            as_of=as_of,
            days_past_due=days,
            bucket=bucket_for(days),
            missed_installments=missed,
            morosidad_level=policy.morosidad_level(missed),
            is_in_default=policy.is_in_default(days),
        )

    # --- state machine --------------------------------------------------------------------------

    def _move(self, target: CreditState) -> None:
        allowed, error = _TRANSITIONS[target]
        if self.state not in allowed:
            raise error(
                f"A {self.state} credit cannot become {target}.",
                details={"from": self.state.value, "to": target.value},
            )
        self.state = target

    def _require_open(self) -> None:
        if not self.state.is_open:
            raise CreditNotOpen(f"Money cannot move on a {self.state} credit.", details={"state": self.state.value})

    def _event(
        self,
        event_id: UUID,
        kind: CreditEventKind,
        at: datetime,
        *,
        reason: str = "",
        amount: Money | None = None,
        actor_id: int | None = None,
        related_credit_id: UUID | None = None,
    ) -> CreditEvent:
        event = CreditEvent(event_id, self.id, kind, at, reason, amount, actor_id, related_credit_id)
        self.events.append(event)
        return event

    def _settle_if_done(self) -> None:
        if self.outstanding.is_zero:
            self._move(CreditState.PAID)

    def activate(self, *, event_id: UUID, at: datetime, actor_id: int | None = None) -> None:
        """Disbursed: pending → active."""
        self._move(CreditState.ACTIVE)
        self._event(event_id, CreditEventKind.ACTIVATED, at, amount=self.price, actor_id=actor_id)

    def cancel(self, *, event_id: UUID, reason: str, at: datetime, actor_id: int | None = None) -> None:
        """Never disbursed: pending → cancelled."""
        _require_reason(reason)
        self._move(CreditState.CANCELLED)
        self._event(event_id, CreditEventKind.CANCELLATION, at, reason=reason, actor_id=actor_id)

    def write_off(self, *, event_id: UUID, reason: str, at: datetime, on: date, actor_id: int | None = None) -> Money:
        """Give up on the outstanding balance on business date `on`; returns the amount written off."""
        _require_reason(reason)
        self.require_not_before_opening(on, "A write-off")
        amount = self.outstanding
        self._move(CreditState.WRITTEN_OFF)
        self._event(event_id, CreditEventKind.WRITE_OFF, at, reason=reason, amount=amount, actor_id=actor_id)
        return amount

    def mark_refinanced(
        self,
        *,
        event_id: UUID,
        new_credit_id: UUID,
        reason: str,
        at: datetime,
        on: date,
        actor_id: int | None = None,
    ) -> RefinanceBalance:
        """Closed on business date `on` into a new credit; returns what it carries (the event's amount)
        and what is unearned (see `refinance_balance`)."""
        _require_reason(reason)
        balance = self.refinance_balance(on)
        self._move(CreditState.REFINANCED)
        self._event(
            event_id,
            CreditEventKind.REFINANCE,
            at,
            reason=reason,
            amount=balance.carried,
            actor_id=actor_id,
            related_credit_id=new_credit_id,
        )
        return balance

    def refresh_delinquency(
        self, as_of: date, policy: DelinquencyPolicy, *, event_id: UUID, at: datetime
    ) -> Delinquency:
        """Store the delinquency snapshot and move active ↔ defaulted to match `is_in_default`.

        `event_id` is used only if the state changes (then a DEFAULTED or CURED event is kept).
        """
        snapshot = self.delinquency_on(as_of, policy)
        self.delinquency = snapshot
        if snapshot.is_in_default and self.state is CreditState.ACTIVE:
            self.declare_default(event_id=event_id, at=at, reason="days past due over the default threshold")
        elif not snapshot.is_in_default and self.state is CreditState.DEFAULTED:
            self.cure(event_id=event_id, at=at)
        return snapshot

    def declare_default(self, *, event_id: UUID, at: datetime, reason: str = "", actor_id: int | None = None) -> None:
        """Active → defaulted (the nightly job does it when `is_in_default`; an admin may too)."""
        self._move(CreditState.DEFAULTED)
        self._event(event_id, CreditEventKind.DEFAULTED, at, reason=reason, amount=self.outstanding, actor_id=actor_id)

    def cure(self, *, event_id: UUID, at: datetime, actor_id: int | None = None) -> None:
        """Defaulted → active (the arrears were caught up)."""
        if self.state is not CreditState.DEFAULTED:
            raise CannotCure(
                f"A {self.state} credit cannot be cured.", details={"from": self.state.value, "to": "active"}
            )
        self.state = CreditState.ACTIVE
        self._event(event_id, CreditEventKind.CURED, at, actor_id=actor_id)

    def _reopen(self, state: CreditState) -> None:
        if self.state is not CreditState.PAID or not state.is_open:
            raise CannotReopen(
                f"A {self.state} credit cannot be reopened as {state}.",
                details={"from": self.state.value, "to": state.value},
            )
        self.state = state

    # --- money ----------------------------------------------------------------------------------

    def apply_allocation(self, parts: Iterable[AllocationPart]) -> CreditState:
        """Apply a payment's allocation lines; returns the state before (kept to reverse exactly)."""
        self._require_open()
        before = self.state
        for part in parts:
            self.installment(part.installment_id)._apply(part.late_fee, part.interest, part.principal)
        self._settle_if_done()
        return before

    def reverse_allocation(self, parts: Iterable[AllocationPart], *, state_before: CreditState) -> None:
        """Take a payment's allocation back out and restore the state it found the credit in."""
        if not (self.state.is_open or self.state is CreditState.PAID):
            raise CreditNotOpen(
                f"A payment on a {self.state} credit cannot be reversed.", details={"state": self.state.value}
            )
        for part in parts:
            self.installment(part.installment_id)._unapply(part.late_fee, part.interest, part.principal)
        if self.state is CreditState.PAID and not self.outstanding.is_zero:
            self._reopen(state_before)

    def restate(self, figures: Mapping[UUID, RestatedInstallment], *, reopen_as: CreditState) -> Money:
        """Take a reprocessing's outcome: what each installment was paid, and its late fee.

        Money still moves only on an open credit, or a paid one a reversal reopens (as
        `reopen_as`); a restatement may lower a late fee (never below what was waived) but never
        raise one. Returns the late fees it took back.
        """
        if not (self.state.is_open or self.state is CreditState.PAID):
            raise CreditNotOpen(f"Money cannot move on a {self.state} credit.", details={"state": self.state.value})
        if set(figures) != {i.id for i in self.installments}:
            raise RuleViolated("A restatement must cover every installment of the credit.")
        lowered = Money.zero(self.currency)
        for inst in self.installments:
            new = figures[inst.id]
            if new.late_fee > inst.late_fee or new.late_fee < inst.late_fee_waived + new.paid_late_fee:
                raise RuleViolated(f"Restated late fee out of bounds on installment {inst.number}.")
            if new.paid_interest > inst.interest or new.paid_principal > inst.principal_due:
                raise RuleViolated(f"Restated payments exceed what installment {inst.number} owes.")
            if new.paid_interest.is_negative or new.paid_principal.is_negative or new.paid_late_fee.is_negative:
                raise RuleViolated(f"Restated payments on installment {inst.number} cannot be negative.")
            lowered += inst.late_fee - new.late_fee
            inst.late_fee = new.late_fee
            inst.paid_late_fee = new.paid_late_fee
            inst.paid_interest = new.paid_interest
            inst.paid_principal = new.paid_principal
        if self.state is CreditState.PAID and not self.outstanding.is_zero:
            self._reopen(reopen_as if reopen_as.is_open else CreditState.ACTIVE)
        elif self.state.is_open:
            self._settle_if_done()
        return lowered

    def charge_late_fee(self, installment_id: UUID, amount: Money) -> None:
        self._require_open()
        if not amount.is_positive:
            raise InvalidInput("A late fee must be positive.")
        inst = self.installment(installment_id)
        inst.late_fee += amount

    def waive_late_fee(self, installment_id: UUID, amount: Money) -> None:
        self._require_open()
        inst = self.installment(installment_id)
        if not amount.is_positive or amount > inst.late_fee_outstanding:
            raise WaiverRefused(
                "A waiver must be positive and at most the late fee still owed.",
                details={"owed": str(inst.late_fee_outstanding), "asked": str(amount)},
            )
        inst.late_fee_waived += amount
        self._settle_if_done()

    def adjust(
        self, *, event_id: UUID, amount: Money, reason: str, at: datetime, on: date, actor_id: int | None = None
    ) -> None:
        """Change the principal owed by a signed amount on business date `on`, recorded as an event.

        A positive adjustment lands on the last installment; a negative one is taken from the
        principal still owed, last installment first, and cannot exceed it.
        """
        _require_reason(reason)
        self._require_open()
        self.require_not_before_opening(on, "An adjustment")
        if amount.currency != self.currency or amount.is_zero:
            raise AdjustmentRefused("An adjustment must be non-zero and in the credit's currency.")
        require_storable(amount, "The adjustment")
        if amount.is_positive:
            principal = total((i.principal_due for i in self.installments), self.currency)
            require_storable(principal + amount, "The credit's principal after this adjustment")
            self.installments[-1].adjustment += amount
        else:
            owed = total((i.principal_outstanding for i in self.installments), self.currency)
            if -amount > owed:
                raise AdjustmentRefused(
                    "A negative adjustment cannot exceed the principal still owed.",
                    details={"principal_owed": str(owed), "asked": str(amount)},
                )
            left = -amount
            for inst in reversed(self.installments):
                take = left.min(inst.principal_outstanding)
                inst.adjustment -= take
                left -= take
        self._event(event_id, CreditEventKind.ADJUSTMENT, at, reason=reason, amount=amount, actor_id=actor_id)
        self._settle_if_done()


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.")
