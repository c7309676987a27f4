"""Credits, their installments and their append-only events."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from adapters.orm.money_fields import amount_field
from domain.shared.credit_states import OPEN_STATE_VALUES


class Credit(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        ACTIVE = "active"
        PAID = "paid"
        DEFAULTED = "defaulted"
        WRITTEN_OFF = "written_off"
        CANCELLED = "cancelled"
        REFINANCED = "refinanced"

    id = models.UUIDField(primary_key=True)
    # Foreign keys without their own index where a composite index below leads with them.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credits", db_index=False)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="portfolio",
        db_index=False,
    )
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, db_column="currency", db_index=False)
    price = amount_field()
    cost = amount_field()
    # A loss-leader: cost above price was asked for explicitly (db_default: rows inserted by raw SQL).
    allow_loss = models.BooleanField(default=False, db_default=False)
    subcategory = models.ForeignKey("catalog.Subcategory", on_delete=models.PROTECT, null=True, blank=True)
    periodicity = models.CharField(max_length=10)
    interest_method = models.CharField(max_length=16)
    annual_rate = models.DecimalField(max_digits=9, decimal_places=6)
    installments_count = models.PositiveSmallIntegerField()
    opened_on = models.DateField()
    state = models.CharField(max_length=12, choices=State.choices)
    refinanced_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refinanced_into",
        db_index=False,
    )
    # The nightly delinquency snapshot (a cache of the domain's rules, so it can be indexed).
    delinquency_as_of = models.DateField(null=True, blank=True)
    days_past_due = models.PositiveIntegerField(default=0)
    aging_bucket = models.CharField(max_length=8, default="current")
    missed_installments = models.PositiveSmallIntegerField(default=0)
    morosidad_level = models.PositiveSmallIntegerField(default=0)
    is_in_default = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "credits_credit"
        indexes = [
            # The seed's indexes, the third made partial: few credits are in default.
            models.Index(fields=["user", "state"], name="credit_user_state_idx"),
            models.Index(fields=["created_at"], name="credit_created_idx"),
            models.Index(fields=["created_at"], name="credit_in_default_idx", condition=Q(is_in_default=True)),
            # Keyset lists: a client's credits, an agent's portfolio, newest first.
            models.Index(fields=["user", "-created_at", "-id"], name="credit_user_keyset_idx"),
            models.Index(fields=["agent", "-created_at", "-id"], name="credit_agent_keyset_idx"),
            models.Index(fields=["-created_at", "-id"], name="credit_keyset_idx"),
            # Book-wide jobs walk open credits by id (adapters.sql.rules.open_sql states the same list).
            models.Index(fields=["id"], name="credit_open_id_idx", condition=Q(state__in=list(OPEN_STATE_VALUES))),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="credit_price_positive"),
            models.CheckConstraint(condition=Q(cost__gte=0), name="credit_cost_not_negative"),
            models.CheckConstraint(condition=Q(cost__lte=F("price")) | Q(allow_loss=True), name="credit_loss_allowed"),
        ]

    def __str__(self) -> str:
        return f"credit {self.id}"


_ALL_PAID = Q(
    paid_principal=F("principal") + F("adjustment"),
    paid_interest=F("interest"),
    paid_late_fee=F("late_fee") - F("late_fee_waived"),
)


class Installment(models.Model):
    id = models.UUIDField(primary_key=True)
    credit = models.ForeignKey(Credit, on_delete=models.PROTECT, related_name="installments", db_index=False)
    # Copied from the credit so an agent's work lists read one partial index, not a join.
    agent_id = models.BigIntegerField(null=True, blank=True)
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    principal = amount_field()
    interest = amount_field()
    adjustment = amount_field(default=0)
    late_fee = amount_field(default=0)
    late_fee_waived = amount_field(default=0)
    paid_principal = amount_field(default=0)
    paid_interest = amount_field(default=0)
    paid_late_fee = amount_field(default=0)
    # Derived (outstanding = 0); the check constraint below keeps it honest.
    is_settled = models.BooleanField(default=False)
    # Copied from the credit's state (active or defaulted): only these are collected.
    credit_open = models.BooleanField(default=False)

    class Meta:
        db_table = "credits_installment"
        ordering = ("credit_id", "number")
        constraints = [
            models.UniqueConstraint(fields=["credit", "number"], name="installment_credit_number_uniq"),
            # Money rules the database enforces too: nothing paid beyond what is owed, per part,
            # and `is_settled` true exactly when every part is paid.
            models.CheckConstraint(
                name="installment_paid_within_owed",
                condition=Q(
                    paid_principal__gte=0,
                    paid_interest__gte=0,
                    paid_late_fee__gte=0,
                    late_fee_waived__gte=0,
                    paid_principal__lte=F("principal") + F("adjustment"),
                    paid_interest__lte=F("interest"),
                    paid_late_fee__lte=F("late_fee") - F("late_fee_waived"),
                ),
            ),
            models.CheckConstraint(
                name="installment_settled_flag",
                condition=(Q(is_settled=True) & _ALL_PAID) | (Q(is_settled=False) & ~_ALL_PAID),
            ),
        ]
        indexes = [
            # Work lists and the nightly job read only what is still to collect.
            models.Index(
                fields=["agent_id", "due_date", "id"],
                name="installment_agent_due_idx",
                condition=Q(is_settled=False, credit_open=True),
            ),
            models.Index(
                fields=["due_date", "id"],
                name="installment_collect_due_idx",
                condition=Q(is_settled=False, credit_open=True),
            ),
        ]

    def __str__(self) -> str:
        return f"installment {self.number} of {self.credit_id}"


class CreditEvent(models.Model):
    """Append-only: adjustments, write-offs, refinancing, default and cure, with who and why."""

    id = models.UUIDField(primary_key=True)
    credit = models.ForeignKey(Credit, on_delete=models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(max_length=16)
    occurred_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    amount = amount_field(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, db_index=False)
    related_credit_id = models.UUIDField(null=True, blank=True)

    class Meta:
        db_table = "credits_event"
        indexes = [models.Index(fields=["credit", "occurred_at"], name="credit_event_credit_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.credit_id}"
