"""Admin building blocks for money rows: visible, searchable, never edited in place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from domain.shared.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows are written only by the domain's use cases (through actions), never by a form."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(min_length=3, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


def reason_action(
    *, label: str, use_case: Callable[[Any, str, HttpRequest], object], permission: str = "change"
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], HttpResponse | None]:
    """An admin action that asks for a reason, then runs a domain use case per selected row.

    Each row is its own unit of work: one refused row (a domain error) is reported and the others
    still go through.
    """

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, failed = 0, []
            for obj in queryset:
                try:
                    use_case(obj, form.cleaned_data["reason"], request)
                    done += 1
                except DomainError as exc:
                    failed.append(f"{obj}: {exc.message}")
            if done:
                modeladmin.message_user(request, f"{label}: {done} done.", messages.SUCCESS)
            for line in failed:
                modeladmin.message_user(request, line, messages.ERROR)
            return None
        return TemplateResponse(
            request,
            "admin/reason_action.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": label,
                "form": form,
                "objects": queryset,
                "action": request.POST.get("action"),
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "opts": modeladmin.model._meta,
            },
        )

    action.short_description = label  # type: ignore[attr-defined]
    action.allowed_permissions = (permission,)  # type: ignore[attr-defined]
    return action


def html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A small read-only table for the change page (partitioned rows have no admin of their own)."""
    if not rows:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
