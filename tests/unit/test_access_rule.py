"""The visibility rule: admin sees all, an agent their assigned credits, a client their own."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application.access import Holding, may_see, require_role, require_visible, sees
from domain.application.queries.collections import whose_work_list
from domain.identity.model import Principal, Role
from domain.identity.ports import Person
from domain.shared.errors import Forbidden, NotFound
from tests.unit.domain.fakes import InMemoryPeople


def who(role: Role, user_id: int) -> Principal:
    return Principal(public_id=uuid4(), user_id=user_id, role=role)


@pytest.mark.parametrize(
    ("viewer", "holding", "seen"),
    [
        (who(Role.ADMIN, 1), Holding(client_id=7, agent_id=None), True),
        (who(Role.AGENT, 3), Holding(client_id=7, agent_id=3), True),
        (who(Role.AGENT, 3), Holding(client_id=7, agent_id=4), False),
        (who(Role.AGENT, 3), Holding(client_id=3, agent_id=None), False),
        (who(Role.CLIENT, 7), Holding(client_id=7, agent_id=3), True),
        (who(Role.CLIENT, 3), Holding(client_id=7, agent_id=3), False),
    ],
)
def test_who_may_see_a_credit(viewer: Principal, holding: Holding, seen: bool) -> None:
    assert may_see(viewer, holding) is seen


def test_what_may_not_be_seen_is_not_found_and_a_role_that_may_not_act_is_forbidden() -> None:
    with pytest.raises(NotFound, match="No such credit"):
        require_visible(who(Role.CLIENT, 3), Holding(client_id=7, agent_id=3), "credit")
    with pytest.raises(NotFound):
        require_visible(who(Role.ADMIN, 1), None, "payment")
    assert require_visible(who(Role.CLIENT, 7), Holding(client_id=7, agent_id=None), "credit").client_id == 7
    with pytest.raises(Forbidden):
        require_role(who(Role.CLIENT, 7), Role.AGENT, Role.ADMIN)
    require_role(who(Role.AGENT, 3), Role.AGENT, Role.ADMIN)


def test_the_rule_reads_the_same_on_public_ids_as_on_internal_ones() -> None:
    me, other = str(uuid4()), str(uuid4())
    for role, holding, seen in [
        (Role.ADMIN, Holding(client_id=other, agent_id=None), True),
        (Role.AGENT, Holding(client_id=other, agent_id=me), True),
        (Role.AGENT, Holding(client_id=me, agent_id=other), False),
        (Role.CLIENT, Holding(client_id=me, agent_id=other), True),
        (Role.CLIENT, Holding(client_id=other, agent_id=me), False),
    ]:
        assert sees(role, me, holding) is seen
        internal = Holding(client_id=1 if holding.client_id == me else 2, agent_id=1 if holding.agent_id == me else 2)
        assert may_see(who(role, 1), internal) is seen


def test_whose_work_list_an_agent_their_own_an_admin_any_agent_a_client_none() -> None:
    people = InMemoryPeople()
    agent_id, other_agent, client = uuid4(), uuid4(), uuid4()
    people.add(other_agent, Person(id=9, role=Role.AGENT, is_active=True))
    people.add(client, Person(id=5, role=Role.CLIENT, is_active=True))
    agent = Principal(public_id=agent_id, user_id=3, role=Role.AGENT)
    admin = who(Role.ADMIN, 1)

    assert whose_work_list(agent, None, people) == 3
    assert whose_work_list(agent, agent_id, people) == 3
    with pytest.raises(Forbidden, match="own lists"):
        whose_work_list(agent, other_agent, people)
    assert whose_work_list(admin, None, people) is None
    assert whose_work_list(admin, other_agent, people) == 9
    for not_an_agent in (client, uuid4()):
        with pytest.raises(NotFound, match="No such agent"):
            whose_work_list(admin, not_an_agent, people)
    with pytest.raises(Forbidden):
        whose_work_list(who(Role.CLIENT, 5), None, people)
