"""Rows <-> the credits domain objects (plain functions; the models stay dumb)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from adapters.sql.currencies import currency_of
from domain.credits.delinquency import Delinquency
from domain.credits.model import Credit, CreditEvent, CreditEventKind, CreditState, Installment
from domain.credits.schedule import InterestMethod, Periodicity
from domain.shared.aging import AgingBucket
from domain.shared.money import Currency, Money

CREDIT_COLUMNS = (
    "id, user_id, agent_id, currency, price, cost, subcategory_id, periodicity, interest_method, "
    "annual_rate, opened_on, state, refinanced_from_id, delinquency_as_of, days_past_due, aging_bucket, "
    "missed_installments, morosidad_level, is_in_default, version, allow_loss"
)
INSTALLMENT_COLUMNS = (
    "id, number, due_date, principal, interest, adjustment, late_fee, late_fee_waived, "
    "paid_principal, paid_interest, paid_late_fee"
)


def installment_from_row(row: Sequence[object], credit_id: UUID, currency: Currency) -> Installment:
    (iid, number, due, principal, interest, adjustment, fee, waived, p_principal, p_interest, p_fee) = row

    def m(value: object) -> Money:
        return Money(value, currency)  # type: ignore[arg-type]

    return Installment(
        id=iid,  # type: ignore[arg-type]
        credit_id=credit_id,
        number=number,  # type: ignore[arg-type]
        due_date=due,  # type: ignore[arg-type]
        principal=m(principal),
        interest=m(interest),
        adjustment=m(adjustment),
        late_fee=m(fee),
        late_fee_waived=m(waived),
        paid_principal=m(p_principal),
        paid_interest=m(p_interest),
        paid_late_fee=m(p_fee),
    )


EVENT_COLUMNS = "id, credit_id, kind, occurred_at, reason, amount, actor_id, related_credit_id"


def event_from_row(row: Sequence[object], currency: Currency) -> CreditEvent:
    eid, credit_id, kind, occurred_at, reason, amount, actor_id, related = row
    return CreditEvent(
        id=eid,  # type: ignore[arg-type]
        credit_id=credit_id,  # type: ignore[arg-type]
        kind=CreditEventKind(kind),
        occurred_at=occurred_at,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
        amount=Money(amount, currency) if amount is not None else None,  # type: ignore[arg-type]
        actor_id=actor_id,  # type: ignore[arg-type]
        related_credit_id=related,  # type: ignore[arg-type]
    )


def credit_from_rows(
    row: Sequence[object], installment_rows: Sequence[Sequence[object]], event_rows: Sequence[Sequence[object]] = ()
) -> Credit:
    (
        cid,
        user_id,
        agent_id,
        code,
        price,
        cost,
        subcategory_id,
        periodicity,
        method,
        rate,
        opened_on,
        state,
        refinanced_from,
        dlq_as_of,
        dpd,
        bucket,
        missed,
        morosidad,
        in_default,
        version,
        allow_loss,
    ) = row
    currency = currency_of(code)  # type: ignore[arg-type]
    return Credit(
        id=cid,  # type: ignore[arg-type]
        user_id=user_id,  # type: ignore[arg-type]
        agent_id=agent_id,  # type: ignore[arg-type]
        price=Money(price, currency),  # type: ignore[arg-type]
        cost=Money(cost, currency),  # type: ignore[arg-type]
        subcategory_id=subcategory_id,  # type: ignore[arg-type]
        periodicity=Periodicity(periodicity),
        interest_method=InterestMethod(method),
        annual_rate=rate,  # type: ignore[arg-type]
        opened_on=opened_on,  # type: ignore[arg-type]
        state=CreditState(state),
        installments=[installment_from_row(r, cid, currency) for r in installment_rows],  # type: ignore[arg-type]
        events=[event_from_row(r, currency) for r in event_rows],
        refinanced_from_id=refinanced_from,  # type: ignore[arg-type]
        delinquency=Delinquency(
            as_of=dlq_as_of,  # type: ignore[arg-type]
            days_past_due=dpd,  # type: ignore[arg-type]
            bucket=AgingBucket(bucket),
            missed_installments=missed,  # type: ignore[arg-type]
            morosidad_level=morosidad,  # type: ignore[arg-type]
            is_in_default=in_default,  # type: ignore[arg-type]
        ),
        version=version,  # type: ignore[arg-type]
        allow_loss=allow_loss,  # type: ignore[arg-type]
    )


def credit_values(credit: Credit) -> tuple[object, ...]:
    """The mutable columns of a credit row, in UPDATE order."""
    d = credit.delinquency
    return (
        credit.state.value,
        d.as_of,
        d.days_past_due,
        d.bucket.value,
        d.missed_installments,
        d.morosidad_level,
        d.is_in_default,
    )


def installment_values(inst: Installment, *, agent_id: int | None, credit_open: bool) -> tuple[object, ...]:
    """An installment row's values after its id, matching the INSERT column order."""
    return (
        inst.credit_id,
        agent_id,
        inst.number,
        inst.due_date,
        inst.principal.amount,
        inst.interest.amount,
        inst.adjustment.amount,
        inst.late_fee.amount,
        inst.late_fee_waived.amount,
        inst.paid_principal.amount,
        inst.paid_interest.amount,
        inst.paid_late_fee.amount,
        inst.is_settled,
        credit_open,
    )


def event_values(event: CreditEvent) -> tuple[object, ...]:
    return (
        event.id,
        event.credit_id,
        event.kind.value,
        event.occurred_at,
        event.reason,
        event.amount.amount if event.amount is not None else None,
        event.actor_id,
        event.related_credit_id,
    )
