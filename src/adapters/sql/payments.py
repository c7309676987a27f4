"""Payments (with their method lines and allocation) and fee waivers on PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import connection

from adapters.sql import batch
from adapters.sql.batch import Later
from adapters.sql.currencies import currency_of
from domain.payments.allocation import AllocationLine
from domain.payments.model import FeeWaiver, MethodLine, Payment, PaymentReversal, PaymentStatus, WaiverStatus
from domain.shared.errors import Conflict
from domain.shared.money import Currency, Money

_PAYMENT_COLUMNS = (
    "id, credit_id, user_id, agent_id, amount, currency, paid_on, received_at, idempotency_key, prepay, "
    "credit_state_before, transaction_id, status, reversal_transaction_id, reversed_at, reversal_reason, "
    "reversed_by_id"
)


_LINE_ROW = "(%s::date, %s::uuid, %s::uuid, %s::uuid, %s::bigint, %s::numeric, %s)"
_ALLOCATION_ROW = "(%s::uuid, %s::uuid, %s::int, %s::numeric, %s::numeric, %s::numeric)"


def _allocation_values(payment: Payment) -> list[object]:
    return [
        v
        for position, a in enumerate(payment.allocations)
        for v in (payment.id, a.installment_id, position, a.late_fee.amount, a.interest.amount, a.principal.amount)
    ]


def _already_booked(payment_id: UUID) -> Conflict:
    return Conflict("The payment is already booked.", details={"payment_id": str(payment_id)})


class DjangoPaymentRepository:
    def get(self, payment_id: UUID, *, for_update: bool = False) -> Payment | None:
        return self._one("id = %s", payment_id, for_update)

    def get_by_idempotency_key(self, key: str) -> Payment | None:
        return self._one("idempotency_key = %s", key, False)

    def save(self, payment: Payment) -> None:
        """One round trip: the payment upserted and, when it is new, its method lines and allocation
        inserted with it. Method lines never change; the allocation of a standing payment changes
        when a reprocessing moved it (the moves themselves are booked in the ledger)."""
        reversal = payment.reversal
        code = payment.amount.currency.code
        sql = (
            f"WITH p AS (INSERT INTO payments_payment ({_PAYMENT_COLUMNS}) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
            "reversal_transaction_id = EXCLUDED.reversal_transaction_id, reversed_at = EXCLUDED.reversed_at, "
            "reversal_reason = EXCLUDED.reversal_reason, reversed_by_id = EXCLUDED.reversed_by_id "
            # True when inserted: payments is not partitioned, so xmax is there.
            "RETURNING (xmax = 0) AS inserted), "
            "lines AS (INSERT INTO payments_line (paid_on, payment_id, credit_id, transaction_id, "
            "payment_account_id, amount, currency) SELECT v.* FROM (VALUES "
            + ", ".join([_LINE_ROW] * len(payment.method_lines))
            + ") AS v(paid_on, payment_id, credit_id, transaction_id, payment_account_id, amount, currency) "
            "WHERE (SELECT inserted FROM p))"
        )
        params: list[Any] = [
            payment.id,
            payment.credit_id,
            payment.user_id,
            payment.agent_id,
            payment.amount.amount,
            code,
            payment.paid_on,
            payment.received_at,
            payment.idempotency_key,
            payment.prepay,
            payment.credit_state_before,
            payment.transaction_id,
            payment.status.value,
            reversal.transaction_id if reversal else None,
            reversal.reversed_at if reversal else None,
            reversal.reason if reversal else "",
            reversal.reversed_by if reversal else None,
        ]
        for line in payment.method_lines:
            params += [
                payment.paid_on,
                payment.id,
                payment.credit_id,
                payment.transaction_id,
                line.account_id,
                line.amount.amount,
                code,
            ]
        if payment.allocations:
            sql += (
                ", allocations AS (INSERT INTO payments_allocation (payment_id, installment_id, position, "
                "late_fee, interest, principal) SELECT v.* FROM (VALUES "
                + ", ".join([_ALLOCATION_ROW] * len(payment.allocations))
                + ") AS v(payment_id, installment_id, position, late_fee, interest, principal) "
                "WHERE (SELECT inserted FROM p))"
            )
            params += _allocation_values(payment)
        key = ("payment", payment.id)
        if batch.knows(key) or not batch.is_open():
            sql += " SELECT inserted FROM p"
            # One this unit of work loaded: its allocation may have moved, rewritten at once.
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                inserted = cursor.fetchone()[0]
                if not inserted and payment.status is PaymentStatus.POSTED:
                    cursor.execute("DELETE FROM payments_allocation WHERE payment_id = %s", [payment.id])
                    self._insert_allocations(cursor, payment)
        else:
            # A new one: deferred to the unit of work's next round trip (`adapters.sql.batch`).
            # Refused in PostgreSQL if it was there already (the COMMIT may ride along).
            sql += " SELECT conflict_unless((SELECT inserted FROM p), 'already booked')"
            batch.defer(sql, params, refusal=_already_booked(payment.id))
        batch.remember(key)

    @staticmethod
    def _insert_allocations(cursor: Any, payment: Payment) -> None:
        if not payment.allocations:
            return
        cursor.execute(
            "INSERT INTO payments_allocation (payment_id, installment_id, position, late_fee, interest, "
            "principal) VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(payment.allocations)),
            _allocation_values(payment),
        )

    def posted_for_credit(self, credit_id: UUID) -> list[Payment]:
        """Three statements whatever the number of payments (lines and allocations fetched together)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {_PAYMENT_COLUMNS} FROM payments_payment WHERE credit_id = %s AND status = %s",
                [credit_id, PaymentStatus.POSTED.value],
            )
            rows = cursor.fetchall()
            if not rows:
                return []
            ids = [row[0] for row in rows]
            for pid in ids:
                batch.remember(("payment", pid))
            lines: dict[UUID, list[tuple[Any, ...]]] = {pid: [] for pid in ids}
            allocations: dict[UUID, list[tuple[Any, ...]]] = {pid: [] for pid in ids}
            cursor.execute(
                "SELECT payment_id, payment_account_id, amount FROM payments_line "
                "WHERE credit_id = %s AND payment_id = ANY(%s) ORDER BY id",
                [credit_id, ids],
            )
            for pid, *line in cursor.fetchall():
                lines[pid].append(tuple(line))
            cursor.execute(
                "SELECT payment_id, installment_id, late_fee, interest, principal FROM payments_allocation "
                "WHERE payment_id = ANY(%s) ORDER BY payment_id, position",
                [ids],
            )
            for pid, *allocation in cursor.fetchall():
                allocations[pid].append(tuple(allocation))
        return [_payment(row, lines[row[0]], allocations[row[0]]) for row in rows]

    def _one(self, where: str, value: UUID | str, for_update: bool) -> Payment | None:
        lock = " FOR UPDATE" if for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments_payment WHERE {where}{lock}", [value])
            row = cursor.fetchone()
            if row is None:
                return None
            payment_id, paid_on = row[0], row[6]
            batch.remember(("payment", payment_id))
            cursor.execute(
                "SELECT payment_account_id, amount FROM payments_line WHERE payment_id = %s AND paid_on = %s "
                "ORDER BY id",
                [payment_id, paid_on],
            )
            lines = cursor.fetchall()
            cursor.execute(
                "SELECT installment_id, late_fee, interest, principal FROM payments_allocation "
                "WHERE payment_id = %s ORDER BY position",
                [payment_id],
            )
            allocations = cursor.fetchall()
        return _payment(row, lines, allocations)


