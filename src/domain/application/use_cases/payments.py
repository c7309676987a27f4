"""Payment use cases: register (today's, or one entered late and replayed in date order) and reverse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from domain.application.audit import AuditEvent, Figures
from domain.application.ports import Actor, Ports
from domain.application.use_cases.common import (
    STAFF,
    audit,
    locked_credit,
    meta,
    not_found,
    require_reason,
    save_credit,
)
from domain.credits.errors import CreditNotOpen
from domain.credits.model import Credit, CreditState
from domain.identity.model import Role
from domain.ledger import entries
from domain.payments.allocation import AllocationLine, allocate_payment, due_now, refuse_beyond_due_now
from domain.payments.errors import IdempotencyKeyReused, OverpaymentRefused
from domain.payments.model import MethodLine, Payment
from domain.payments.replay import replay
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.money import Money, total


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
    # True when the caller already claimed this key in the same unit of work
    # (`domain.application.idempotency.run_once`): the payments need not be searched for it.
    key_claimed: bool = False


@dataclass(frozen=True, slots=True)
class PaymentBooked:
    """The payment, and what its credit still owes once it is booked (for the answer: no reload)."""

    payment: Payment
    credit_pending: Money


def register_payment(ports: Ports, cmd: RegisterPayment, actor: Actor) -> Payment:
    return book_payment(ports, cmd, actor).payment


def book_payment(ports: Ports, cmd: RegisterPayment, actor: Actor) -> PaymentBooked:
    """Allocate and book a payment (agent or admin); the same idempotency key and request replays
    the first result.

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
        known = None if cmd.key_claimed else _known(ports, cmd, paid_on)
        # Asked ahead, in the payment's currency (another one than the credit's is refused before the
        # accounts count): the question travels with the credit's lock, one round trip for both.
        usable = ports.accounts.usable({line.account_id for line in cmd.method_lines}, cmd.amount.currency)
        credit = locked_credit(ports, known.credit_id if known else cmd.credit_id, actor, roles=STAFF)
        if known is not None:
            return PaymentBooked(known, credit.pending)
        _require_payable(credit, cmd, paid_on, usable.get())
        before = Figures.of(credit)
        payment_id = ports.ids.new_id()
        tx = entries.repayment(
            meta(ports, credit, actor, on=paid_on, reference_id=payment_id, memo="payment"),
            lines=[(line.account_id, line.amount) for line in cmd.method_lines],
        )
        payment = _new_payment(ports, credit, cmd, actor, paid_on=paid_on, ids=(payment_id, tx.id))
        _allocate(ports, credit, payment, actor, today)
        ports.transactions.save(tx)
        ports.payments.save(payment)
        save_credit(ports, credit)
        audit(
            ports,
            AuditEvent.PAYMENT_REGISTERED,
            actor,
            credit,
            before,
            reference_id=payment.id,
            amount=payment.amount,
            paid_on=paid_on.isoformat(),
            agent_id=str(payment.agent_id) if payment.agent_id is not None else "",
        )
        ports.uow.commit()
    return PaymentBooked(payment, credit.pending)


