"""Broken object-level authorization: every operation of the API attacked as client A on client B's
resources, as an agent of another portfolio, as a client on staff and admin operations, and as the
admin (allowed). The operations and what each caller must get are in stress/scenarios/attacks.py
(shared with `make stress`); here they run through Django's test client with real JWTs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from stress.scenarios import attacks
from stress.scenarios.attacks import OPERATIONS, PATH_PARAM, Refs, Tally

from adapters.jobs.store import JobStore
from api.hot_reads import EarlyPath
from config.bootstrap import build_ports
from domain.application import use_cases
from domain.application.ports import Actor
from domain.ledger.model import Source
from domain.shared.money import Money
from tests.builders import business_today, open_credit, pay, payment_account, ports_at
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MONEY_TABLES = (
    "credits_credit",
    "credits_installment",
    "payments_payment",
    "payments_fee_waiver",
    "ledger_transaction",
    "ledger_posting",
)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def django_call(client: Client) -> attacks.Call:
    def call(method: str, path: str, token: str | None, body: Any, headers: dict[str, str] | None) -> Reply:
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if method == "GET":
            response = client.get(path, **extra)
        else:
            data = json.dumps(body if body is not None else {})
            response = client.generic(method, path, data, content_type="application/json", **extra)
        try:
            parsed: Any = response.json()
        except (ValueError, TypeError):
            parsed = response.content.decode(errors="replace")
        return Reply(response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()})

    return call


def api_operations() -> set[tuple[str, str]]:
    """(method, path) of every operation the NinjaAPI serves, read from its routers."""
    from config.urls import api

    found = set()
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    found.add((method, prefix + path))
    return found


def test_every_operation_of_the_api_is_classified() -> None:
    served = api_operations()
    unclassified = served - set(OPERATIONS)
    assert not unclassified, f"classify these in stress/scenarios/attacks.py OPERATIONS: {sorted(unclassified)}"
    gone = set(OPERATIONS) - served
    assert not gone, f"no longer served, remove from OPERATIONS: {sorted(gone)}"
    known_params = set(Refs.__dataclass_fields__)
    for method, path in served:
        for name in PATH_PARAM.findall(path):
            assert name in known_params, f"{method} {path}: no B resource for {{{name}}}: add it to Refs"
        if PATH_PARAM.search(path):
            assert OPERATIONS[(method, path)].kind == "resource", (method, path)


def test_the_schema_lists_no_operation_the_matrix_misses(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    for path, methods in schema["paths"].items():
        for method in methods:
            key = (method.upper(), path.removeprefix("/api/v1"))
            assert key in OPERATIONS, key


@dataclass
class World:
    call: attacks.Call
    tokens: dict[str, str]
    refs: Refs
    markers: set[str]
    agent_b_public: str
    credit_a: str


@pytest.fixture(params=["early path", "full path"])
def read_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every attack runs twice: with the early path of hot reads (api.hot_reads), whose cache entries
    the world warms for both sides, and without it (the front passes every read on to Django)."""
    if request.param == "early path":
        yield request.param
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EarlyPath, "answer", lambda self, environ: None)  # the front passes everything on
        yield request.param


@pytest.fixture
def world(read_path: str, client: Client, login: Callable[..., dict]) -> World:
    today = business_today()
    UserFactory(username="bola-admin", role="admin")
    agent_a = UserFactory(username="bola-agent-a", role="agent")
    agent_b = UserFactory(username="bola-agent-b", role="agent")
    client_a = UserFactory(username="bola-client-a", role="client")
    client_b = UserFactory(
        username="bola-client-b", role="client", phone="+57 311 555 0199", document_id="7700990011", email="b@x.test"
    )
    account = payment_account("COP")
    credit_a = open_credit(client_a, agent_a, price="1111.11", on=today - timedelta(days=100))
    # B's credit: opened 100 days ago, so installments are overdue and carry a late fee to waive.
    credit_b = open_credit(client_b, agent_b, price="7345.67", on=today - timedelta(days=100))
    payment_b = pay(credit_b, "123.45", on=today - timedelta(days=1))
    use_cases.charge_late_fees(build_ports(), credit_b.id)
    installment_b = credit_b.installments[0].id
    waiver_b = use_cases.request_fee_waiver(
        ports_at(),
        use_cases.RequestWaiver(installment_id=installment_b, amount=Money.of("0.01", "COP"), reason="bola waiver"),
        Actor(agent_b.id, Source.WEB),
    )
    job_id = JobStore().create("portfolio_analysis", {"as_of": today.isoformat(), "currency": None})
    _succeed(job_id)
    tokens = {
        "stranger_client": login("bola-client-a")["access_token"],
        "stranger_agent": login("bola-agent-a")["access_token"],
        "owner": login("bola-client-b")["access_token"],
        "owner_agent": login("bola-agent-b")["access_token"],
        "admin": login("bola-admin")["access_token"],
    }
    tokens.update(client=tokens["stranger_client"], agent=tokens["stranger_agent"])
    refs = Refs(
        credit_id=str(credit_b.id),
        payment_id=str(payment_b.id),
        installment_id=str(installment_b),
        waiver_id=str(waiver_b.id),
        user_id=str(client_b.public_id),
        job_id=str(job_id),
        currency="COP",
        account_id=account.id,
        client_a_id=str(client_a.public_id),
        client_b_username="bola-client-b",
    )
    markers = {
        str(credit_b.id),
        str(payment_b.id),
        str(payment_b.transaction_id),
        str(client_b.public_id),
        "bola-client-b",
        "+57 311 555 0199",
        "7700990011",
        "b@x.test",
        "7345.67",
        str(waiver_b.id),
        *(str(i.id) for i in credit_b.installments),
    }
    call = django_call(client)
    for who in ("owner", "owner_agent"):  # B's credit and summary cached on the client's and the staff side
        for path in (f"/api/v1/credits/{credit_b.id}", "/api/v1/me/credit-summary"):
            assert call("GET", path, tokens[who], None, None).status == 200
    return World(call, tokens, refs, markers, str(agent_b.public_id), str(credit_a.id))


