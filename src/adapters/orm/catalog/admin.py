"""Admin for the catalogs. Plain reference data (no money), so the admin edits rows directly,
with the same rules as the API: keys are fixed once created and account numbers are masked."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from adapters.orm.catalog.models import Category, Currency, Holiday, PaymentAccount, Periodicity, Subcategory
from domain.catalog import rules
from domain.shared.errors import InvalidInput


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "minor_units", "active")
    list_filter = ("active", "minor_units")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Currency | None = None) -> tuple[str, ...]:
        # Editing the primary key in the admin would create a second row; changing minor units
        # would reinterpret every amount already stored in the currency.
        return ("code", "minor_units") if obj is not None else ()


class SubcategoryInline(admin.TabularInline):
    model = Subcategory
    extra = 0
    fields = ("name",)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    inlines = (SubcategoryInline,)


@admin.register(Subcategory)
class SubcategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "category")
    list_filter = ("category",)
    list_select_related = ("category",)
    search_fields = ("name", "category__name")
    autocomplete_fields = ("category",)


@admin.register(Periodicity)
class PeriodicityAdmin(admin.ModelAdmin):
    """The four periodicities are fixed (the domain knows exactly these); only their flags change."""

    list_display = ("code", "name", "skip_sundays", "skip_holidays", "position")
    list_filter = ("skip_sundays", "skip_holidays")
    search_fields = ("code", "name")
    readonly_fields = ("code",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PaymentAccountForm(forms.ModelForm):
    account_number_masked = forms.CharField(
        label="Account number",
        required=False,
        max_length=rules.ACCOUNT_NUMBER_MAX,
        help_text="Only the last four characters are kept.",
    )

    class Meta:
        model = PaymentAccount
        fields = ("name", "kind", "currency", "active", "bank_name", "account_number_masked")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        try:
            masked = rules.mask_account_number(data.get("account_number_masked") or "")
            bank_name, masked = rules.bank_details(data.get("kind", ""), data.get("bank_name") or "", masked)
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from exc
        data["bank_name"], data["account_number_masked"] = bank_name, masked
        return data


@admin.register(PaymentAccount)
class PaymentAccountAdmin(admin.ModelAdmin):
    form = PaymentAccountForm
    list_display = ("name", "kind", "currency", "active", "bank_name", "account_number_masked")
    list_filter = ("kind", "active", "currency")
    list_select_related = ("currency",)
    search_fields = ("name", "bank_name", "account_number_masked")
    autocomplete_fields = ("currency",)


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name")
    search_fields = ("name",)
    date_hierarchy = "date"
    ordering = ("-date",)
