"""The ledger: transactions and their double-entry postings, range-partitioned by month.

Both tables are partitioned on the business date (`occurred_on`), so the key includes it
(psqlextra needs the partition key in the primary key). Nothing holds a foreign key into them;
they point out (to users and credits) freely. Rows are never updated but for a transaction's
status and `reversed_by_id`; a reversal is a new transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from psqlextra.models import PostgresPartitionedModel
from psqlextra.types import PostgresPartitioningMethod

from adapters.orm.money_fields import amount_field, currency_field

# What the transactions list shows beyond its index keys (scope, date, id): kept in the covering indexes.
_LISTED = [
    "type", "status", "source", "credit", "reference_id", "reverses_id", "reversed_by_id", "memo", "recorded_at",
    "amount", "currency",
]  # fmt: skip
_LISTED_BESIDES_USER = [*_LISTED, "agent"]
_LISTED_BESIDES_AGENT = [*_LISTED, "user"]


class LedgerTransaction(PostgresPartitionedModel):
    class PartitioningMeta:
        method = PostgresPartitioningMethod.RANGE
        key = ["occurred_on"]

    pk = models.CompositePrimaryKey("id", "occurred_on")
    # Part of the composite key; django-stubs types an inherited `id` as the default int key.
    id = models.UUIDField()  # type: ignore[assignment]
    occurred_on = models.DateField()
    type = models.CharField(max_length=16)
    status = models.CharField(max_length=10)
    source = models.CharField(max_length=8)
    # Foreign keys without their own index: the composite indexes below lead with them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    credit = models.ForeignKey(
        "credits.Credit", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    reference_id = models.UUIDField(null=True, blank=True)
    reverses_id = models.UUIDField(null=True, blank=True)
    reversed_by_id = models.UUIDField(null=True, blank=True)
    memo = models.CharField(max_length=500, blank=True)
    recorded_at = models.DateTimeField()
    # What the list shows as its amount (`Transaction.amount`: the debits), written with the row, so
    # a page reads no postings. NULL only on a row booked by code older than the column (migration
    # 0006 fills those it finds); the list then sums that row's postings.
    amount = amount_field(null=True, blank=True)
    currency = currency_field(null=True, blank=True)

    class Meta:
        db_table = "ledger_transaction"
        indexes = [
            # The seed's three indexes (its created_at is our recorded_at); (user, date) gets the id
            # too, newest first, so it also serves a client's keyset list. It carries the columns that
            # list shows (INCLUDE), so a page is an index-only scan: at millions of rows the heap pages
            # of old months are not in memory, and fetching 20 of them from disk was the list's p99.
            models.Index(fields=["user", "-occurred_on", "-id"], include=_LISTED_BESIDES_USER, name="tx_user_list_idx"),
            models.Index(fields=["status", "type"], name="tx_status_type_idx"),
            models.Index(fields=["recorded_at"], name="tx_recorded_idx"),
            # The book-wide keyset list by date, and a credit's history.
            models.Index(fields=["-occurred_on", "-id"], name="tx_date_keyset_idx"),
            models.Index(fields=["credit", "occurred_on"], name="tx_credit_date_idx"),
            # An agent's list: what it booked, newest first; covering, as the client's.
            models.Index(
                fields=["agent", "-occurred_on", "-id"], include=_LISTED_BESIDES_AGENT, name="tx_agent_list_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Posting(PostgresPartitionedModel):
    class PartitioningMeta:
        method = PostgresPartitioningMethod.RANGE
        key = ["occurred_on"]

    pk = models.CompositePrimaryKey("id", "occurred_on")
    id = models.BigIntegerField()
    occurred_on = models.DateField()
    transaction_id = models.UUIDField()
    account = models.CharField(max_length=64)
    side = models.CharField(max_length=6)
    amount = amount_field()
    currency = currency_field()

    class Meta:
        db_table = "ledger_posting"
        indexes = [
            # Covering what the transactions list sums (a page's debit amounts, by its date span).
            models.Index(
                fields=["transaction_id"],
                include=["side", "amount", "currency", "occurred_on"],
                name="posting_tx_cover_idx",
            ),
            models.Index(fields=["account", "occurred_on"], name="posting_account_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="posting_amount_positive")]

    def __str__(self) -> str:
        return f"{self.side} {self.account} {self.amount} {self.currency}"