def _succeed(job_id: object) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE jobs_job SET state = 'succeeded', result = '{}'::jsonb, finished_at = now(),"
            " result_csv = 'section,currency,key,value\n' WHERE id = %s",
            [str(job_id)],
        )


def _money_rows() -> dict[str, int]:
    with connection.cursor() as cursor:
        found = {}
        for table in MONEY_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            found[table] = cursor.fetchone()[0]
        return found


def _credit_b(world: World) -> Any:
    reply = world.call("GET", f"/api/v1/credits/{world.refs.credit_id}", world.tokens["admin"], None, None)
    assert reply.status == 200
    return reply.body


RESOURCE_OPS = sorted(key for key, op in OPERATIONS.items() if op.kind == "resource")


@pytest.mark.parametrize("key", RESOURCE_OPS, ids=[f"{m} {p}" for m, p in RESOURCE_OPS])
def test_resource_operation_matrix(world: World, key: tuple[str, str]) -> None:
    before, credit_before = _money_rows(), _credit_b(world)
    tally = Tally()
    attacks.attack_resource(tally, world.call, key, world.tokens, world.refs, world.markers, allowed_too=False)
    assert tally.failed == 0 and tally.errors_5xx == 0, "\n".join(tally.lines)
    # The refused calls changed nothing.
    assert _money_rows() == before
    assert _credit_b(world) == credit_before
    allowed = Tally()
    attacks.attack_resource(allowed, world.call, key, world.tokens, world.refs, set(), allowed_too=True)
    assert allowed.failed == 0 and allowed.errors_5xx == 0, "\n".join(allowed.lines)


ROLE_OPS = sorted(key for key, op in OPERATIONS.items() if op.kind == "role")


@pytest.mark.parametrize("key", ROLE_OPS, ids=[f"{m} {p}" for m, p in ROLE_OPS])
def test_role_operation_matrix(world: World, key: tuple[str, str]) -> None:
    tally = Tally()
    attacks.attack_roles(tally, world.call, key, world.tokens, world.refs)
    assert tally.failed == 0 and tally.errors_5xx == 0, "\n".join(tally.lines)


def test_lists_never_hold_another_clients_items(world: World) -> None:
    tally = Tally()
    attacks.attack_lists(
        tally,
        world.call,
        world.tokens,
        world.refs,
        world.markers,
        world.agent_b_public,
        business_today(),
        world.credit_a,
    )
    assert tally.failed == 0 and tally.errors_5xx == 0, "\n".join(tally.lines)
    assert tally.requests >= 15


def test_without_a_token_every_operation_but_the_public_ones_is_401(world: World) -> None:
    tally = Tally()
    attacks.attack_anonymous(tally, world.call, world.refs)
    assert tally.failed == 0 and tally.errors_5xx == 0, "\n".join(tally.lines)


def test_the_owner_sees_its_own_data_control(world: World) -> None:
    """Control: the markers really are B's data (B's own answers hold them)."""
    reply = world.call("GET", f"/api/v1/credits/{world.refs.credit_id}", world.tokens["owner"], None, None)
    assert reply.status == 200
    assert attacks.leaks(reply, world.markers, "")
