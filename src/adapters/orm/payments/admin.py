"""Payments and fee waivers in the admin: read-only; reversal and waiver decisions are actions
that run the domain's use cases."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from adapters.orm.audit.origin import origin_of
from adapters.orm.identity.models import User
from adapters.orm.payments.models import FeeWaiver, Payment, PaymentAllocation
from adapters.orm.readonly_admin import MoneyColumns, ReadOnlyAdmin, html_table, reason_action
from adapters.orm.wiring import ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.ledger.model import Source
from domain.shared.errors import DomainError


def _actor(request: HttpRequest) -> Actor:
    user = request.user
    role = user.role if isinstance(user, User) else ""  # the admin lets staff in only: always a User
    return Actor(user_id=user.pk, source=Source.ADMIN, origin=origin_of(request), role=role)


class AllocationInline(MoneyColumns, admin.TabularInline):
    model = PaymentAllocation
    money_fields = dict.fromkeys(("late_fee", "interest", "principal"), "payment.currency")
    extra = 0
    can_delete = False
    fields = readonly_fields = ("position", "installment", "late_fee", "interest", "principal")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaymentAllocation]:
        return super().get_queryset(request).select_related("payment", "installment")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    changed_by_actions = True
    money_fields = {"amount": "currency"}
    list_display = ("id", "credit", "user", "agent", "amount", "paid_on", "status")
    list_filter = ("status", "currency", "prepay")
    list_select_related = ("credit", "user", "agent")
    search_fields = ("id", "credit__id", "user__username", "agent__username", "idempotency_key")
    raw_id_fields = ("credit", "user", "agent", "reversed_by")
    date_hierarchy = "paid_on"
    inlines = (AllocationInline,)
    readonly_fields = ("method_lines",)
    actions = ("reverse",)

    @admin.display(description="Split over payment methods")
    def method_lines(self, obj: Payment) -> str:
        # Payment lines are partitioned (no admin page of their own in Django 5.2): shown here.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.name, a.kind, l.amount, l.currency FROM payments_line l "
                "JOIN catalog_payment_account a ON a.id = l.payment_account_id "
                "WHERE l.payment_id = %s AND l.paid_on = %s ORDER BY l.id",
                [obj.id, obj.paid_on],
            )
            return html_table(("account", "kind", "amount", "currency"), cursor.fetchall(), money_at=2)

    reverse = reason_action(
        label="Reverse the payment",
        use_case=lambda payment, reason, request: use_cases.reverse_payment(
            ports(), payment.id, reason, _actor(request)
        ),
    )


@admin.register(FeeWaiver)
class FeeWaiverAdmin(ReadOnlyAdmin):
    changed_by_actions = True
    money_fields = {"amount": "currency"}
    list_display = ("id", "credit", "installment", "amount", "status", "requested_by", "requested_at")
    list_filter = ("status", "currency")
    list_select_related = ("credit", "installment", "requested_by", "decided_by")
    search_fields = ("id", "credit__id", "reason", "requested_by__username")
    raw_id_fields = ("credit", "installment", "requested_by", "decided_by")
    actions = ("approve", "reject")

    @admin.action(description="Approve (waive the fee and book it)")
    def approve(self, request: HttpRequest, queryset: QuerySet[FeeWaiver]) -> None:
        self._decide(request, queryset, approve=True, note="approved in the admin")

    reject = reason_action(
        label="Reject the request",
        use_case=lambda waiver, reason, request: use_cases.decide_fee_waiver(
            ports(), waiver.id, approve=False, note=reason, actor=_actor(request)
        ),
    )

    def _decide(self, request: HttpRequest, queryset: QuerySet[FeeWaiver], *, approve: bool, note: str) -> None:
        for waiver in queryset:
            try:
                use_cases.decide_fee_waiver(ports(), waiver.id, approve=approve, note=note, actor=_actor(request))
            except DomainError as exc:
                self.message_user(request, f"{waiver}: {exc.message}", messages.ERROR)
