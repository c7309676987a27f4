"""Onboarding clients (and agents) and searching the client list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from adapters.orm.identity.models import User
from tests.builders import Caller, open_credit
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

STRONG = "a-Long-and-unusual-passphrase-42"


@pytest.fixture
def staff(client: Client, login: Callable[..., dict]) -> dict:
    UserFactory(username="o-admin", role="admin")
    UserFactory(username="o-agent", role="agent")
    UserFactory(username="o-client", role="client")
    return {name: Caller(client, login(f"o-{name}")["access_token"]) for name in ("admin", "agent", "client")}


def body(**overrides: object) -> dict:
    data = {
        "username": "new.client",
        "password": STRONG,
        "first_name": "Nueva",
        "last_name": "Cliente",
        "email": "nueva@example.test",
        "phone": "+57 300 123 4567",
        "document_id": "1020304050",
    }
    data.update(overrides)
    return data


def test_an_agent_onboards_a_client_who_can_then_log_in(staff: dict, login: Callable[..., dict]) -> None:
    response = staff["agent"].post("/api/v1/clients", body())
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["role"] == "client" and created["username"] == "new.client"
    assert created["document_id"] == "1020304050" and "password" not in created
    user = User.objects.get(username="new.client")
    assert str(user.public_id) == created["id"] and user.password.startswith("argon2")
    assert login("new.client", STRONG)["access_token"]


def test_only_admins_create_agents_and_nobody_creates_admins(staff: dict) -> None:
    assert staff["agent"].post("/api/v1/clients", body(role="agent")).status_code == 403
    assert staff["client"].post("/api/v1/clients", body()).status_code == 403
    assert staff["admin"].post("/api/v1/clients", body(role="admin")).status_code == 422
    response = staff["admin"].post("/api/v1/clients", body(role="agent"))
    assert response.status_code == 201 and response.json()["role"] == "agent"


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"username": "O-AGENT"}, 409),  # taken, whatever the case
        ({"password": "password"}, 422),  # too common, too short
        ({"password": "new.client"}, 422),  # too close to the username
        ({"password": "83920475619"}, 422),  # all digits
        ({"email": "not-an-email"}, 422),
        ({"username": "has spaces"}, 422),
        ({"username": ""}, 422),
        ({"phone": "call me"}, 422),
    ],
)
def test_bad_onboarding_writes_nothing(staff: dict, overrides: dict, status: int) -> None:
    before = User.objects.count()
    response = staff["admin"].post("/api/v1/clients", body(**overrides))
    assert response.status_code == status, response.content
    assert set(response.json()) == {"error"}
    assert User.objects.count() == before


def test_search_matches_ignoring_case_and_where_it_starts(staff: dict) -> None:
    maria = UserFactory(username="s-maria", first_name="María", last_name="Gómez", document_id="900100", role="client")
    pedro = UserFactory(username="s-pedro", first_name="Pedro", last_name="Marín", document_id="800200", role="client")
    UserFactory(username="s-agent", first_name="Mario", role="agent")
    agent = User.objects.get(username="o-agent")
    for client in (maria, pedro):  # the agent's portfolio: it lists these two only
        open_credit(client, agent)

    def found(caller: Caller, text: str, **params: object) -> list[str]:
        response = caller.get("/api/v1/clients", search=text, **params)
        assert response.status_code == 200, response.content
        return [c["username"] for c in response.json()["data"]]

    assert found(staff["agent"], "mar") == ["s-maria", "s-pedro"]  # María by name, Marín by last name
    assert found(staff["agent"], "ar") == []  # under three characters: the start of a word only
    assert found(staff["admin"], "mar") == ["s-agent", "s-maria", "s-pedro"]
    assert found(staff["admin"], "mar", role="agent") == ["s-agent"]
    assert found(staff["agent"], "9001") == ["s-maria"]
    assert found(staff["agent"], "S-PE") == ["s-pedro"]
    assert found(staff["agent"], "%") == []  # wildcards are literal
    assert found(staff["agent"], "_") == []
    assert found(staff["agent"], "ma%a") == []


def test_search_ignores_accents_and_case_and_finds_words_inside_names(staff: dict) -> None:
    people = {
        "a-maria": ("María", "Gómez Álvarez", "900100"),
        "a-jose": ("José", "Núñez Peña", "800200"),
        "a-angela": ("Ángela", "Müller", "CC-7001"),
        "a-mario": ("Mario", "Gomes", "600300"),
    }
    agent = User.objects.get(username="o-agent")
    for username, (first, last, document) in people.items():
        open_credit(UserFactory(username=username, first_name=first, last_name=last, document_id=document), agent)

    def found(text: str) -> list[str]:
        response = staff["agent"].get("/api/v1/clients", search=text)
        assert response.status_code == 200, response.content
        return [c["username"] for c in response.json()["data"]]

    assert found("maria") == found("MARÍA") == found("María") == found("marÍa") == ["a-maria"]
    assert found("gomez") == found("GÓMEZ") == ["a-maria"]
    assert found("maria gomez") == ["a-maria"]  # a full name, across the first and last name
    assert found("alvarez") == ["a-maria"]  # a second surname: a word inside the last name
    assert found("nunez pena") == found("Peña") == ["a-jose"]
    assert found("angela") == found("ÁNGELA") == found("muller") == ["a-angela"]
    assert found("omez") == ["a-maria"]  # three characters or more match anywhere (trigram index)
    assert found("gom") == ["a-maria", "a-mario"]
    assert found("ñ") == ["a-jose"]  # under three: the start of a word (Núñez), accents ignored
    assert found("cc-70") == ["a-angela"]
    assert found("zzz") == []


# --- who an agent may see -----------------------------------------------------------------------


def _usernames(caller: Caller, **params: object) -> list[str]:
    """Every page of the list, walked by its cursor."""
    names: list[str] = []
    cursor = None
    while True:
        response = caller.get("/api/v1/clients", cursor=cursor, **params)
        assert response.status_code == 200, response.content
        page = response.json()
        names += [c["username"] for c in page["data"]]
        if not page["has_more"]:
            return names
        cursor = page["next_cursor"]


@pytest.fixture
def portfolios(client: Client, login: Callable[..., dict]) -> dict:
    """Agent A collects p-collected's credit and onboarded p-onboarded (no credit yet); agent B
    collects p-other's; p-nobody has no link to any agent."""
    agent_a = UserFactory(username="p-agent-a", role="agent")
    agent_b = UserFactory(username="p-agent-b", role="agent")
    UserFactory(username="p-admin", role="admin")
    collected = UserFactory(username="p-collected", phone="+57 300 000 0001", document_id="11110001")
    other = UserFactory(username="p-other", phone="+57 300 000 0002", document_id="22220002", email="o@x.test")
    UserFactory(username="p-nobody", phone="+57 300 000 0003", document_id="33330003", first_name="Nadie")
    open_credit(collected, agent_a)
    open_credit(other, agent_b)
    callers = {name: Caller(client, login(f"p-{name}")["access_token"]) for name in ("agent-a", "agent-b", "admin")}
    onboarded = callers["agent-a"].post("/api/v1/clients", body(username="p-onboarded", document_id="44440004"))
    assert onboarded.status_code == 201, onboarded.content
    return callers


