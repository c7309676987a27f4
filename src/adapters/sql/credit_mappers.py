"""Rows <-> the credits domain objects (plain functions; the models stay dumb)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.sql.currencies import currency_of
from domain.credits.delinquency import Delinquency
from domain.credits.model import Credit, CreditEvent, CreditState, Installment
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


def installment_from_row(row: Sequence[Any], credit_id: UUID, currency: Currency) -> Installment:
    (iid, number, due, principal, interest, adjustment, fee, waived, p_principal, p_interest, p_fee) = row

    def m(value: Decimal) -> Money:
        return Money.stored(value, currency)

    return Installment(
        id=iid,
        credit_id=credit_id,
        number=number,
        due_date=due,
        principal=m(principal),
        interest=m(interest),
        adjustment=m(adjustment),
        late_fee=m(fee),
        late_fee_waived=m(waived),
        paid_principal=m(p_principal),
        paid_interest=m(p_interest),
        paid_late_fee=m(p_fee),
    )


def credit_from_rows(row: Sequence[Any], installment_rows: Sequence[Sequence[Any]]) -> Credit:
    """The credit as loaded: its history of events stays in the database (`Credit.events`)."""
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
    currency = currency_of(code)
    return Credit(
        id=cid,
        user_id=user_id,
        agent_id=agent_id,
        price=Money(price, currency),
        cost=Money(cost, currency),
        subcategory_id=subcategory_id,
        periodicity=Periodicity(periodicity),
        interest_method=InterestMethod(method),
        annual_rate=rate,
        opened_on=opened_on,
        state=CreditState(state),
        installments=[installment_from_row(r, cid, currency) for r in installment_rows],
        refinanced_from_id=refinanced_from,
        delinquency=Delinquency(
            as_of=dlq_as_of,
            days_past_due=dpd,
            bucket=AgingBucket(bucket),
            missed_installments=missed,
            morosidad_level=morosidad,
            is_in_default=in_default,
        ),
        version=version,
        allow_loss=allow_loss,
    )


def credit_values(credit: Credit) -> tuple[Any, ...]:
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


def installment_values(inst: Installment, *, agent_id: int | None, credit_open: bool) -> tuple[Any, ...]:
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


def event_values(event: CreditEvent) -> tuple[Any, ...]:
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
