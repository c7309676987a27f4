"""Read side of credits: the keyset list, a credit's detail and schedule, and its payments.

Every method is a fixed number of round trips whatever the page size or the number of
installments: the list is one statement (the page of credits, their users' public ids and the
page's pending amounts aggregated over installments in the same statement), the detail two, the
schedule one, a page of payments two (the payments, then all their method lines at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.db.routing import read_cursor
from adapters.queries.common import Viewer, credit_scope, money, page_limit
from adapters.sql.rules import amount_sql, outstanding_sql, paid_sql
from domain.analytics.model import OPEN_STATES
from domain.application.queries.credits import (
    CreditDetail,
    CreditFilter,
    CreditListItem,
    CreditPayment,
    DelinquencySnapshot,
    InstallmentRow,
    PaymentAllocationRow,
    PaymentLineRow,
)
from domain.shared.pagination import Page, PageRequest

# --- DTOs ----------------------------------------------------------------------------------------


# --- SQL -----------------------------------------------------------------------------------------

# The page is chosen in the inner SELECT (walking one of the keyset indexes on created_at, id);
# users' public ids and the installment aggregate are joined to those rows only.
_LIST_SQL = f"""
SELECT c.id, u.public_id, a.public_id, c.state, c.currency, c.price, c.installments_count, c.periodicity,
       c.interest_method, c.opened_on, c.is_in_default, c.days_past_due, c.created_at, f.outstanding, f.next_due
FROM (
    SELECT c.id, c.user_id, c.agent_id, c.state, c.currency, c.price, c.installments_count, c.periodicity,
           c.interest_method, c.opened_on, c.is_in_default, c.days_past_due, c.created_at
    FROM credits_credit c
    WHERE {{where}}
    ORDER BY c.created_at DESC, c.id DESC
    {{limit}}
) c
JOIN identity_user u ON u.id = c.user_id
LEFT JOIN identity_user a ON a.id = c.agent_id
LEFT JOIN LATERAL (
    SELECT sum({outstanding_sql("i")}) AS outstanding, min(i.due_date) FILTER (WHERE NOT i.is_settled) AS next_due
    FROM credits_installment i
    WHERE i.credit_id = c.id
) f ON TRUE
ORDER BY c.created_at DESC, c.id DESC
"""

_DETAIL_SQL = """
SELECT c.id, u.public_id, a.public_id, c.state, c.currency, c.price, c.cost, c.subcategory_id, c.periodicity,
       c.interest_method, c.annual_rate, c.installments_count, c.opened_on, c.refinanced_from_id, c.created_at,
       c.delinquency_as_of, c.days_past_due, c.aging_bucket, c.missed_installments, c.morosidad_level,
       c.is_in_default, c.allow_loss
FROM credits_credit c
JOIN identity_user u ON u.id = c.user_id
LEFT JOIN identity_user a ON a.id = c.agent_id
WHERE c.id = %s AND {scope}
"""

_INSTALLMENT_COLUMNS = (
    "i.id, i.number, i.due_date, i.principal, i.interest, i.adjustment, i.late_fee, i.late_fee_waived, "
    f"i.paid_principal, i.paid_interest, i.paid_late_fee, i.is_settled, {amount_sql('i')}, {paid_sql('i')}, "
    f"{outstanding_sql('i')}"
)

_DETAIL_INSTALLMENTS_SQL = (
    f"SELECT {_INSTALLMENT_COLUMNS} FROM credits_installment i WHERE i.credit_id = %s ORDER BY i.number"
)

# Scope and schedule in one statement: a credit always has installments, so no row means "not
# visible" (or not there), which the API answers with 404 either way.
_SCHEDULE_SQL = f"""
SELECT c.currency, {_INSTALLMENT_COLUMNS}
FROM credits_credit c
JOIN credits_installment i ON i.credit_id = c.id
WHERE c.id = %s AND {{scope}}
ORDER BY i.number
"""

# One row with NULL payment columns when the credit is visible but has no (more) payments.
_PAYMENTS_SQL = """
SELECT p.id, p.amount, p.currency, p.paid_on, p.received_at, p.status, p.prepay, a.public_id, p.transaction_id,
       p.reversed_at, p.reversal_reason
