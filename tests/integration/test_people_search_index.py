"""The client search and the exact lookup are served by their indexes: EXPLAIN on 10,000 users
plus the ones searched for, ANALYZEd, with the planner's default settings (enable_seqscan on, so
the index is chosen on cost, not forced).

The statements explained are the ones the API runs (captured from the directory's own calls), so
a change to the query that loses its index fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from adapters.queries.clients import ClientDirectory
from adapters.queries.common import Viewer
from domain.identity.model import Role
from domain.shared.pagination import PageRequest
from tests.builders import open_credit
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

ROWS = 10_000


@pytest.fixture
def crowd() -> dict:
    admin = UserFactory(username="ix-admin", role="admin")
    agent = UserFactory(username="ix-agent", role="agent")
    open_credit(UserFactory(username="ix-maria", first_name="María", last_name="Gómez", document_id="5550001"), agent)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO identity_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                       is_active, date_joined, public_id, role, phone, document_id)
            SELECT '!', false, 'crowd' || n, 'Nombre' || (n %% 997), 'Apellido' || (n %% 1009), '', false, true,
                   now(), gen_random_uuid(), 'client', '', (10000000 + n)::text
            FROM generate_series(1, %s) AS n
            """,
            [ROWS],
        )
        cursor.execute("ANALYZE identity_user")
    return {"admin": Viewer(admin.id, Role.ADMIN), "agent": Viewer(agent.id, Role.AGENT)}


def index_names(plan: object) -> Iterator[str]:
    if isinstance(plan, dict):
        if "Index Name" in plan:
            yield plan["Index Name"]
        for value in plan.values():
            yield from index_names(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from index_names(value)


def plan_of(call: object) -> tuple[dict, object]:
    """Run `call`, then EXPLAIN the statement it sent to identity_user (with its parameters bound)."""
    with CaptureQueriesContext(connection) as queries:
        result = call()  # type: ignore[operator]
    statements = [q["sql"] for q in queries if "identity_user" in q["sql"]]
    assert len(statements) == 1, statements
    with connection.cursor() as cursor:
        # The captured text has its parameters bound: its LIKE wildcards must not read as placeholders.
        cursor.execute("EXPLAIN (FORMAT JSON) " + statements[0].replace("%", "%%"), [])
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw), result


@pytest.mark.parametrize(
    ("text", "expected"),
    [("maría gómez", ["ix-maria"]), ("GOMEZ", ["ix-maria"]), ("gó", ["ix-maria"]), ("5550001", ["ix-maria"])],
)
def test_the_admins_search_reads_the_trigram_index(crowd: dict, text: str, expected: list[str]) -> None:
    directory = ClientDirectory()
    plan, page = plan_of(lambda: directory.list_people(crowd["admin"], role=None, search=text, page=PageRequest(20)))
    assert [c.username for c in page.items] == expected
    assert "user_search_trgm_idx" in set(index_names(plan)), json.dumps(plan, indent=1)


def test_the_agents_search_reads_its_portfolio_not_the_user_table(crowd: dict) -> None:
    directory = ClientDirectory()
    plan, page = plan_of(lambda: directory.list_people(crowd["agent"], role=None, search="maria", page=PageRequest(20)))
    assert [c.username for c in page.items] == ["ix-maria"]
    assert "identity_user" not in seq_scanned(plan), json.dumps(plan, indent=1)


def seq_scanned(plan: object) -> set[str]:
    """The relations the plan reads by a sequential scan."""
    if isinstance(plan, list):
        return set().union(*(seq_scanned(p) for p in plan))
    if not isinstance(plan, dict):
        return set()
    found = {plan["Relation Name"]} if plan.get("Node Type") == "Seq Scan" else set()
    return found.union(*(seq_scanned(v) for v in plan.values()))


@pytest.mark.parametrize(("field", "value"), [("national_id", "5550001"), ("username", "IX-MARIA")])
def test_the_exact_lookup_reads_an_index(crowd: dict, field: str, value: str) -> None:
    directory = ClientDirectory()
    plan, cards = plan_of(
        lambda: directory.lookup(crowd["agent"], **{"national_id": None, "username": None, field: value})
    )
    assert len(cards) == 1
    assert "identity_user" not in seq_scanned(plan), json.dumps(plan, indent=1)


def test_the_search_expression_is_immutable_and_folds_like_the_query() -> None:
    """The index needs an IMMUTABLE expression; the term and the rows go through the same folding."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT provolatile FROM pg_proc WHERE proname IN ('identity_fold', 'identity_people_search_text')"
        )
        assert [row[0] for row in cursor.fetchall()] == ["i", "i"]
        cursor.execute(
            "SELECT identity_fold('ÁNGELA Müller Núñez'), identity_people_search_text('u', 'María', 'Gómez', '1')"
        )
        assert cursor.fetchone() == ("angela muller nunez", " u maria gomez 1")
