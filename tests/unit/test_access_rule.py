"""The visibility rule: admin sees all, an agent their assigned credits, a client their own."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application.access import Holding, may_see, require_role, require_visible
from domain.identity.model import Principal, Role
from domain.shared.errors import Forbidden, NotFound


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