def test_an_agent_lists_only_the_clients_of_its_portfolio(portfolios: dict) -> None:
    assert _usernames(portfolios["agent-a"], limit=1) == ["p-collected", "p-onboarded"]
    assert _usernames(portfolios["agent-b"], limit=1) == ["p-other"]
    everyone = _usernames(portfolios["admin"], limit=2)
    assert {"p-collected", "p-onboarded", "p-other", "p-nobody", "p-agent-a"} <= set(everyone)
    # A search does not reach past the portfolio either.
    assert _usernames(portfolios["agent-a"], search="p-") == ["p-collected", "p-onboarded"]
    assert _usernames(portfolios["agent-a"], search="Nadie") == []
    assert _usernames(portfolios["agent-a"], search="2222") == []
    assert _usernames(portfolios["admin"], search="Nadie") == ["p-nobody"]


def test_the_portfolio_list_is_one_statement_whatever_the_page_size(portfolios: dict) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for limit in (1, 50):
        with CaptureQueriesContext(connection) as queries:
            assert portfolios["agent-a"].get("/api/v1/clients", limit=limit).status_code == 200
        counts.append(len([q for q in queries if "identity_user" in q["sql"]]))
    assert counts == [1, 1]


def test_an_agent_looks_a_person_up_by_exact_national_id_or_username(portfolios: dict) -> None:
    agent = portfolios["agent-a"]
    other = User.objects.get(username="p-other")

    def lookup(**params: object) -> object:
        return agent.get("/api/v1/clients/lookup", **params)

    by_id = lookup(national_id="22220002")
    assert by_id.status_code == 200, by_id.content
    assert by_id.json() == {
        "data": [
            {"id": str(other.public_id), "first_name": "", "last_name": "", "national_id_masked": "*****002"},
        ]
    }
    by_name = lookup(username="P-OTHER")  # usernames are unique regardless of case
    assert by_name.json() == by_id.json()
    # Only exact matches, only clients; no phone, email or full national id ever.
    assert lookup(national_id="2222").json() == {"data": []}
    assert lookup(username="p-oth").json() == {"data": []}
    assert lookup(username="p-agent-b").json() == {"data": []}
    for reply in (by_id, by_name):
        assert "+57" not in reply.content.decode() and "o@x.test" not in reply.content.decode()
    # One way at a time, and something to look for.
    for params in ({}, {"national_id": "22220002", "username": "p-other"}, {"national_id": ""}):
        reply = lookup(**params)
        assert reply.status_code == 422, (params, reply.content)
    # The admin may look up too; the found id is what opening a credit takes.
    assert portfolios["admin"].get("/api/v1/clients/lookup", username="p-other").json() == by_id.json()


def test_clients_may_neither_list_nor_look_up(client: Client, login: Callable[..., dict], portfolios: dict) -> None:
    caller = Caller(client, login("p-collected")["access_token"])
    assert caller.get("/api/v1/clients").status_code == 403
    assert caller.get("/api/v1/clients/lookup", username="p-other").status_code == 403
