"""Issue 12, "Admin, as an admin sees it": a portfolio page with pictures, rendered on the server
as inline SVG from the read models of `/api/v1/portfolio/*`: aging buckets as bars, collections
per day over the last 90 days, outstanding per currency. Checked on a small book whose figures
are known: each bar's height is proportional to its value and its caption is formatted money.
(tests/integration/test_admin_browser.py looks at the page in Chromium.)"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest

from tests.e2e.admin_pages import page_text, portfolio_book, signed_in_admin

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

PORTFOLIO = "/admin/portfolio/"
AGING_PLOT_HEIGHT = Decimal(168)  # 220 px less the caption and label margins
COLLECTIONS_PLOT_HEIGHT = Decimal(148)  # 200 px less the same margins


@pytest.fixture
def book() -> dict:
    return portfolio_book()


def _bars(html: str, chart: str, size: str = "height") -> list[tuple[Decimal, Decimal, str]]:
    """(size, value, tooltip) of each bar of the chart named `chart`; size: its height or width."""
    svg = re.search(rf'<svg [^>]*data-chart="{chart}".*?</svg>', html, re.S)
    assert svg, chart
    bars = re.findall(
        rf'<rect class="bar" [^>]*?\s{size}="([\d.]+)"[^>]*data-value="([\d.]+)"><title>(.*?)</title>',
        svg.group(0),
    )
    return [(Decimal(size), Decimal(value), unescape(title)) for size, value, title in bars]


def _proportional(bars: list[tuple[Decimal, Decimal, str]], full: Decimal) -> None:
    """The largest bar fills the plot; every other is the same share of it as its value."""
    largest = max(value for _, value, _ in bars)
    for size, value, title in bars:
        assert abs(size - value / largest * full) <= Decimal("0.01"), title


def test_the_admin_index_links_the_portfolio_page() -> None:
    assert f'href="{PORTFOLIO}"' in signed_in_admin().get("/admin/").content.decode()


def test_aging_buckets_as_bars_proportional_to_outstanding(book: dict) -> None:
    html = signed_in_admin().get(PORTFOLIO).content.decode()
    aging = _bars(html, "aging-COP")
    assert [(value, title) for _, value, title in aging] == [
        (Decimal("600000.00"), "current: 600,000.00 COP"),
        (Decimal("280000.00"), "1-30: 280,000.00 COP"),  # 300,000.00 less 20,000.00 paid
        (Decimal("0.00"), "31-60: 0.00 COP"),
        (Decimal("1115000.00"), "61-90: 1,115,000.00 COP"),  # 1,200,000.00 less 85,000.00 kept
        (Decimal("0.00"), "90+: 0.00 COP"),
    ]
    _proportional(aging, AGING_PLOT_HEIGHT)
    captions = re.findall(r'<text class="caption"[^>]*>([^<]*)</text>', html.split('data-chart="aging-COP"')[1])
    assert captions[:5] == ["600,000.00 COP", "280,000.00 COP", "0.00 COP", "1,115,000.00 COP", "0.00 COP"]
    pesos = _bars(html, "aging-CLP")
    assert pesos[0][2] == "current: 80,000 CLP"


def test_collections_per_day_for_the_last_90_days(book: dict) -> None:
    html = signed_in_admin().get(PORTFOLIO).content.decode()
    today = book["today"]
    days = _bars(html, "collections-COP")
    assert len(days) == 90
    collected = {n: value for n, (_, value, _) in enumerate(days) if value}
    # Day -20 (two payments), day -1; not day -5 (reversed) nor day -95 (outside the window).
    assert collected == {89 - 20: Decimal("50000.00"), 89 - 1: Decimal("50000.00")}
    assert days[89 - 20][2] == f"{(today - timedelta(days=20)).strftime('%d %b')}: 50,000.00 COP"
    _proportional(days, COLLECTIONS_PLOT_HEIGHT)
    text = page_text(signed_in_admin(username="ben").get(PORTFOLIO))
    assert "max 50,000.00 COP a day" in text
    assert "100,000.00 COP collected, net of reversals" in text
    pesos = _bars(html, "collections-CLP")
    assert [(n, v) for n, (_, v, _) in enumerate(pesos) if v] == [(89, Decimal(10000))]


def test_outstanding_per_currency_as_figures_and_a_strip(book: dict) -> None:
    admin = signed_in_admin()
    response = admin.get(PORTFOLIO)
    text = page_text(response)
    assert "Outstanding 1,995,000.00 COP" in text  # 600,000.00 + 280,000.00 + 1,115,000.00
    assert "Outstanding 80,000 CLP" in text
    strip = _bars(response.content.decode(), "outstanding-COP", size="width")
    width = sum(size for size, _, _ in strip)
    assert abs(width - 560) <= Decimal("0.05")
    for size, value, title in strip:
        assert abs(size - value / Decimal("1995000") * 560) <= Decimal("0.01"), title


def test_the_same_figures_as_the_portfolio_api(book: dict, login: object) -> None:
    admin = signed_in_admin(username="carla")
    html = admin.get(PORTFOLIO).content.decode()
    token = login("carla")["access_token"]
    api = admin.get("/api/v1/portfolio/aging", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    for currency in api["data"]:
        shown = _bars(html, f"aging-{currency['currency']}")
        assert [v for _, v, _ in shown] == [Decimal(b["outstanding"]["amount"]) for b in currency["buckets"]]


def test_an_empty_book_says_so() -> None:
    assert "No credits yet." in page_text(signed_in_admin().get(PORTFOLIO))
