"""The audit trail in the Django admin: listed, filtered and searched, never added, changed or
deleted (and the database refuses it anyway)."""

from __future__ import annotations

from django.contrib import admin

from adapters.orm.audit.models import AuditEntry
from adapters.orm.readonly_admin import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    money_fields = {"amount": "currency"}
    list_display = ("at", "event", "actor_id", "actor_role", "source", "ip", "credit_id", "amount")
    list_filter = ("event", "source", "actor_role")
    search_fields = ("=request_id",)
    date_hierarchy = "at"
    show_full_result_count = False  # no COUNT(*) over the whole trail on every page
    actions = None
