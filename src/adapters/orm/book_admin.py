"""The admin's book pages, beside the model admins: Clients (each client's credits, pending and
overdue) and Portfolio (aging, collections per day and outstanding, drawn as inline SVG).

Both read the read models the API serves (`/users/{id}/credit-summary`, `/portfolio/*`), so the
admin and the API agree. config.urls mounts them under /admin/ behind `admin.site.admin_view`
(signed-in staff only; the admin's CSP applies).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from adapters.orm.readonly_admin import format_money
from adapters.orm.svg_charts import Bar, bar_chart, share_strip
from adapters.orm.wiring import ports
from adapters.queries.client_book import ClientBook, ClientRow
from adapters.queries.figures import SqlCreditFigures
from adapters.queries.portfolio import BookFigures, PortfolioQueries
from adapters.sql.currencies import currency_of
from domain.shared.aging import AgingBucket
from domain.shared.money import Money
from domain.shared.pagination import PageRequest

CLIENTS_PER_PAGE = 50
SEARCH_MAX = 100
COLLECTION_DAYS = 90
BUCKET_COLORS = {
    AgingBucket.CURRENT: "#4f8f4a",
    AgingBucket.D1_30: "#d9a520",
    AgingBucket.D31_60: "#e07b39",
    AgingBucket.D61_90: "#c8453a",
    AgingBucket.D90_PLUS: "#7d1d1d",
}


def money_text(money: Money) -> str:
    return format_money(money.amount, money.currency.code)


def _page(request: HttpRequest, template: str, title: str, context: dict[str, Any]) -> HttpResponse:
    return TemplateResponse(
        request, template, {**admin.site.each_context(request), "title": title, "subtitle": None, **context}
    )


# --- Clients ---------------------------------------------------------------------------------------


def _client_line(row: ClientRow, credits_url: str) -> dict[str, Any]:
    summary = row.summary
    return {
        "row": row,
        "credits_url": f"{credits_url}?{urlencode({'user__id__exact': row.user_id})}",
        "user_url": reverse("admin:identity_user_change", args=[row.user_id]),
        "pending": [money_text(c.pending) for c in summary.by_currency if c.pending.is_positive],
        "overdue": [money_text(c.overdue) for c in summary.by_currency if c.overdue.is_positive],
    }


def clients_view(request: HttpRequest) -> HttpResponse:
    """Clients by username, searchable by a prefix of username, names or document id; keyset pages
    (`after` = the last username shown), two statements per page whatever its length."""
    search = request.GET.get("q", "").strip()[:SEARCH_MAX]
    after = request.GET.get("after", "")
    p = ports()
    book = ClientBook(SqlCreditFigures(p.policies.delinquency))
    page = book.page(
        search=search or None,
        page=PageRequest(limit=CLIENTS_PER_PAGE, after=(after,) if after else None),
        as_of=p.clock.today(),
    )
    credits_url = reverse("admin:credits_credit_changelist")
    next_url = None
    if page.has_more and page.next_key:
        next_url = "?" + urlencode({**({"q": search} if search else {}), "after": page.next_key[0]})
    return _page(
        request,
        "admin/book/clients.html",
        "Clients",
        {
            "clients": [_client_line(row, credits_url) for row in page.items],
            "search": search,
            "after": after,
            "next_url": next_url,
            "first_url": "?" + urlencode({"q": search}) if search else "?",
        },
    )


# --- Portfolio -------------------------------------------------------------------------------------


def _aging_chart(figures: BookFigures) -> dict[str, Any]:
    bars = [
        Bar(row.bucket.value, row.outstanding.amount, money_text(row.outstanding), BUCKET_COLORS[row.bucket])
        for row in figures.aging
    ]
    legend = [
        {"label": row.bucket.value, "color": BUCKET_COLORS[row.bucket], "money": money_text(row.outstanding)}
        for row in figures.aging
    ]
    return {
        "aging": mark_safe(bar_chart(bars, name=f"aging-{figures.currency}")),  # noqa: S308 (escaped inside)
        "aging_counts": [(row.bucket.value, row.credits) for row in figures.aging],
        "strip": mark_safe(share_strip(bars, name=f"outstanding-{figures.currency}")),  # noqa: S308
        "legend": legend,
    }


def _collections_chart(code: str, by_day: dict[date, Money], first: date, days: int) -> dict[str, Any]:
    currency = currency_of(code)
    series = [
        (first + timedelta(days=n), by_day.get(first + timedelta(days=n), Money.zero(currency))) for n in range(days)
    ]
    largest = max((m for _, m in series), key=lambda m: m.amount)
    total = sum((m for _, m in series), Money.zero(currency))
    bars = [Bar(day.strftime("%d %b"), money.amount, money_text(money)) for day, money in series]
    chart = bar_chart(
        bars,
        name=f"collections-{code}",
        height=200,
        captions=False,
        label_every=15,
        top_caption=f"max {money_text(largest)} a day" if largest.is_positive else "",
    )
    return {"collections": mark_safe(chart), "collected_90": money_text(total)}  # noqa: S308 (escaped inside)


def portfolio_view(request: HttpRequest) -> HttpResponse:
    """Per currency (amounts in different currencies are never added or drawn on one scale): the
    KPIs of `/portfolio/kpis`, outstanding split by aging bucket (a strip, then bars) as in
    `/portfolio/aging`, and the money collected on each of the last 90 days."""
    p = ports()
    today = p.clock.today()
    queries = PortfolioQueries(p.policies.delinquency)
    first = today - timedelta(days=COLLECTION_DAYS - 1)
    collections = queries.collections_by_day(first=first, last=today)
    sections = []
    book = {f.currency: f for f in queries.book(as_of=today)}
    for code in sorted(set(book) | set(collections)):
        figures = book.get(code)
        section: dict[str, Any] = {"currency": code, "figures": figures}
        if figures is not None:
            section |= _aging_chart(figures)
            section["kpis"] = [
                ("Outstanding", money_text(figures.outstanding)),
                ("Collected (all time)", money_text(figures.collected)),
                (
                    f"At risk (> {queries.at_risk_after_days} days)",
                    f"{money_text(figures.at_risk)} · {figures.at_risk_ratio * 100:.2f} %",
                ),
                ("Open credits", f"{figures.open_credits:,} of {figures.credits:,}"),
                ("In default", f"{figures.in_default:,}"),
            ]
        section |= _collections_chart(code, collections.get(code, {}), first, COLLECTION_DAYS)
        sections.append(section)
    return _page(
        request,
        "admin/book/portfolio.html",
        "Portfolio",
        {"as_of": today, "first": first, "days": COLLECTION_DAYS, "sections": sections},
    )
