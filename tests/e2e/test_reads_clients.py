"""Onboarding clients (and agents) and searching the client list."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from adapters.orm.identity.models import User
from tests.builders import Caller
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


def test_search_is_a_case_insensitive_prefix(staff: dict) -> None:
    UserFactory(username="s-maria", first_name="María", last_name="Gómez", document_id="900100", role="client")
    UserFactory(username="s-pedro", first_name="Pedro", last_name="Marín", document_id="800200", role="client")
    UserFactory(username="s-agent", first_name="Mario", role="agent")

    def found(caller: Caller, text: str, **params: object) -> list[str]:
        response = caller.get("/api/v1/clients", search=text, **params)
        assert response.status_code == 200, response.content
        return [c["username"] for c in response.json()["data"]]

    assert found(staff["agent"], "mar") == ["s-maria", "s-pedro"]  # María by name, Marín by last name
    assert found(staff["admin"], "mar") == ["s-agent", "s-maria", "s-pedro"]
    assert found(staff["admin"], "mar", role="agent") == ["s-agent"]
    assert found(staff["agent"], "9001") == ["s-maria"]
    assert found(staff["agent"], "S-PE") == ["s-pedro"]
    assert found(staff["agent"], "%") == []  # wildcards are literal
    assert found(staff["agent"], "_") == []
