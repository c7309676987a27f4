"""The credits repository on PostgreSQL: lean SQL, row locks, a version check, changed rows only."""

from __future__ import annotations

from uuid import UUID

from django.db import connection

from adapters.sql import batch
from adapters.sql.credit_mappers import (
    CREDIT_COLUMNS,
    INSTALLMENT_COLUMNS,
    credit_from_rows,
    credit_values,
    event_values,
    installment_values,
)
from adapters.sql.rules import OPEN_STATES_SQL
from adapters.sql.session import OrmSession
from domain.credits.model import Credit
from domain.shared.errors import Conflict

_INSERT_CREDIT = (
    "INSERT INTO credits_credit (id, user_id, agent_id, currency, price, cost, subcategory_id, periodicity, "
    "interest_method, annual_rate, installments_count, opened_on, refinanced_from_id, state, "
    "delinquency_as_of, days_past_due, aging_bucket, missed_installments, morosidad_level, is_in_default, "
    "allow_loss, version, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, %s, %s, %s, 1, now())"
)
# The version check runs in PostgreSQL (`conflict_unless`): no row updated means another writer got
# there first, and the unit of work's COMMIT may ride the same round trip (adapters/sql/batch.py).
_UPDATE_CREDIT = (
    "WITH changed AS (UPDATE credits_credit SET state = %s, delinquency_as_of = %s, days_past_due = %s, "
    "aging_bucket = %s, missed_installments = %s, morosidad_level = %s, is_in_default = %s, "
    "version = version + 1 WHERE id = %s AND version = %s RETURNING 1) "
    "SELECT conflict_unless(count(*) = 1, 'the credit was changed by someone else') FROM changed"
)
_INSTALLMENT_INSERT_COLUMNS = (
    "id, credit_id, agent_id, number, due_date, principal, interest, adjustment, late_fee, late_fee_waived, "
    "paid_principal, paid_interest, paid_late_fee, is_settled, credit_open"
)
_INSERT_EVENTS = (
    "INSERT INTO credits_event (id, credit_id, kind, occurred_at, reason, amount, actor_id, related_credit_id) VALUES "
)
_EVENT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s)"


def _changed_meanwhile(credit_id: UUID) -> Conflict:
    return Conflict(
        "The credit was changed by someone else; reload and try again.", details={"credit_id": str(credit_id)}
    )


