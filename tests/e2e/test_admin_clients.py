"""Issue 12, "Admin, as an admin sees it": a Clients screen (clients with their credits, pending
and overdue) instead of "Users filtered by role". Linked from the admin index; per currency;
searchable; keyset pages; a constant number of queries whatever the page's length; each client
links to its credits."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from domain.credits.schedule import InterestMethod
from tests.builders import business_today, open_credit, pay
from tests.e2e.admin_pages import page_text, signed_in_admin
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

CLIENTS = "/admin/clients/"


COLUMNS = ("client", "name", "national id", "credits", "open", "in default", "pending", "overdue")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _rows(response: object) -> dict[str, dict[str, str]]:
    """The screen's rows by client username, each a dict of its cells' text by column."""
    html = response.content.decode()  # type: ignore[attr-defined]
    rows = {}
    for row in re.findall(r'<tr class="client">(.*?)</tr>', html, flags=re.S):
        cells = dict(zip(COLUMNS, (_text(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)), strict=True))
        rows[cells["client"]] = cells
    return rows


@pytest.fixture
def people() -> dict:
    """ana: a COP credit 100 days old (three installments of 100,000.00 overdue), 50,000.00 paid,
    and a CLP credit opened today; bruno: no credit; zoe: found by her national id; an agent."""
    today = business_today()
    agent = UserFactory(username="agent-olga", role="agent")
    ana, bruno = UserFactory(username="ana"), UserFactory(username="bruno")
    zoe = UserFactory(username="zoe", first_name="Zoe", last_name="Quiroga", document_id="CC-777")
    cop = open_credit(
        ana, agent, price="1200000.00", installments=12, method=InterestMethod.ZERO_INTEREST, on=today - timedelta(100)
    )
    pay(cop, "50000.00", on=today - timedelta(days=1))
    clp = open_credit(ana, agent, price="90000", currency="CLP", installments=3, method=InterestMethod.ZERO_INTEREST)
    other = open_credit(zoe, agent, price="1000.00", installments=2, method=InterestMethod.ZERO_INTEREST)
    return {"ana": ana, "bruno": bruno, "zoe": zoe, "agent": agent, "ana_credits": {cop.id, clp.id}, "other": other}


def test_the_admin_index_links_the_clients_screen() -> None:
    index = signed_in_admin().get("/admin/")
    assert f'href="{CLIENTS}"' in index.content.decode()
    assert "Clients" in page_text(index)


def test_clients_with_their_credits_pending_and_overdue_per_currency(people: dict) -> None:
    rows = _rows(signed_in_admin().get(CLIENTS))
    assert set(rows) == {"ana", "bruno", "zoe"}  # clients only: no agent, no admin
    assert rows["ana"] == {
        "client": "ana",
        "name": "",
        "national id": "",
        "credits": "2 credits",
        "open": "2",
        "in default": "0",
        # 1,200,000.00 less the 50,000.00 paid, and the CLP credit (currencies by code, never added)
        "pending": "90,000 CLP 1,150,000.00 COP",
        # three installments of 100,000.00 past due, less the payment (oldest first); none in CLP
        "overdue": "250,000.00 COP",
    }
    assert rows["bruno"]["credits"] == "0 credits" and rows["bruno"]["pending"] == rows["bruno"]["overdue"] == "—"
    assert rows["zoe"]["name"] == "Zoe Quiroga" and rows["zoe"]["national id"] == "CC-777"


def test_each_client_links_to_exactly_its_credits(people: dict) -> None:
    admin = signed_in_admin()
    html = admin.get(CLIENTS).content.decode()
    link = re.search(
        r'<tr class="client">\s*<th scope="row"><a [^>]*>ana</a>.*?<a class="credits" href="([^"]+)"', html, re.S
    )
    credits = admin.get(unescape(link.group(1)))
    assert credits.status_code == 200
    listed = set(re.findall(r"/admin/credits/credit/([0-9a-f-]{36})/change/", credits.content.decode()))
    assert listed == {str(i) for i in people["ana_credits"]}


def test_search_by_a_prefix_of_username_name_or_national_id(people: dict) -> None:
    admin = signed_in_admin()
    assert set(_rows(admin.get(CLIENTS, {"q": "Quir"}))) == {"zoe"}
    assert set(_rows(admin.get(CLIENTS, {"q": "cc-7"}))) == {"zoe"}
    assert set(_rows(admin.get(CLIENTS, {"q": "b"}))) == {"bruno"}
    assert "No client matches" in page_text(admin.get(CLIENTS, {"q": "nobody%"}))


def test_keyset_pages_walk_every_client_once(people: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.orm.book_admin.CLIENTS_PER_PAGE", 2)
    for n in range(5):
        UserFactory(username=f"walker{n}")
    admin, url, seen = signed_in_admin(), CLIENTS, []
    while url:
        page = admin.get(url)
        seen += list(_rows(page))
        found = re.search(r'<a class="next" href="([^"]+)"', page.content.decode())
        url = CLIENTS + unescape(found.group(1)) if found else None
    assert seen == ["ana", "bruno", *(f"walker{n}" for n in range(5)), "zoe"]


def test_the_number_of_queries_does_not_grow_with_the_page(people: dict) -> None:
    admin = signed_in_admin()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(CLIENTS).status_code == 200
        return len(captured)

    small = queries()
    agent = people["agent"]
    for n in range(6):
        client = UserFactory(username=f"more{n}")
        open_credit(client, agent, price="500.00", installments=2, method=InterestMethod.ZERO_INTEREST)
        open_credit(client, agent, price="700", currency="CLP", installments=2, method=InterestMethod.ZERO_INTEREST)
    assert len(_rows(admin.get(CLIENTS))) == 9
    assert queries() == small
