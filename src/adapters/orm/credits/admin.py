"""Credits in the admin: searchable and filterable, read-only; changes go through the domain's use
cases as actions (write off, late fees, delinquency), each asking for what the rule needs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest

from adapters.orm.audit.origin import origin_of
from adapters.orm.credits.models import Credit, CreditEvent, Installment
from adapters.orm.identity.models import User
from adapters.orm.readonly_admin import MoneyColumns, ReadOnlyAdmin, html_table, reason_action
from adapters.orm.wiring import ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.application.use_cases.common import save_credit
from domain.ledger.model import Source


def _admin_actor(request: HttpRequest) -> Actor:
    user = request.user
    role = user.role if isinstance(user, User) else ""  # the admin lets staff in only: always a User
    return Actor(user_id=user.pk, source=Source.ADMIN, origin=origin_of(request), role=role)


# What an installment asks for, then what was paid: its money columns.
INSTALLMENT_AMOUNTS: tuple[str, ...] = ("principal", "interest", "adjustment", "late_fee", "late_fee_waived")
INSTALLMENT_AMOUNTS += ("paid_principal", "paid_interest", "paid_late_fee")


class InstallmentInline(MoneyColumns, admin.TabularInline):
    model = Installment
    money_fields = dict.fromkeys(INSTALLMENT_AMOUNTS, "credit.currency_id")
    extra = 0
    can_delete = False
    fields = readonly_fields = ("number", "due_date", *INSTALLMENT_AMOUNTS, "is_settled")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Installment]:
        return super().get_queryset(request).select_related("credit")  # the currency, in one query

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class EventInline(MoneyColumns, admin.TabularInline):
    model = CreditEvent
    money_fields = {"amount": "credit.currency_id"}
    extra = 0
    can_delete = False
    fields = readonly_fields = ("occurred_at", "kind", "amount", "reason", "actor", "related_credit_id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditEvent]:
        return super().get_queryset(request).select_related("credit", "actor")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Credit)
class CreditAdmin(ReadOnlyAdmin):
    changed_by_actions = True
    money_fields = {"price": "currency_id", "cost": "currency_id"}
    list_display = ("id", "user", "agent", "state", "price", "opened_on", "is_in_default", "days_past_due")
    list_filter = ("state", "is_in_default", "aging_bucket", "currency", "periodicity", "interest_method")
    list_select_related = ("user", "agent", "currency")
    search_fields = ("id", "user__username", "user__document_id", "agent__username")
    raw_id_fields = ("user", "agent", "subcategory", "refinanced_from")
    date_hierarchy = "opened_on"
    inlines = (InstallmentInline, EventInline)
    readonly_fields = ("ledger",)
    actions = ("write_off", "charge_late_fees", "recompute_delinquency")

    @admin.display(description="Ledger transactions")
    def ledger(self, obj: Credit) -> str:
        # The ledger is partitioned (composite keys have no admin page in Django 5.2): shown here.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.occurred_on, t.type, t.status, t.source, p.side, p.account, p.amount, p.currency "
                "FROM ledger_transaction t JOIN ledger_posting p "
                "ON p.transaction_id = t.id AND p.occurred_on = t.occurred_on "
                "WHERE t.credit_id = %s ORDER BY t.occurred_on, t.recorded_at, p.id LIMIT 500",
                [obj.id],
            )
            rows = cursor.fetchall()
        return html_table(
            ("date", "type", "status", "source", "side", "account", "amount", "currency"), rows, money_at=6
        )

    write_off = reason_action(
        label="Write off the outstanding balance",
        use_case=lambda credit, reason, request: use_cases.write_off_credit(
            ports(), credit.id, reason, _admin_actor(request)
        ),
    )

    @admin.action(description="Bring late fees up to date")
    def charge_late_fees(self, request: HttpRequest, queryset: QuerySet[Credit]) -> None:
        charged = sum(len(use_cases.charge_late_fees(ports(), c.id, _admin_actor(request))) for c in queryset)
        self.message_user(request, f"{charged} late fee(s) charged.", messages.SUCCESS)

    @admin.action(description="Recompute delinquency (days past due, default)")
    def recompute_delinquency(self, request: HttpRequest, queryset: QuerySet[Credit]) -> None:
        p = ports()
        for credit in queryset:
            with p.uow:
                loaded = p.credits.get(credit.id, for_update=True)
                if loaded is not None and loaded.state.is_open:
                    loaded.refresh_delinquency(
                        p.clock.today(), p.policies.delinquency, event_id=p.ids.new_id(), at=p.clock.now()
                    )
                    save_credit(p, loaded)
                p.uow.commit()
        self.message_user(request, "Delinquency recomputed.", messages.SUCCESS)


@admin.register(CreditEvent)
class CreditEventAdmin(ReadOnlyAdmin):
    money_fields = {"amount": "credit.currency_id"}
    list_display = ("occurred_at", "credit", "kind", "amount", "actor", "reason")
    list_filter = ("kind",)
    list_select_related = ("credit", "actor")
    search_fields = ("credit__id", "reason", "actor__username")
    raw_id_fields = ("credit", "actor")
    date_hierarchy = "occurred_at"
