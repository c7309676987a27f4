"""Issue 12, "Admin, as an admin sees it", in a real browser: headless Chromium signs in through
the admin's login form on a live server and opens the index, the Clients screen and the Portfolio
page; the charts are laid out (the SVG bars have a size on screen), the money is formatted, and
each page is kept as a screenshot in .data/artifacts/ (git-ignored) for a person to look at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.orm.identity.models import User
from tests.chromium import Chromium, chromium_binary
from tests.e2e.admin_pages import portfolio_book
from tests.factories import PASSWORD, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.integration,
    pytest.mark.skipif(chromium_binary() is None, reason="needs Debian's chromium (apt-get install -y chromium)"),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / ".data" / "artifacts"

# What the page shows once laid out: every chart's drawn size, and the bars that have a height.
CHARTS_ON_SCREEN = """JSON.stringify([...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('rect.bar')].filter(r => r.getBoundingClientRect().height > 0
      && r.getBoundingClientRect().width > 0).length;
  return {chart: svg.dataset.chart, width: box.width, height: box.height, drawn: drawn};
}))"""


def test_the_admin_book_pages_in_a_browser(live_server: object) -> None:
    portfolio_book()
    UserFactory(username="ada", role=User.Role.ADMIN, is_superuser=True)
    base = live_server.url  # type: ignore[attr-defined]
    with Chromium.start() as browser:
        page = browser.new_page(width=1280, height=900)
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.submit(
            f"document.getElementById('id_username').value = 'ada';"
            f"document.getElementById('id_password').value = {json.dumps(PASSWORD)};"
            "document.getElementById('login-form').submit();"
        )
        assert page.evaluate("location.pathname") == "/admin/"
        assert page.evaluate("[...document.querySelectorAll('.app-book a')].map(a => a.textContent)") == [
            "Clients",
            "Portfolio",
        ]
        page.screenshot(ARTIFACTS / "admin-index.png")

        page.goto(f"{base}/admin/portfolio/")
        assert page.evaluate("document.title").startswith("Portfolio")
        charts = {c["chart"]: c for c in json.loads(page.evaluate(CHARTS_ON_SCREEN))}
        assert set(charts) == {
            f"{kind}-{code}" for kind in ("aging", "outstanding", "collections") for code in ("CLP", "COP")
        }
        for chart in charts.values():
            assert chart["width"] > 300 and chart["height"] > 20, chart
        assert charts["aging-COP"]["drawn"] == 3  # current, 1-30 and 61-90 hold money
        assert charts["collections-COP"]["drawn"] == 2  # two days with money kept
        body = page.evaluate("document.body.innerText")
        assert "1,995,000.00 COP" in body and "80,000 CLP" in body
        page.screenshot(ARTIFACTS / "admin-portfolio.png")

        page.goto(f"{base}/admin/clients/")
        assert "1,115,000.00 COP" not in page.evaluate("document.body.innerText")  # per client, not per credit
        assert "1,995,000.00 COP" in page.evaluate("document.body.innerText")
        page.screenshot(ARTIFACTS / "admin-clients.png")
