"""The use cases. Each runs in one unit of work and books its money movement in the ledger.

Every function takes `ports` first and an `actor` last; money-changing ones lock the credit
(`for_update=True`) before reading what is owed, so two concurrent payments cannot both pass the
overpayment check. Book-wide jobs (late fees, delinquency) walk open credits by keyset chunks,
one unit of work per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from domain.application.audit import AuditEvent, AuditRecord, Figures
from domain.application.ports import SYSTEM, Actor, Ports
from domain.credits.accrual import RefinanceBalance
from domain.credits.model import Credit, CreditState
from domain.credits.schedule import InterestMethod, Periodicity, ScheduleTerms
from domain.ledger import entries
from domain.ledger.book import BookCheck
from domain.ledger.book import verify_book as check_book
from domain.ledger.model import Side, Transaction
from domain.payments.allocation import allocate_payment, due_now, refuse_beyond_due_now
from domain.payments.late_fees import FeeCharge, assess_late_fees
from domain.payments.model import FeeWaiver, MethodLine, Payment
from domain.payments.replay import replay
from domain.shared.errors import (
    CannotRefinance,
    CreditNotOpen,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    OverpaymentRefused,
    WaiverRefused,
)
from domain.shared.money import Money, require_storable, total

# --- helpers -------------------------------------------------------------------------------------


def _credit(ports: Ports, credit_id: UUID) -> Credit:
    credit = ports.credits.get(credit_id, for_update=True)
    if credit is None:
        raise NotFound("No such credit.", details={"credit_id": str(credit_id)})
    return credit


def _meta(
    ports: Ports,
    credit: Credit,
    actor: Actor,
    *,
    on: date | None = None,
    reference_id: UUID | None = None,
    memo: str = "",
) -> entries.Meta:
    return entries.Meta(
        id=ports.ids.new_id(),
        source=actor.source,
        occurred_on=on or ports.clock.today(),
        recorded_at=ports.clock.now(),
        user_id=credit.user_id,
        agent_id=actor.user_id,
        credit_id=credit.id,
        reference_id=reference_id,
        memo=memo,
    )


def _audit(
    ports: Ports,
    event: AuditEvent,
    actor: Actor,
    credit: Credit | UUID | None,
    before: Figures | None,
    *,
    reference_id: UUID | None = None,
    amount: Money | None = None,
    **details: str,
) -> None:
    """Append the event's audit record to the use case's unit of work (after = the credit as saved).

    `credit` is the credit as saved, or only its id for an event about a credit that moves none of
    its figures (a waiver requested or rejected): the record carries the id either way, so the
    trail of a credit lists every money event about it."""
    figures = credit if isinstance(credit, Credit) else None
    ports.audit.append(
        AuditRecord(
            event=event,
            at=ports.clock.now(),
            actor_id=actor.user_id,
            actor_role=actor.role or ("system" if actor.user_id is None else ""),
            source=actor.source.value,
            origin=actor.origin,
            credit_id=figures.id if figures is not None else credit,
            reference_id=reference_id,
            amount=amount,
            before=before,
            after=Figures.of(figures) if figures is not None else None,
            details={k: v for k, v in details.items() if v},
        )
    )


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("A reason is required.")
    return reason.strip()


# --- credits -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenCredit:
    user_id: int
    agent_id: int | None
    price: Money
    cost: Money
    subcategory_id: int | None
    periodicity: Periodicity
    installments: int
    first_due_date: date
    method: InterestMethod
    annual_rate: Decimal = Decimal(0)
    skip_sundays: bool = False
    skip_holidays: bool = False
    # Disburse at once (active, booked); False leaves it pending until `activate_credit`.
    disburse: bool = True
    # Cost above price is refused unless the caller says the credit is a loss-leader.
    allow_loss: bool = False


def open_credit(ports: Ports, cmd: OpenCredit, actor: Actor) -> Credit:
    """Open a credit (refused: amounts above `max_amount`, cost above price without `allow_loss`, a
    rate the method cannot mean, installments of 0.00 — see `Credit.open`)."""
    require_storable(cmd.price, "The price")
    require_storable(cmd.cost, "The cost")
    terms = ScheduleTerms(
        principal=cmd.price,
        installments=cmd.installments,
        periodicity=cmd.periodicity,
        first_due_date=cmd.first_due_date,
        method=cmd.method,
        annual_rate=cmd.annual_rate,
        skip_sundays=cmd.skip_sundays,
        skip_holidays=cmd.skip_holidays,
    )
    with ports.uow:
        credit = Credit.open(
            id=ports.ids.new_id(),
            user_id=cmd.user_id,
            agent_id=cmd.agent_id,
            price=cmd.price,
            cost=cmd.cost,
            subcategory_id=cmd.subcategory_id,
            terms=terms,
            opened_on=ports.clock.today(),
            ids=ports.ids,
            holidays=ports.holidays,
            allow_loss=cmd.allow_loss,
        )
        if cmd.disburse:
            _disburse(ports, credit, actor)
        ports.credits.save(credit)
        _audit(
            ports,
            AuditEvent.CREDIT_OPENED,
            actor,
            credit,
            None,
            amount=credit.price,
            allow_loss="true" if credit.allow_loss else "",
        )
        ports.uow.commit()
    return credit


def _disburse(ports: Ports, credit: Credit, actor: Actor) -> None:
    credit.activate(event_id=ports.ids.new_id(), at=ports.clock.now(), actor_id=actor.user_id)
    tx = entries.disbursement(
        _meta(ports, credit, actor, reference_id=credit.id, memo="disbursement"),
        principal=credit.price,
        interest=credit.total_interest,
    )
    ports.transactions.save(tx)


def activate_credit(ports: Ports, credit_id: UUID, actor: Actor) -> Credit:
    with ports.uow:
        credit = _credit(ports, credit_id)
        before = Figures.of(credit)
        _disburse(ports, credit, actor)
        ports.credits.save(credit)
        _audit(ports, AuditEvent.CREDIT_DISBURSED, actor, credit, before, amount=credit.price)
        ports.uow.commit()
    return credit


def cancel_credit(ports: Ports, credit_id: UUID, reason: str, actor: Actor) -> Credit:
    with ports.uow:
        credit = _credit(ports, credit_id)
        before = Figures.of(credit)
        credit.cancel(event_id=ports.ids.new_id(), reason=reason, at=ports.clock.now(), actor_id=actor.user_id)
        ports.credits.save(credit)
        _audit(ports, AuditEvent.CREDIT_CANCELLED, actor, credit, before, reason=reason)
        ports.uow.commit()
    return credit


def adjust_credit(ports: Ports, credit_id: UUID, amount: Money, reason: str, actor: Actor) -> Credit:
    """A positive or negative change of what the client owes, with a reason, booked today.

    Refused: an amount, or a principal after it, above `max_amount`; a date before the credit opened."""
    require_storable(amount, "The adjustment")
    with ports.uow:
        credit = _credit(ports, credit_id)
        before = Figures.of(credit)
        event_id = ports.ids.new_id()
        credit.adjust(
            event_id=event_id,
            amount=amount,
            reason=reason,
            at=ports.clock.now(),
            on=ports.clock.today(),
            actor_id=actor.user_id,
        )
        ports.transactions.save(
            entries.adjustment(_meta(ports, credit, actor, reference_id=event_id, memo=reason), amount=amount)
        )
        ports.credits.save(credit)
        _audit(
            ports,
            AuditEvent.CREDIT_ADJUSTED,
            actor,
            credit,
            before,
            reference_id=event_id,
            amount=amount,
            reason=reason,
        )
        ports.uow.commit()
    return credit


def write_off_credit(ports: Ports, credit_id: UUID, reason: str, actor: Actor) -> Credit:
    with ports.uow:
        credit = _credit(ports, credit_id)
        before = Figures.of(credit)
        event_id = ports.ids.new_id()
        amount = credit.write_off(
            event_id=event_id, reason=reason, at=ports.clock.now(), on=ports.clock.today(), actor_id=actor.user_id
        )
        ports.transactions.save(
            entries.write_off(_meta(ports, credit, actor, reference_id=event_id, memo=reason), amount=amount)
        )
        ports.credits.save(credit)
        _audit(
            ports,
            AuditEvent.CREDIT_WRITTEN_OFF,
            actor,
            credit,
            before,
            reference_id=event_id,
            amount=amount,
            reason=reason,
        )
        ports.uow.commit()
    return credit


@dataclass(frozen=True, slots=True)
class Refinance:
    credit_id: UUID
    installments: int
    periodicity: Periodicity
    first_due_date: date
    method: InterestMethod
    annual_rate: Decimal
    reason: str
    skip_sundays: bool = False
    skip_holidays: bool = False


@dataclass(frozen=True, slots=True)
class Refinanced:
    """The new credit, and what the old one carried into it, part by part."""

    credit: Credit
    balance: RefinanceBalance


def refinance_credit(ports: Ports, cmd: Refinance, actor: Actor) -> Refinanced:
    """Close an open credit today into a new active one whose principal is what is owed today.

    Carried (domain.credits.accrual): outstanding principal + interest earned to today and unpaid
    + late fees neither waived nor paid; never interest of time not yet elapsed. Unearned interest
    the client already paid is credited against the principal. The old schedule's unearned
    interest, recognised as income at disbursement, is reversed from interest income as the old
    receivable is closed in full. The new credit's cost equals its price: refinancing earns only
    the new schedule's interest.
    """
    reason = _require_reason(cmd.reason)
    with ports.uow:
        old = _credit(ports, cmd.credit_id)
        if not old.state.is_open:
            # Checked before the new schedule is built from the outstanding of a closed credit.
            raise CannotRefinance(
                f"A {old.state} credit cannot be refinanced.",
                details={"from": old.state.value, "to": "refinanced"},
            )
        before = Figures.of(old)
        today = ports.clock.today()
        balance = old.refinance_balance(today)
        if not balance.principal.is_positive:
            raise CannotRefinance(
                "The interest paid in advance covers the principal still owed: nothing is left to refinance.",
                details=balance.as_strings(),
            )
        carried = require_storable(balance.carried, "The refinanced principal (principal + accrued interest + fees)")
        terms = ScheduleTerms(
            principal=carried,
            installments=cmd.installments,
            periodicity=cmd.periodicity,
            first_due_date=cmd.first_due_date,
            method=cmd.method,
            annual_rate=cmd.annual_rate,
            skip_sundays=cmd.skip_sundays,
            skip_holidays=cmd.skip_holidays,
        )
        now = ports.clock.now()
        new = Credit.open(
            id=ports.ids.new_id(),
            user_id=old.user_id,
            agent_id=old.agent_id,
            price=carried,
            cost=carried,
            subcategory_id=old.subcategory_id,
            terms=terms,
            opened_on=today,
            ids=ports.ids,
            holidays=ports.holidays,
            refinanced_from_id=old.id,
        )
        event_id = ports.ids.new_id()
        old.mark_refinanced(
            event_id=event_id, new_credit_id=new.id, reason=reason, at=now, on=today, actor_id=actor.user_id
        )
        # The new credit is active at once; its disbursement is the refinance booking itself.
        new.activate(event_id=ports.ids.new_id(), at=now, actor_id=actor.user_id)
        ports.transactions.save(
            entries.refinance(
                _meta(ports, old, actor, reference_id=event_id, memo=reason),
                new_credit_id=new.id,
                carried=carried,
                unearned_interest=balance.unearned_interest,
                new_interest=new.total_interest,
            )
        )
        ports.credits.save(old)
        ports.credits.save(new)
        _audit(
            ports,
            AuditEvent.CREDIT_REFINANCED,
            actor,
            old,
            before,
            reference_id=new.id,
            amount=carried,
            reason=reason,
            new_credit_id=str(new.id),
            new_credit_due=str(new.total_due.amount),
            **balance.as_strings(),
        )
        ports.uow.commit()
    return Refinanced(new, balance)


# --- payments ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterPayment:
    credit_id: UUID
    amount: Money
    method_lines: tuple[MethodLine, ...]
    idempotency_key: str
    paid_on: date | None = None
    prepay: bool = False
    # The agent who took the money; the actor when not given.
    agent_id: int | None = None


def register_payment(ports: Ports, cmd: RegisterPayment, actor: Actor) -> Payment:
    """Allocate and book a payment; the same idempotency key and request replays the first result.

    A payment dated today is allocated over what the credit owes now. One dated earlier (entered
    late) may precede payments and late fees already booked, so the credit is reprocessed: every
    standing payment is allocated again in date order with it (see `domain.payments.replay`).
    """
    Payment.validate_request(cmd.amount, cmd.method_lines, cmd.idempotency_key)
    today = ports.clock.today()
    paid_on = cmd.paid_on or today
    if paid_on > today:
        raise InvalidInput("A payment cannot be dated in the future.", details={"latest": today.isoformat()})
    with ports.uow:
        known = ports.payments.get_by_idempotency_key(cmd.idempotency_key)
        if known is not None:
            if known.matches(
                credit_id=cmd.credit_id,
                amount=cmd.amount,
                method_lines=cmd.method_lines,
                paid_on=paid_on,
                prepay=cmd.prepay,
            ):
                return known
            raise IdempotencyKeyReused(
                "This idempotency key was used for another payment.", details={"payment_id": str(known.id)}
            )
        credit = _credit(ports, cmd.credit_id)
        if not credit.state.is_open:
            # Before any allocation: a paid credit refuses a payment for what it is, not as an overpayment.
            raise CreditNotOpen(f"A {credit.state} credit takes no payments.", details={"state": credit.state.value})
        if cmd.amount.currency != credit.currency:
            raise InvalidInput("The payment's currency is not the credit's.")
        credit.require_not_before_opening(paid_on, "A payment")
        before = Figures.of(credit)
        payment_id = ports.ids.new_id()
        agent_id = cmd.agent_id if cmd.agent_id is not None else actor.user_id
        meta = _meta(ports, credit, actor, on=paid_on, reference_id=payment_id, memo="payment")
        tx = entries.repayment(meta, lines=[(line.account_id, line.amount) for line in cmd.method_lines])
        payment = Payment(
            id=payment_id,
            credit_id=credit.id,
            user_id=credit.user_id,
            agent_id=agent_id,
            amount=cmd.amount,
            paid_on=paid_on,
            received_at=ports.clock.now(),
            idempotency_key=cmd.idempotency_key,
            method_lines=tuple(cmd.method_lines),
            allocations=(),
            prepay=cmd.prepay,
            credit_state_before=credit.state.value,
            transaction_id=tx.id,
        )
        if paid_on == today:
            payment.allocations = allocate_payment(cmd.amount, credit.installments, as_of=paid_on, prepay=cmd.prepay)
            credit.apply_allocation(payment.allocations)
        else:
            standing = ports.payments.posted_for_credit(credit.id)
            if not cmd.prepay:
                made_before = [p.amount for p in standing if p.paid_on <= paid_on]
                payable = due_now(
                    credit.installments, paid_on, credit.currency, paid=total(made_before, credit.currency)
                )
                refuse_beyond_due_now(cmd.amount, payable)
            _reprocess(
                ports, credit, standing, actor, added=payment, reopen_as=credit.state, cause=f"payment dated {paid_on}"
            )
        ports.transactions.save(tx)
        ports.payments.save(payment)
        ports.credits.save(credit)
        _audit(
            ports,
            AuditEvent.PAYMENT_REGISTERED,
            actor,
            credit,
            before,
            reference_id=payment.id,
            amount=payment.amount,
            paid_on=paid_on.isoformat(),
            agent_id=str(agent_id) if agent_id is not None else "",
        )
        ports.uow.commit()
    return payment


def reverse_payment(ports: Ports, payment_id: UUID, reason: str, actor: Actor) -> Payment:
    """Undo a payment: the ledger compensated, and the credit's other payments allocated again in
    date order as if it had never been made (`_reprocess`), the state restored if it reopens."""
    reason = _require_reason(reason)
    with ports.uow:
        payment = ports.payments.get(payment_id, for_update=True)
        if payment is None:
            raise NotFound("No such payment.", details={"payment_id": str(payment_id)})
        credit = _credit(ports, payment.credit_id)
        before = Figures.of(credit)
        original = ports.transactions.get(payment.transaction_id, for_update=True)
        if original is None:
            raise NotFound("The payment's ledger transaction is missing.")
        now = ports.clock.now()
        reversal_id = ports.ids.new_id()
        # The payment first: a second reversal is refused as such, before the ledger is touched.
        payment.reverse(transaction_id=reversal_id, at=now, reason=reason, by=actor.user_id)
        reversal = original.reverse(
            reversal_id=reversal_id,
            occurred_on=ports.clock.today(),
            recorded_at=now,
            source=actor.source,
            agent_id=actor.user_id,
            memo=reason,
        )
        standing = [p for p in ports.payments.posted_for_credit(credit.id) if p.id != payment.id]
        _reprocess(
            ports,
            credit,
            standing,
            actor,
            added=None,
            reopen_as=CreditState(payment.credit_state_before),
            cause=f"reversal of payment {payment.id}",
            reference_id=payment.id,
        )
        ports.transactions.save(original)
        ports.transactions.save(reversal)
        ports.payments.save(payment)
        ports.credits.save(credit)
        _audit(
            ports,
            AuditEvent.PAYMENT_REVERSED,
            actor,
            credit,
            before,
            reference_id=payment.id,
            amount=payment.amount,
            reason=reason,
        )
        ports.uow.commit()
    return payment


_COMPONENTS = ("late_fee", "interest", "principal")


def _reprocess(
    ports: Ports,
    credit: Credit,
    standing: Sequence[Payment],
    actor: Actor,
    *,
    added: Payment | None,
    reopen_as: CreditState,
    cause: str,
    reference_id: UUID | None = None,
) -> None:
    """Replay the credit's standing payments (and `added`, a backdated one) in date order over its
    schedule; restate the credit; give each payment that moved its new allocation (saved); book the
    moves and the late fees taken back as one balanced reallocation entry, and audit it.

    Raises OverpaymentRefused when the payments come to more than the credit owes (nothing is
    changed: the caller's unit of work is not committed).
    """
    payments = [*standing, added] if added is not None else list(standing)
    nights = ports.transactions.late_fee_nights(credit.id)
    result = replay(
        credit.installments, payments, currency=credit.currency, fee_nights=nights, policy=ports.policies.late_fees
    )
    if result.unallocated.is_positive:
        owed = credit.outstanding + (added.amount if added is not None else Money.zero(credit.currency))
        raise OverpaymentRefused(
            "The payment is more than the credit's outstanding balance.",
            details={"outstanding": str(owed - result.unallocated), "amount": str(added.amount if added else "")},
        )
    numbers = {i.id: i.number for i in credit.installments}
    moves: dict[tuple[int, str], Money] = {}
    moved: list[str] = []
    for payment in standing:
        lines = result.allocations[payment.id]
        if lines == payment.allocations:
            continue
        for taken_out, side in ((True, payment.allocations), (False, lines)):
            for line in side:
                for component in _COMPONENTS:
                    key = (numbers[line.installment_id], component)
                    part: Money = getattr(line, component)
                    moves[key] = moves.get(key, Money.zero(credit.currency)) + (-part if taken_out else part)
        payment.reallocate(lines)
        ports.payments.save(payment)
        moved.append(str(payment.id))
    if added is not None:
        added.allocations = result.allocations[added.id]
    before = Figures.of(credit)
    taken_back = credit.restate(result.installments, reopen_as=reopen_as)
    changes = [(number, component, change) for (number, component), change in sorted(moves.items())]
    if not any(not c.is_zero for _, _, c in changes) and taken_back.is_zero:
        return
    ref = reference_id or (added.id if added is not None else None)
    ports.transactions.save(
        entries.reallocation(
            _meta(ports, credit, actor, reference_id=ref, memo=cause), moves=changes, fees_taken_back=taken_back
        )
    )
    _audit(
        ports,
        AuditEvent.PAYMENTS_REPROCESSED,
        actor,
        credit,
        before,
        reference_id=ref,
        amount=taken_back,
        cause=cause,
        payments_reallocated=",".join(moved),
        late_fees_taken_back=str(taken_back.amount),
    )


# --- late fees and waivers -----------------------------------------------------------------------


def _charge_fees(ports: Ports, credit: Credit, as_of: date, actor: Actor) -> list[FeeCharge]:
    charges = assess_late_fees(credit.installments, as_of, ports.policies.late_fees)
    if not charges:
        return charges
    before = Figures.of(credit)
    for charge in charges:
        credit.charge_late_fee(charge.installment_id, charge.amount)
    amount = total((c.amount for c in charges), credit.currency)
    ports.transactions.save(
        entries.late_fee(_meta(ports, credit, actor, on=as_of, memo=f"late fees as of {as_of}"), amount=amount)
    )
    ports.credits.save(credit)
    _audit(ports, AuditEvent.LATE_FEE_CHARGED, actor, credit, before, amount=amount, as_of=as_of.isoformat())
    return charges


def charge_late_fees(
    ports: Ports, credit_id: UUID, actor: Actor = SYSTEM, as_of: date | None = None
) -> list[FeeCharge]:
    """Bring one credit's late fees up to date (idempotent for a given date)."""
    as_of = as_of or ports.clock.today()
    with ports.uow:
        credit = _credit(ports, credit_id)
        charges = _charge_fees(ports, credit, as_of, actor) if credit.state.is_open else []
        ports.uow.commit()
    return charges


@dataclass(slots=True)
class JobResult:
    """What a book-wide job did: credits visited and changed, and the money charged per currency."""

    visited: int = 0
    changed: int = 0
    charged: dict[str, Money] = field(default_factory=dict)


def apply_late_fees(ports: Ports, as_of: date | None = None, actor: Actor = SYSTEM) -> JobResult:
    """The nightly late-fee run over every open credit (keyset chunks, one unit of work each)."""
    as_of = as_of or ports.clock.today()
    result = JobResult()
    after: UUID | None = None
    while True:
        ids = ports.credits.open_credit_ids(after=after, limit=ports.policies.job_chunk)
        if not ids:
            return result
        with ports.uow:
            for credit_id in ids:
                credit = _credit(ports, credit_id)
                result.visited += 1
                if not credit.state.is_open:
                    continue  # closed since the ids were read
                charges = _charge_fees(ports, credit, as_of, actor)
                if charges:
                    result.changed += 1
                    code = credit.currency.code
                    charged = total((c.amount for c in charges), credit.currency)
                    result.charged[code] = result.charged.get(code, Money.zero(credit.currency)) + charged
            ports.uow.commit()
        after = ids[-1]


def recompute_delinquency(ports: Ports, as_of: date | None = None) -> JobResult:
    """Refresh every open credit's delinquency snapshot; move active ↔ defaulted accordingly."""
    as_of = as_of or ports.clock.today()
    policy = ports.policies.delinquency
    result = JobResult()
    after: UUID | None = None
    while True:
        ids = ports.credits.open_credit_ids(after=after, limit=ports.policies.job_chunk)
        if not ids:
            return result
        with ports.uow:
            for credit_id in ids:
                credit = _credit(ports, credit_id)
                result.visited += 1
                before = (credit.state, credit.delinquency)
                figures = Figures.of(credit)
                credit.refresh_delinquency(as_of, policy, event_id=ports.ids.new_id(), at=ports.clock.now())
                if (credit.state, credit.delinquency) != before:
                    result.changed += 1
                ports.credits.save(credit)
                if credit.state is not before[0]:
                    record_delinquency_change(ports, credit, figures, as_of)
            ports.uow.commit()
        after = ids[-1]


def record_delinquency_change(ports: Ports, credit: Credit, before: Figures, as_of: date) -> None:
    """Audit active -> defaulted or back (the nightly run's state change), in the caller's unit of work."""
    event = AuditEvent.CREDIT_DEFAULTED if credit.state is CreditState.DEFAULTED else AuditEvent.CREDIT_CURED
    _audit(ports, event, SYSTEM, credit, before, amount=credit.outstanding, as_of=as_of.isoformat())


@dataclass(frozen=True, slots=True)
class RequestWaiver:
    installment_id: UUID
    amount: Money
    reason: str


def _request(ports: Ports, cmd: RequestWaiver, requested_by: int) -> FeeWaiver:
    credit = ports.credits.get_by_installment(cmd.installment_id)
    if credit is None:
        raise NotFound("No such installment.", details={"installment_id": str(cmd.installment_id)})
    if cmd.amount.currency != credit.currency:
        raise InvalidInput("The waiver's currency is not the credit's.")
    credit.require_not_before_opening(ports.clock.today(), "A fee waiver")
    owed = credit.installment(cmd.installment_id).late_fee_outstanding
    if cmd.amount > owed:
        raise WaiverRefused(
            "A waiver cannot exceed the late fee still owed.",
            details={"owed": str(owed), "asked": str(cmd.amount)},
        )
    return FeeWaiver.request(
        id=ports.ids.new_id(),
        credit_id=credit.id,
        installment_id=cmd.installment_id,
        amount=cmd.amount,
        reason=cmd.reason,
        requested_by=requested_by,
        at=ports.clock.now(),
    )


def _person(actor: Actor) -> int:
    if actor.user_id is None:
        raise InvalidInput("Fee waivers are requested and decided by a person.")
    return actor.user_id


def request_fee_waiver(ports: Ports, cmd: RequestWaiver, actor: Actor) -> FeeWaiver:
    """An agent asks to waive (part of) a late fee; an admin decides later."""
    by = _person(actor)
    with ports.uow:
        waiver = _request(ports, cmd, by)
        ports.waivers.save(waiver)
        _audit(
            ports,
            AuditEvent.FEE_WAIVER_REQUESTED,
            actor,
            waiver.credit_id,
            None,
            reference_id=waiver.id,
            amount=waiver.amount,
            reason=waiver.reason,
        )
        ports.uow.commit()
    return waiver


def _approve(ports: Ports, waiver: FeeWaiver, note: str, by: int, actor: Actor) -> None:
    credit = _credit(ports, waiver.credit_id)
    before = Figures.of(credit)
    # Booked today (the ledger date): never before the credit was opened.
    credit.require_not_before_opening(ports.clock.today(), "A fee waiver")
    credit.waive_late_fee(waiver.installment_id, waiver.amount)
    meta = _meta(ports, credit, actor, reference_id=waiver.id, memo=waiver.reason)
    tx = entries.fee_waiver(meta, amount=waiver.amount)
    waiver.approve(by=by, at=ports.clock.now(), transaction_id=tx.id, note=note)
    ports.transactions.save(tx)
    ports.credits.save(credit)
    _audit(
        ports,
        AuditEvent.FEE_WAIVED,
        actor,
        credit,
        before,
        reference_id=waiver.id,
        amount=waiver.amount,
        reason=waiver.reason,
        note=note,
    )


def decide_fee_waiver(ports: Ports, waiver_id: UUID, *, approve: bool, note: str, actor: Actor) -> FeeWaiver:
    """An admin approves (the fee is waived and booked) or rejects (with a note) a request."""
    by = _person(actor)
    with ports.uow:
        waiver = ports.waivers.get(waiver_id, for_update=True)
        if waiver is None:
            raise NotFound("No such fee waiver.", details={"waiver_id": str(waiver_id)})
        if approve:
            _approve(ports, waiver, note, by, actor)
        else:
            waiver.reject(by=by, at=ports.clock.now(), note=note)
            _audit(
                ports,
                AuditEvent.FEE_WAIVER_REJECTED,
                actor,
                waiver.credit_id,
                None,
                reference_id=waiver.id,
                amount=waiver.amount,
                note=note,
            )
        ports.waivers.save(waiver)
        ports.uow.commit()
    return waiver


def waive_fee(ports: Ports, cmd: RequestWaiver, actor: Actor, note: str = "") -> FeeWaiver:
    """An admin waives a fee directly: requested and approved by the same person in one unit of work."""
    by = _person(actor)
    with ports.uow:
        waiver = _request(ports, cmd, by)
        _approve(ports, waiver, note or waiver.reason, by, actor)
        ports.waivers.save(waiver)
        ports.uow.commit()
    return waiver


# --- ledger --------------------------------------------------------------------------------------


def verify_book(ports: Ports) -> BookCheck:
    """Re-verify the whole book from its postings (streamed, nothing trusted)."""
    return check_book(ports.transactions.stream())


def record_transactions(ports: Ports, transactions: Sequence[Transaction], actor: Actor | None = None) -> None:
    """Save ledger-only bookings (income, expense) built with `domain.ledger.entries`.

    Audited as `actor`, else as who the booking names (its agent and source)."""
    with ports.uow:
        for tx in transactions:
            ports.transactions.save(tx)
            _audit(
                ports,
                AuditEvent.LEDGER_BOOKED,
                actor or Actor(user_id=tx.agent_id, source=tx.source),
                tx.credit_id,
                None,
                reference_id=tx.id,
                amount=total((p.amount for p in tx.postings if p.side is Side.DEBIT), tx.postings[0].amount.currency),
                type=tx.type.value,
                memo=tx.memo,
            )
        ports.uow.commit()