def _known(ports: Ports, cmd: RegisterPayment, paid_on: date) -> Payment | None:
    known = ports.payments.get_by_idempotency_key(cmd.idempotency_key)
    if known is None or known.matches(
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


def _require_payable(credit: Credit, cmd: RegisterPayment, paid_on: date, usable: set[int]) -> None:
    if not credit.state.is_open:
        # Before any allocation: a paid credit refuses a payment for what it is, not as an overpayment.
        raise CreditNotOpen(f"A {credit.state} credit takes no payments.", details={"state": credit.state.value})
    if cmd.amount.currency != credit.currency:
        raise InvalidInput("The payment's currency is not the credit's.")
    wanted = {line.account_id for line in cmd.method_lines}
    if usable != wanted:
        raise NotFound(
            "Unknown, inactive or other-currency payment account.",
            details={"payment_account_ids": sorted(wanted - usable)},
        )
    credit.require_not_before_opening(paid_on, "A payment")


def _new_payment(
    ports: Ports, credit: Credit, cmd: RegisterPayment, actor: Actor, *, paid_on: date, ids: tuple[UUID, UUID]
) -> Payment:
    payment_id, transaction_id = ids
    return Payment(
        id=payment_id,
        credit_id=credit.id,
        user_id=credit.user_id,
        agent_id=cmd.agent_id if cmd.agent_id is not None else actor.user_id,
        amount=cmd.amount,
        paid_on=paid_on,
        received_at=ports.clock.now(),
        idempotency_key=cmd.idempotency_key,
        method_lines=tuple(cmd.method_lines),
        allocations=(),
        prepay=cmd.prepay,
        credit_state_before=credit.state.value,
        transaction_id=transaction_id,
    )


def _allocate(ports: Ports, credit: Credit, payment: Payment, actor: Actor, today: date) -> None:
    if payment.paid_on == today:
        payment.allocations = allocate_payment(payment.amount, credit.installments, as_of=today, prepay=payment.prepay)
        credit.apply_allocation(payment.allocations)
        return
    standing = ports.payments.posted_for_credit(credit.id)
    if not payment.prepay:
        made_before = [p.amount for p in standing if p.paid_on <= payment.paid_on]
        payable = due_now(
            credit.installments, payment.paid_on, credit.currency, paid=total(made_before, credit.currency)
        )
        refuse_beyond_due_now(payment.amount, payable)
    reprocess(
        ports,
        credit,
        standing,
        actor,
        added=payment,
        reopen_as=credit.state,
        cause=f"payment dated {payment.paid_on}",
    )


def reverse_payment(ports: Ports, payment_id: UUID, reason: str, actor: Actor) -> Payment:
    return undo_payment(ports, payment_id, reason, actor).payment


def undo_payment(ports: Ports, payment_id: UUID, reason: str, actor: Actor) -> PaymentBooked:
    """Undo a payment (admin): the ledger compensated, and the credit's other payments allocated
    again in date order as if it had never been made (`reprocess`), the state restored if it reopens."""
    reason = require_reason(reason)
    with ports.uow:
        payment = ports.payments.get(payment_id, for_update=True)
        if payment is None:
            raise not_found(actor, "payment", payment_id=str(payment_id))
        credit = locked_credit(ports, payment.credit_id, actor, "payment", roles=(Role.ADMIN,))
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
        reprocess(
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
        save_credit(ports, credit)
        audit(
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
    return PaymentBooked(payment, credit.pending)


_COMPONENTS = ("late_fee", "interest", "principal")


def reprocess(
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
    changes, moved = _reallocate(ports, credit, standing, result.allocations)
    if added is not None:
        added.allocations = result.allocations[added.id]
    before = Figures.of(credit)
    taken_back = credit.restate(result.installments, reopen_as=reopen_as)
    if not any(not c.is_zero for _, _, c in changes) and taken_back.is_zero:
        return
    ref = reference_id or (added.id if added is not None else None)
    ports.transactions.save(
        entries.reallocation(
            meta(ports, credit, actor, reference_id=ref, memo=cause), moves=changes, fees_taken_back=taken_back
        )
    )
    audit(
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


def _reallocate(
    ports: Ports, credit: Credit, standing: Sequence[Payment], allocations: dict[UUID, tuple[AllocationLine, ...]]
) -> tuple[list[tuple[int, str, Money]], list[str]]:
    """Give each standing payment whose allocation moved its new one (saved); return the moves per
    (installment number, component), and the ids of the payments moved."""
    numbers = {i.id: i.number for i in credit.installments}
    moves: dict[tuple[int, str], Money] = {}
    moved: list[str] = []
    for payment in standing:
        lines = allocations[payment.id]
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
    return [(number, component, change) for (number, component), change in sorted(moves.items())], moved
