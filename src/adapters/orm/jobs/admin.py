"""Background jobs in the admin: what ran, its progress and its result, read-only (jobs are started
through the API and run by the workers). The result's money is shown as money, like everywhere in
the admin: `{"amount", "currency"}` pairs (the analysis) and amounts by currency code (the nightly
job's fees charged); ratios as percentages."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import admin
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString

from adapters.orm.jobs.models import Job
from adapters.orm.readonly_admin import ReadOnlyAdmin, format_money

_CODE = re.compile(r"^[A-Z]{3}$")


def _amount(value: object) -> Decimal | None:
    try:
        return Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        return None


def _ratio(value: object) -> str:
    share = _amount(value)
    return f"{share * 100:.2f} %" if share is not None else str(value)


def result_html(value: Any) -> SafeString:
    """A job's JSON result as nested tables and lists, its amounts formatted as money."""
    if isinstance(value, dict):
        if set(value) == {"amount", "currency"} and (amount := _amount(value["amount"])) is not None:
            return conditional_escape(format_money(amount, value["currency"]))
        amounts = {k: a for k, v in value.items() if _CODE.match(str(k)) and (a := _amount(v)) is not None}
        if value and len(amounts) == len(value):
            return format_html_join(", ", "{}", ((format_money(a, k),) for k, a in amounts.items()))
        rows = ((key, _ratio(item) if key.endswith("_ratio") else result_html(item)) for key, item in value.items())
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))
    if isinstance(value, list):
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((result_html(v),) for v in value)))
    return conditional_escape("—" if value is None else value)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "state", "progress", "requested_by", "finished_at")
    list_filter = ("kind", "state")
    list_select_related = ("requested_by",)
    date_hierarchy = "created_at"
    exclude = ("result", "result_csv", "run_token")  # the result is shown as `figures`
    readonly_fields = ("progress", "figures")

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        return f"{job.done:,} of {job.total:,}"

    @admin.display(description="result")
    def figures(self, job: Job) -> SafeString:
        return result_html(job.result)
