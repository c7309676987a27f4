"""The ledger repository: a transaction and its postings, written with plain SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db import connection, connections

from adapters.sql import batch
from adapters.sql.currencies import currency_of
from domain.ledger.model import Posting, Side, Source, Transaction, TransactionStatus, TransactionType
from domain.shared.errors import Conflict
from domain.shared.money import Money

_TX_COLUMNS = (
    "id, occurred_on, type, status, source, user_id, agent_id, credit_id, reference_id, reverses_id, "
    "reversed_by_id, memo, recorded_at"
)
STREAM_CHUNK = 2000
FILL_CHUNK = 5000

# `Transaction.amount` in SQL, for rows booked before the column existed: the debits of the first
# currency by code. Each chunk is its own short transaction (no long lock on the ledger).
_FILL_AMOUNTS = """
WITH chunk AS (
    SELECT id, occurred_on FROM ledger_transaction WHERE amount IS NULL AND id > %s ORDER BY id LIMIT %s
), debits AS (
    SELECT DISTINCT ON (p.transaction_id) p.transaction_id, p.occurred_on, p.currency, sum(p.amount) AS total
    FROM ledger_posting p JOIN chunk c ON p.transaction_id = c.id AND p.occurred_on = c.occurred_on
    WHERE p.side = 'debit'
    GROUP BY p.transaction_id, p.occurred_on, p.currency
    ORDER BY p.transaction_id, p.currency
), filled AS (
    UPDATE ledger_transaction t SET amount = d.total, currency = d.currency
    FROM debits d WHERE t.id = d.transaction_id AND t.occurred_on = d.occurred_on AND t.amount IS NULL
    RETURNING 1
)
SELECT (SELECT id FROM chunk ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM filled)
"""


def _transaction(row: tuple, postings: list[tuple]) -> Transaction:
    (
        tid,
        occurred_on,
        kind,
        status,
        source,
        user_id,
        agent_id,
        credit_id,
        reference_id,
        reverses_id,
        reversed_by_id,
        memo,
        recorded_at,
    ) = row
    return Transaction(
        id=tid,
        type=TransactionType(kind),
        status=TransactionStatus(status),
        source=Source(source),
        occurred_on=occurred_on,
        recorded_at=recorded_at,
        postings=tuple(
            Posting(account, Side(side), Money(amount, currency_of(code))) for account, side, amount, code in postings
        ),
        user_id=user_id,
        agent_id=agent_id,
        credit_id=credit_id,
        reference_id=reference_id,
        reverses_id=reverses_id,
        reversed_by_id=reversed_by_id,
        memo=memo,
    )


def _insert(tx: Transaction, *, guarded: bool = False) -> tuple[str, list[Any]]:
    """The transaction and its postings (inserted only if the transaction was): one statement. It
    answers a row when they were inserted; `guarded`, PostgreSQL refuses it instead when the
    transaction was already there (`conflict_unless`: the unit of work's COMMIT may ride along)."""
    rows = ", ".join(["(%s::date, %s::uuid, %s, %s, %s::numeric, %s)"] * len(tx.postings))
    postings = (
        "INSERT INTO ledger_posting (occurred_on, transaction_id, account, side, amount, currency) "
        "SELECT v.* FROM (VALUES " + rows + ") AS v(occurred_on, transaction_id, account, side, amount, currency) "
        "WHERE EXISTS (SELECT 1 FROM tx)"
    )
    sql = (
        f"WITH tx AS (INSERT INTO ledger_transaction ({_TX_COLUMNS}, amount, currency) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id, occurred_on) DO NOTHING RETURNING id) "
    )
    if guarded:
        sql += f", posted AS ({postings}) SELECT conflict_unless(EXISTS (SELECT 1 FROM tx), 'already booked')"
    else:
        sql += postings + " RETURNING 1"
    amount = tx.amount  # what the list shows, stored with the row
    params: list[Any] = [
        tx.id,
        tx.occurred_on,
        tx.type.value,
        tx.status.value,
        tx.source.value,
        tx.user_id,
        tx.agent_id,
        tx.credit_id,
        tx.reference_id,
        tx.reverses_id,
        tx.reversed_by_id,
        tx.memo,
        tx.recorded_at,
        amount.amount,
        amount.currency.code,
    ]
    for p in tx.postings:
        params += [tx.occurred_on, tx.id, p.account, p.side.value, p.amount.amount, p.amount.currency.code]
    return sql, params


def _already_booked(tx: Transaction) -> Conflict:
    return Conflict("The ledger transaction is already booked.", details={"transaction_id": str(tx.id)})


class DjangoTransactionRepository:
    def get(self, transaction_id: UUID, *, for_update: bool = False) -> Transaction | None:
        lock = " FOR UPDATE" if for_update else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {_TX_COLUMNS} FROM ledger_transaction WHERE id = %s{lock}", [transaction_id])
            row = cursor.fetchone()
            if row is None:
                return None
            batch.remember(("transaction", transaction_id))
            # The date prunes the postings to one partition.
            cursor.execute(
                "SELECT account, side, amount, currency FROM ledger_posting "
                "WHERE transaction_id = %s AND occurred_on = %s ORDER BY id",
                [transaction_id, row[1]],
            )
            return _transaction(row, cursor.fetchall())

    def late_fee_nights(self, credit_id: UUID) -> list[tuple[date, datetime, Money]]:
        # tx_credit_date_idx (credit, occurred_on), then each booking's debit leg in its own partition.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.occurred_on, t.recorded_at, p.amount, p.currency FROM ledger_transaction t "
                "JOIN ledger_posting p ON p.transaction_id = t.id AND p.occurred_on = t.occurred_on "
                "AND p.side = %s WHERE t.credit_id = %s AND t.type = %s",
                [Side.DEBIT.value, credit_id, TransactionType.LATE_FEE.value],
            )
            return [(on, at, Money(amount, currency_of(code))) for on, at, amount, code in cursor.fetchall()]

    def save(self, tx: Transaction) -> None:
        """A new transaction and its postings in one statement, deferred to the unit of work's next
        round trip (`adapters.sql.batch`); one it loaded: only its status and reversal link ever
        change, written at once."""
        key = ("transaction", tx.id)
        if batch.knows(key) or not batch.is_open():
            self._save_now(tx)
        else:
            batch.defer(*_insert(tx, guarded=True), refusal=_already_booked(tx))
        batch.remember(key)

    def _save_now(self, tx: Transaction) -> None:
        with connection.cursor() as cursor:
            cursor.execute(*_insert(tx))
            if cursor.fetchone() is None:
                cursor.execute(
                    "UPDATE ledger_transaction SET status = %s, reversed_by_id = %s WHERE id = %s AND occurred_on = %s",
                    [tx.status.value, tx.reversed_by_id, tx.id, tx.occurred_on],
                )

    def stream(self) -> Iterator[Transaction]:
        """Every transaction, in (occurred_on, id) keyset chunks: memory stays flat at any size."""
        after: tuple | None = None
        with connections["default"].cursor() as cursor:
            while True:
                if after is None:
                    cursor.execute(
                        f"SELECT {_TX_COLUMNS} FROM ledger_transaction ORDER BY occurred_on, id LIMIT %s",
                        [STREAM_CHUNK],
                    )
                else:
                    cursor.execute(
                        f"SELECT {_TX_COLUMNS} FROM ledger_transaction WHERE (occurred_on, id) > (%s, %s) "
                        "ORDER BY occurred_on, id LIMIT %s",
                        [*after, STREAM_CHUNK],
                    )
                rows = cursor.fetchall()
                if not rows:
                    return
                first, last = rows[0][1], rows[-1][1]
                cursor.execute(
                    "SELECT transaction_id, account, side, amount, currency FROM ledger_posting "
                    "WHERE occurred_on BETWEEN %s AND %s AND transaction_id = ANY(%s) ORDER BY id",
                    [first, last, [r[0] for r in rows]],
                )
                by_tx: dict[UUID, list[tuple]] = {}
                for tid, *rest in cursor.fetchall():
                    by_tx.setdefault(tid, []).append(tuple(rest))
                for row in rows:
                    yield _transaction(row, by_tx.get(row[0], []))
                after = (last, rows[-1][0])


def fill_missing_amounts(using: str = "default", chunk: int = FILL_CHUNK) -> int:
    """Store `Transaction.amount` on the rows booked without it (before migration 0006), in chunks
    by id; then VACUUM, so the lists' covering indexes answer without heap fetches again. Returns
    the rows filled. Run outside a transaction (each chunk commits on its own)."""
    filled, after = 0, UUID(int=0)
    with connections[using].cursor() as cursor:
        while True:
            cursor.execute(_FILL_AMOUNTS, [after, chunk])
            last, count = cursor.fetchone()
            if last is None:
                break
            after, filled = last, filled + count
        if filled:
            cursor.execute("VACUUM (ANALYZE) ledger_transaction")
    return filled