FROM (SELECT c.id FROM credits_credit c WHERE c.id = %s AND {scope}) c
LEFT JOIN LATERAL (
    SELECT p.id, p.amount, p.currency, p.paid_on, p.received_at, p.status, p.prepay, p.agent_id, p.transaction_id,
           p.reversed_at, p.reversal_reason
    FROM payments_payment p
    WHERE p.credit_id = c.id {after}
    ORDER BY p.paid_on DESC, p.id DESC
    {limit}
) p ON TRUE
LEFT JOIN identity_user a ON a.id = p.agent_id
ORDER BY p.paid_on DESC, p.id DESC
"""

# The lines are partitioned by paid_on: the page's date span prunes them to its months.
_LINES_SQL = """
SELECT l.payment_id, l.payment_account_id, pa.name, pa.kind, l.amount, l.currency
FROM payments_line l
JOIN catalog_payment_account pa ON pa.id = l.payment_account_id
WHERE l.paid_on BETWEEN %s AND %s AND l.payment_id = ANY(%s)
ORDER BY l.payment_id, l.id
"""

_ALLOCATIONS_SQL = """
SELECT a.payment_id, a.installment_id, i.number, a.late_fee, a.interest, a.principal
FROM payments_allocation a
JOIN credits_installment i ON i.id = a.installment_id
WHERE a.payment_id = ANY(%s)
ORDER BY a.payment_id, a.position
"""


def installment_status(*, settled: bool, due_date: date, paid: Decimal, today: date) -> str:
    """paid (settled) · overdue (due date passed) · due_today · partial (some paid) · upcoming."""
    if settled:
        return "paid"
    if due_date < today:
        return "overdue"
    if due_date == today:
        return "due_today"
    return "partial" if paid > 0 else "upcoming"


def _installment(row: Sequence[Any], code: str, today: date) -> InstallmentRow:
    (iid, number, due, principal, interest, adjustment, fee, waived, p_principal, p_interest, p_fee, settled) = row[:12]
    amount, paid, outstanding = row[12:]
    return InstallmentRow(
        id=iid,
        number=number,
        due_date=due,
        principal=money(principal, code),
        interest=money(interest, code),
        adjustment=money(adjustment, code),
        late_fee=money(fee, code),
        late_fee_waived=money(waived, code),
        amount=money(amount, code),
        paid_principal=money(p_principal, code),
        paid_interest=money(p_interest, code),
        paid_late_fee=money(p_fee, code),
        paid=money(paid, code),
        outstanding=money(outstanding, code),
        status=installment_status(settled=bool(settled), due_date=due, paid=paid, today=today),
        days_past_due=0 if settled or today <= due else (today - due).days,
    )


class CreditQueries:
    """Credits as the API lists and shows them, always within the viewer's scope."""

    def list_credits(self, viewer: Viewer, filters: CreditFilter, page: PageRequest) -> Page[CreditListItem]:
        scope, params = credit_scope(viewer)
        where = [scope]
        if filters.state is not None:
            where.append("c.state = %s")
            params.append(filters.state)
        if filters.in_default is not None:
            where.append("c.is_in_default = %s")
            params.append(filters.in_default)
        if filters.user_public_id is not None:
            where.append("c.user_id = (SELECT id FROM identity_user WHERE public_id = %s)")
            params.append(filters.user_public_id)
        if filters.opened_from is not None:
            where.append("c.opened_on >= %s")
            params.append(filters.opened_from)
        if filters.opened_to is not None:
            where.append("c.opened_on <= %s")
            params.append(filters.opened_to)
        if page.after is not None:
            where.append("(c.created_at, c.id) < (%s, %s)")
            params.extend(page.after)
        sql = _LIST_SQL.format(where=" AND ".join(where), limit=page_limit(page))
        with read_cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        items = [self._item(row) for row in rows]
        return Page.from_rows(items, page, lambda item: (item.created_at, item.id))

    @staticmethod
    def _item(row: Sequence[Any]) -> CreditListItem:
        (
            cid,
            client,
            agent,
            state,
            code,
            price,
            count,
            periodicity,
            method,
            opened_on,
            in_default,
            dpd,
            created,
            out,
            nxt,
        ) = row
        is_open = state in OPEN_STATES
        return CreditListItem(
            id=cid,
            client_id=client,
            agent_id=agent,
            state=state,
            price=money(price, code),
            pending=money(out if is_open else None, code),
            installments_count=count,
            periodicity=periodicity,
            interest_method=method,
            opened_on=opened_on,
            is_in_default=in_default,
            days_past_due=dpd,
            next_due_date=nxt if is_open else None,
            created_at=created,
        )

    def detail(self, viewer: Viewer, credit_id: UUID, *, today: date) -> CreditDetail | None:
        scope, params = credit_scope(viewer)
        with read_cursor() as cursor:
            cursor.execute(_DETAIL_SQL.format(scope=scope), [credit_id, *params])
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(_DETAIL_INSTALLMENTS_SQL, [credit_id])
            installment_rows = cursor.fetchall()
        (
            cid,
            client,
            agent,
            state,
            code,
            price,
            cost,
            subcategory_id,
            periodicity,
            method,
            rate,
            count,
            opened_on,
            refinanced_from,
            created,
            dlq_as_of,
            dpd,
            bucket,
            missed,
            morosidad,
            in_default,
            allow_loss,
        ) = row
        installments = tuple(_installment(r, code, today) for r in installment_rows)
        is_open = state in OPEN_STATES
        zero = Decimal(0)
        total_due = sum((i.amount.amount + i.late_fee.amount for i in installments), zero)
        paid = sum((i.paid.amount for i in installments), zero)
        outstanding = sum((i.outstanding.amount for i in installments), zero)
        overdue = sum((i.outstanding.amount for i in installments if i.due_date < today), zero)
        upcoming = next((i for i in installments if i.status != "paid"), None) if is_open else None
        return CreditDetail(
            id=cid,
            client_id=client,
            agent_id=agent,
            state=state,
            currency=code,
            price=money(price, code),
            cost=money(cost, code),
            earnings=money(price - cost, code),
            allow_loss=allow_loss,
            total_due=money(total_due, code),
            paid=money(paid, code),
            pending=money(outstanding if is_open else zero, code),
            overdue=money(overdue if is_open else zero, code),
            next_due_date=upcoming.due_date if upcoming else None,
            next_due_amount=upcoming.outstanding if upcoming else None,
            subcategory_id=subcategory_id,
            periodicity=periodicity,
            interest_method=method,
            annual_rate=rate,
            installments_count=count,
            opened_on=opened_on,
            refinanced_from_id=refinanced_from,
            created_at=created,
            delinquency=DelinquencySnapshot(dlq_as_of, dpd, bucket, missed, morosidad, in_default),
            installments=installments,
        )

    def schedule(self, viewer: Viewer, credit_id: UUID, *, today: date) -> list[InstallmentRow] | None:
        """The credit's installments in order, or None when the viewer may not see the credit."""
        scope, params = credit_scope(viewer)
        with read_cursor() as cursor:
            cursor.execute(_SCHEDULE_SQL.format(scope=scope), [credit_id, *params])
            rows = cursor.fetchall()
        if not rows:
            return None
        return [_installment(row[1:], row[0], today) for row in rows]

    def payments(self, viewer: Viewer, credit_id: UUID, page: PageRequest) -> Page[CreditPayment] | None:
        """A page of the credit's payments, newest first; None when the viewer may not see the credit."""
        scope, params = credit_scope(viewer)
        after = ""
        if page.after is not None:
            after = "AND (p.paid_on, p.id) < (%s, %s)"
            params = [*params, *page.after]
        sql = _PAYMENTS_SQL.format(scope=scope, after=after, limit=page_limit(page))
        with read_cursor() as cursor:
            cursor.execute(sql, [credit_id, *params])
            rows = cursor.fetchall()
            if not rows:
                return None
            rows = [r for r in rows if r[0] is not None]
            lines: dict[UUID, list[PaymentLineRow]] = {}
            allocations: dict[UUID, list[PaymentAllocationRow]] = {}
            if rows:
                dates = [r[3] for r in rows]
                cursor.execute(_LINES_SQL, [min(dates), max(dates), [r[0] for r in rows]])
                for pid, account_id, name, kind, amount, code in cursor.fetchall():
                    lines.setdefault(pid, []).append(PaymentLineRow(account_id, name, kind, money(amount, code)))
                codes = {r[0]: r[2] for r in rows}
                cursor.execute(_ALLOCATIONS_SQL, [list(codes)])
                for pid, iid, number, fee, interest, principal in cursor.fetchall():
                    code = codes[pid]
                    allocations.setdefault(pid, []).append(
                        PaymentAllocationRow(
                            iid, number, money(fee, code), money(interest, code), money(principal, code)
                        )
                    )
        items = [
            CreditPayment(
                id=pid,
                amount=money(amount, code),
                paid_on=paid_on,
                received_at=received_at,
                status=status,
                prepay=prepay,
                agent_id=agent,
                transaction_id=tx,
                reversed_at=reversed_at,
                reversal_reason=reason,
                lines=tuple(lines.get(pid, ())),
                allocations=tuple(allocations.get(pid, ())),
            )
            for (pid, amount, code, paid_on, received_at, status, prepay, agent, tx, reversed_at, reason) in rows
        ]
        return Page.from_rows(items, page, lambda p: (p.paid_on, p.id))