def _payment(row: Any, lines: Any, allocations: Any) -> Payment:
    """A Payment from its row, its method lines and its allocation rows."""
    (
        pid,
        credit_id,
        user_id,
        agent_id,
        amount,
        code,
        paid_on,
        received_at,
        key,
        prepay,
        state_before,
        transaction_id,
        status,
        rev_tx,
        reversed_at,
        rev_reason,
        reversed_by,
    ) = row
    currency = currency_of(code)
    return Payment(
        id=pid,
        credit_id=credit_id,
        user_id=user_id,
        agent_id=agent_id,
        amount=Money(amount, currency),
        paid_on=paid_on,
        received_at=received_at,
        idempotency_key=key,
        method_lines=tuple(MethodLine(account, Money(value, currency)) for account, value in lines),
        allocations=tuple(
            AllocationLine(iid, Money(fee, currency), Money(interest, currency), Money(principal, currency))
            for iid, fee, interest, principal in allocations
        ),
        prepay=prepay,
        credit_state_before=state_before,
        transaction_id=transaction_id,
        status=PaymentStatus(status),
        reversal=PaymentReversal(rev_tx, reversed_at, rev_reason, reversed_by) if rev_tx else None,
    )


_WAIVER_COLUMNS = (
    "id, credit_id, installment_id, amount, currency, reason, requested_by_id, requested_at, status, "
    "decided_by_id, decided_at, decision_note, transaction_id"
)


class DjangoFeeWaiverRepository:
    def get(self, waiver_id: UUID, *, for_update: bool = False) -> FeeWaiver | None:
        lock = " FOR UPDATE" if for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {_WAIVER_COLUMNS} FROM payments_fee_waiver WHERE id = %s{lock}", [waiver_id])
            row = cursor.fetchone()
        if row is None:
            return None
        (
            wid,
            credit_id,
            installment_id,
            amount,
            code,
            reason,
            requested_by,
            requested_at,
            status,
            decided_by,
            decided_at,
            note,
            transaction_id,
        ) = row
        return FeeWaiver(
            id=wid,
            credit_id=credit_id,
            installment_id=installment_id,
            amount=Money(amount, currency_of(code)),
            reason=reason,
            requested_by=requested_by,
            requested_at=requested_at,
            status=WaiverStatus(status),
            decided_by=decided_by,
            decided_at=decided_at,
            decision_note=note,
            transaction_id=transaction_id,
        )

    def save(self, waiver: FeeWaiver) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO payments_fee_waiver ({_WAIVER_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                "status = EXCLUDED.status, decided_by_id = EXCLUDED.decided_by_id, "
                "decided_at = EXCLUDED.decided_at, decision_note = EXCLUDED.decision_note, "
                "transaction_id = EXCLUDED.transaction_id",
                [
                    waiver.id,
                    waiver.credit_id,
                    waiver.installment_id,
                    waiver.amount.amount,
                    waiver.amount.currency.code,
                    waiver.reason,
                    waiver.requested_by,
                    waiver.requested_at,
                    waiver.status.value,
                    waiver.decided_by,
                    waiver.decided_at,
                    waiver.decision_note,
                    waiver.transaction_id,
                ],
            )


class SqlPaymentAccounts:
    def usable(self, account_ids: set[int], currency: Currency) -> Later[set[int]]:
        """Asked ahead: the answer rides the unit of work's next round trip (the credit's lock)."""
        return batch.later(
            "SELECT id FROM catalog_payment_account WHERE id = ANY(%s) AND currency_id = %s AND active",
            [list(account_ids), currency.code],
            lambda result: {row[0] for row in result.rows or ()},
        )
