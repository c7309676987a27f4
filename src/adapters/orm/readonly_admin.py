"""Admin building blocks for money rows: visible, searchable, never edited in place, and their
amounts shown as money (`format_money`), not as the 4-decimal numeric column they are stored in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from adapters.sql.currencies import currency_of
from domain.shared.errors import DomainError, UnknownCurrency
from domain.shared.money import Money


def format_money(amount: Decimal, currency_code: str) -> str:
    """How the admin shows an amount: in its currency's minor units, thousands grouped, then the
    code (2,400,000.00 COP; 2,400,000 CLP; 1,234.500 KWD).

    Columns keep 4 decimals for every currency; `Money.rounded` (the display rounding point) brings
    the amount to the currency's minor units, so the domain's Money decides the decimals, not us.
    """
    try:
        money = Money.rounded(amount, currency_of(currency_code))
    except UnknownCurrency:  # a code the catalog does not know: show what is stored, unformatted
        return f"{amount} {currency_code}"
    return f"{money.amount:,f} {money.currency.code}"


def _attribute(obj: object, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def _money_column(field: str, currency_path: str) -> Callable[[Any, object], str | None]:
    def show(modeladmin: Any, obj: object) -> str | None:
        amount = getattr(obj, field)
        code = _attribute(obj, currency_path) if amount is not None else None
        return format_money(amount, code) if code else None  # None: the admin's empty value

    show.short_description = field.replace("_", " ")  # type: ignore[attr-defined]
    show.admin_order_field = field  # type: ignore[attr-defined]
    return show


def shown(field: str) -> str:
    """The name of the admin column that shows the amount field `field` as money."""
    return f"{field}_shown"


class MoneyColumns:
    """Mixin for model admins and inlines: the amount fields named in `money_fields` (each mapped to
    the dotted path of the row's currency code) are shown through `format_money` wherever the admin
    would show the raw column (list columns, read-only fields, inline rows), so a new admin only
    declares where its currency is. Mind the path's joins: select them (`list_select_related`, or
    `get_queryset` in an inline) so a page does not query once per row.
    """

    money_fields: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for field, currency_path in cls.money_fields.items():
            setattr(cls, shown(field), _money_column(field, currency_path))

    def _as_money(self, names: Iterable[Any]) -> list[Any]:
        return [shown(n) if isinstance(n, str) and n in self.money_fields else n for n in names]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return self._as_money(super().get_list_display(request))  # type: ignore[misc]

    def get_fields(self, request: HttpRequest, obj: object = None) -> list[Any]:
        return self._as_money(super().get_fields(request, obj))  # type: ignore[misc]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[Any]:
        return self._as_money(super().get_readonly_fields(request, obj))  # type: ignore[misc]

    def get_exclude(self, request: HttpRequest, obj: object = None) -> list[str]:
        # The raw columns never reach a form: their money columns stand in their place.
        return [*(super().get_exclude(request, obj) or ()), *self.money_fields]  # type: ignore[misc]


class ReadOnlyAdmin(MoneyColumns, admin.ModelAdmin):
    """Money rows are written only by the domain's use cases (through actions), never by a form.

    `changed_by_actions`: staff may run the admin's actions from the change list (the permission
    Django asks without a row); a row's own page stays a view page, since nothing there can be
    saved: Django then shows a Close link and no Save button, and refuses a POST.
    """

    changed_by_actions: ClassVar[bool] = False

    def _runs_actions(self, request: HttpRequest) -> bool:
        return self.changed_by_actions and bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return obj is None and self._runs_actions(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Who may run the actions may see the rows they act on (admins by role are staff without
        # model permissions).
        return super().has_view_permission(request, obj) or self._runs_actions(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[Any]:
        # Every column, then the admin's own read-only extras (tables of partitioned rows...).
        columns = [f.name for f in self.model._meta.fields if f.name not in (self.exclude or ())]
        return self._as_money([*columns, *(n for n in self.readonly_fields if n not in columns)])


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
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "opts": modeladmin.model._meta,
            },
        )

    action.short_description = label  # type: ignore[attr-defined]
    action.allowed_permissions = (permission,)  # type: ignore[attr-defined]
    return action


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, money_at: int | None = None) -> str:
    """A small read-only table for the change page (partitioned rows have no admin of their own).

    `money_at`: the index of an amount column followed by its currency code column; the two are
    shown as one money column.
    """
    if money_at is not None:
        headers = [*headers[:money_at], headers[money_at], *headers[money_at + 2 :]]
        rows = [[*r[:money_at], format_money(r[money_at], r[money_at + 1]), *r[money_at + 2 :]] for r in rows]
    if not rows:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
