"""Payments, their method lines (the seed's AccountMethodAmount, partitioned by month), their
allocation over installments, and fee waivers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from psqlextra.models import PostgresPartitionedModel
from psqlextra.types import PostgresPartitioningMethod

from adapters.orm.money_fields import amount_field, currency_field


class Payment(models.Model):
    class Status(models.TextChoices):
        POSTED = "posted"
        REVERSED = "reversed"

    id = models.UUIDField(primary_key=True)
    credit = models.ForeignKey("credits.Credit", on_delete=models.PROTECT, related_name="payments", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    amount = amount_field()
    currency = currency_field()
    paid_on = models.DateField()
    received_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=300, unique=True)
    prepay = models.BooleanField(default=False)
    credit_state_before = models.CharField(max_length=12)
    # The ledger transaction (partitioned, so no foreign key) and its date, for partition pruning.
    transaction_id = models.UUIDField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.POSTED)
    reversal_transaction_id = models.UUIDField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversal_reason = models.TextField(blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        db_table = "payments_payment"
        indexes = [
            models.Index(fields=["credit", "-paid_on", "-id"], name="payment_credit_keyset_idx"),
            models.Index(fields=["agent", "paid_on"], name="payment_agent_date_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive")]

    def __str__(self) -> str:
        return f"payment {self.id}"


class PaymentLine(PostgresPartitionedModel):
    """The part of a payment received through one payment account (cash box, bank, wallet)."""

    class PartitioningMeta:
        method = PostgresPartitioningMethod.RANGE
        key = ["paid_on"]

    pk = models.CompositePrimaryKey("id", "paid_on")
    id = models.BigIntegerField()
    paid_on = models.DateField()
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="+", db_index=False)
    credit = models.ForeignKey("credits.Credit", on_delete=models.PROTECT, related_name="+", db_index=False)
    transaction_id = models.UUIDField()
    payment_account = models.ForeignKey(
        "catalog.PaymentAccount", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    amount = amount_field()
    currency = currency_field()

    class Meta:
        db_table = "payments_line"
        indexes = [
            models.Index(fields=["credit", "transaction_id"], name="payline_credit_tx_idx"),
            models.Index(fields=["payment"], name="payline_payment_idx"),
            models.Index(fields=["payment_account", "paid_on"], name="payline_account_date_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="payline_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} via {self.payment_account_id}"


class PaymentAllocation(models.Model):
    """What one payment paid of one installment, per component: a reversal takes exactly this back."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations", db_index=False)
    installment = models.ForeignKey("credits.Installment", on_delete=models.PROTECT, related_name="+", db_index=False)
    position = models.PositiveSmallIntegerField()
    late_fee = amount_field()
    interest = amount_field()
    principal = amount_field()

    class Meta:
        db_table = "payments_allocation"
        constraints = [models.UniqueConstraint(fields=["payment", "position"], name="allocation_payment_position_uniq")]
        indexes = [models.Index(fields=["installment"], name="allocation_installment_idx")]

    def __str__(self) -> str:
        return f"allocation {self.payment_id}#{self.position}"


class FeeWaiver(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested"
        APPROVED = "approved"
        REJECTED = "rejected"

    id = models.UUIDField(primary_key=True)
    credit = models.ForeignKey("credits.Credit", on_delete=models.PROTECT, related_name="+", db_index=False)
    installment = models.ForeignKey("credits.Installment", on_delete=models.PROTECT, related_name="+", db_index=False)
    amount = amount_field()
    currency = currency_field()
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    transaction_id = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "payments_fee_waiver"
        indexes = [
            models.Index(fields=["status", "requested_at"], name="waiver_status_idx"),
            models.Index(fields=["installment"], name="waiver_installment_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="waiver_amount_positive")]

    def __str__(self) -> str:
        return f"waiver {self.id}"
