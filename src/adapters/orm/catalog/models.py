"""Catalog rows: reference data that credits and payments point at. No money is stored here."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

from domain.catalog import rules


class Currency(models.Model):
    code = models.CharField(
        max_length=3,
        primary_key=True,
        validators=[RegexValidator(rules.CURRENCY_CODE_PATTERN, "Three uppercase letters (ISO 4217).")],
    )
    name = models.CharField(max_length=rules.NAME_MAX)
    minor_units = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(rules.MIN_MINOR_UNITS), MaxValueValidator(rules.MAX_MINOR_UNITS)]
    )
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "catalog_currency"
        ordering = ("code",)
        verbose_name_plural = "currencies"
        # The database holds the same rules as the code, so a raw insert cannot break them either.
        constraints = [
            models.CheckConstraint(
                condition=models.Q(code__regex=rules.CURRENCY_CODE_PATTERN), name="currency_code_iso"
            ),
            models.CheckConstraint(
                condition=models.Q(minor_units__gte=rules.MIN_MINOR_UNITS, minor_units__lte=rules.MAX_MINOR_UNITS),
                name="currency_minor_units_range",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Category(models.Model):
    name = models.CharField(max_length=rules.NAME_MAX)

    class Meta:
        db_table = "catalog_category"
        ordering = ("name",)
        verbose_name_plural = "categories"
        # Case-insensitive: "Motos" and "motos" are one category to a person.
        constraints = [models.UniqueConstraint(Lower("name"), name="category_name_uniq")]

    def __str__(self) -> str:
        return self.name


class Subcategory(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="subcategories")
    name = models.CharField(max_length=rules.NAME_MAX)

    class Meta:
        db_table = "catalog_subcategory"
        ordering = ("category_id", "name")
        verbose_name_plural = "subcategories"
        # Its index starts with category_id, so it also serves the ?category= filter.
        constraints = [models.UniqueConstraint("category", Lower("name"), name="subcategory_category_name_uniq")]

    def __str__(self) -> str:
        return self.name


class Periodicity(models.Model):
    class Code(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        BIWEEKLY = "biweekly", "Biweekly"
        MONTHLY = "monthly", "Monthly"

    code = models.CharField(max_length=10, primary_key=True, choices=Code.choices)
    name = models.CharField(max_length=rules.NAME_MAX)
    # Only daily schedules skip days; the flags are ignored for the other periodicities.
    skip_sundays = models.BooleanField(default=False)
    skip_holidays = models.BooleanField(default=False)
    # Display order (daily first); the codes themselves do not sort meaningfully.
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "catalog_periodicity"
        ordering = ("position", "code")
        verbose_name_plural = "periodicities"
        constraints = [
            models.CheckConstraint(condition=models.Q(code__in=rules.PERIODICITY_CODES), name="periodicity_code_known")
        ]

    def __str__(self) -> str:
        return self.name


class PaymentAccount(models.Model):
    """A cash box, bank account or wallet that payment lines are split over (the seed's account methods)."""

    class Kind(models.TextChoices):
        CASH = "cash", "Cash box"
        BANK = "bank", "Bank account"
        WALLET = "wallet", "Wallet"

    name = models.CharField(max_length=rules.NAME_MAX)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="payment_accounts")
    active = models.BooleanField(default=True)
    bank_name = models.CharField(max_length=rules.BANK_NAME_MAX, blank=True)
    # Only the last digits ("****1234"): the full number is not needed to recognise the account
    # and is not worth the exposure.
    account_number_masked = models.CharField(max_length=rules.ACCOUNT_NUMBER_MAX, blank=True)

    class Meta:
        db_table = "catalog_payment_account"
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(Lower("name"), "currency", name="payment_account_name_currency_uniq"),
            models.CheckConstraint(condition=models.Q(kind__in=rules.ACCOUNT_KINDS), name="payment_account_kind"),
            models.CheckConstraint(
                condition=~models.Q(kind="cash") | models.Q(bank_name="", account_number_masked=""),
                name="payment_account_cash_no_bank",
            ),
        ]
        indexes = [models.Index(fields=["currency", "active"], name="payment_account_currency_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency_id})"


class Holiday(models.Model):
    date = models.DateField(unique=True)
    name = models.CharField(max_length=rules.NAME_MAX)

    class Meta:
        db_table = "catalog_holiday"
        ordering = ("date",)

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"