class DjangoCreditRepository:
    def __init__(self, session: OrmSession) -> None:
        self._session = session

    def get(self, credit_id: UUID, *, for_update: bool = False) -> Credit | None:
        # One round trip for both statements, with whatever the unit of work queued before them
        # (`adapters.sql.batch`): each round trip costs more here than the SQL. The lock is taken by
        # the first statement, before the installments are read. The credit's history of events is
        # not loaded: `Credit.events` holds only what is recorded from here on.
        lock = " FOR UPDATE" if for_update else ""
        credit, installments = batch.run(
            [
                (f"SELECT {CREDIT_COLUMNS} FROM credits_credit WHERE id = %s{lock}", [credit_id]),
                (
                    f"SELECT {INSTALLMENT_COLUMNS} FROM credits_installment WHERE credit_id = %s ORDER BY number",
                    [credit_id],
                ),
            ]
        )
        if not credit.rows:
            return None
        loaded = credit_from_rows(credit.rows[0], installments.rows or ())
        self._remember(loaded)
        return loaded

    def get_by_installment(self, installment_id: UUID, *, for_update: bool = False) -> Credit | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT credit_id FROM credits_installment WHERE id = %s", [installment_id])
            row = cursor.fetchone()
        return self.get(row[0], for_update=for_update) if row else None

    def open_credit_ids(self, *, after: UUID | None, limit: int) -> list[UUID]:
        with connection.cursor() as cursor:
            if after is None:
                cursor.execute(
                    f"SELECT id FROM credits_credit WHERE state IN {OPEN_STATES_SQL} ORDER BY id LIMIT %s",
                    [limit],
                )
            else:
                cursor.execute(
                    f"SELECT id FROM credits_credit WHERE state IN {OPEN_STATES_SQL} AND id > %s ORDER BY id LIMIT %s",
                    [after, limit],
                )
            return [r[0] for r in cursor.fetchall()]

    def save(self, credit: Credit) -> None:
        """Deferred writes (`adapters.sql.batch`): they ride the unit of work's next round trip."""
        if credit.version == 0:
            self._insert(credit)
        else:
            batch.defer(
                _UPDATE_CREDIT,
                [*credit_values(credit), credit.id, credit.version],
                refusal=_changed_meanwhile(credit.id),
            )
            credit.version += 1
            self._update_installments(credit)
        known = self._session.snapshots.get(("events", credit.id), (0,))[0]
        new_events = credit.events[known:]
        if new_events:
            batch.defer(
                _INSERT_EVENTS + ", ".join([_EVENT_ROW] * len(new_events)) + " ON CONFLICT (id) DO NOTHING",
                [value for e in new_events for value in event_values(e)],
            )
        self._remember(credit)

    # --- internals ------------------------------------------------------------------------------

    def _insert(self, credit: Credit) -> None:
        batch.defer(
            _INSERT_CREDIT,
            [
                credit.id,
                credit.user_id,
                credit.agent_id,
                credit.currency.code,
                credit.price.amount,
                credit.cost.amount,
                credit.subcategory_id,
                credit.periodicity.value,
                credit.interest_method.value,
                credit.annual_rate,
                len(credit.installments),
                credit.opened_on,
                credit.refinanced_from_id,
                *credit_values(credit),  # state and delinquency, as an UPDATE writes them
                credit.allow_loss,
            ],
        )
        credit.version = 1
        is_open = credit.state.is_open
        rows = [
            (inst.id, *installment_values(inst, agent_id=credit.agent_id, credit_open=is_open))
            for inst in credit.installments
        ]
        placeholders = "(" + ", ".join(["%s"] * 15) + ")"
        batch.defer(
            f"INSERT INTO credits_installment ({_INSTALLMENT_INSERT_COLUMNS}) VALUES "
            + ", ".join([placeholders] * len(rows)),
            [value for row in rows for value in row],
        )

    def _update_installments(self, credit: Credit) -> None:
        is_open = credit.state.is_open
        changed = []
        for inst in credit.installments:
            values = installment_values(inst, agent_id=credit.agent_id, credit_open=is_open)
            if self._session.snapshots.get(("installment", inst.id)) != values:
                changed.append((inst.id, *values[6:]))
        if not changed:
            return
        # One statement for every changed installment (typically one or two per payment).
        placeholders = (
            "(%s::uuid, %s::numeric, %s::numeric, %s::numeric, %s::numeric, %s::numeric, "
            "%s::numeric, %s::boolean, %s::boolean)"
        )
        batch.defer(
            "UPDATE credits_installment AS i SET adjustment = v.adjustment, late_fee = v.late_fee, "
            "late_fee_waived = v.late_fee_waived, paid_principal = v.paid_principal, "
            "paid_interest = v.paid_interest, paid_late_fee = v.paid_late_fee, is_settled = v.is_settled, "
            "credit_open = v.credit_open FROM (VALUES "
            + ", ".join([placeholders] * len(changed))
            + ") AS v(id, adjustment, late_fee, late_fee_waived, paid_principal, paid_interest, paid_late_fee, "
            "is_settled, credit_open) WHERE i.id = v.id",
            [value for row in changed for value in row],
        )

    def _remember(self, credit: Credit) -> None:
        if not self._session.blocks:
            return  # a read outside any unit of work will not be saved
        self._session.snapshots[("events", credit.id)] = (len(credit.events),)
        is_open = credit.state.is_open
        for inst in credit.installments:
            self._session.snapshots[("installment", inst.id)] = installment_values(
                inst, agent_id=credit.agent_id, credit_open=is_open
            )
