"""The read side's rules on fakes: the credit summary follows may_see, onboarding follows the roles."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest

from domain.analytics.model import CreditFigures
from domain.application.access import Holding, may_see
from domain.application.onboarding import onboard
from domain.application.queries.clients import ClientItem, NewPerson
from domain.application.queries.summaries import summary_of
from domain.application.queries.viewer import Viewer
from domain.identity.model import Role
from domain.shared.errors import Conflict, Forbidden, InvalidInput

CLIENT, AGENT, OTHER_AGENT, ADMIN = 1, 2, 3, 4
TODAY = date(2026, 1, 15)


class FakeSummaries:
    def __init__(self, agent_ids: list[int | None]) -> None:
        self.public_id = uuid4()
        self.agent_ids = agent_ids

    def user_id_of(self, public_id: UUID) -> int | None:
        return CLIENT if public_id == self.public_id else None

    def figures_of(self, user_id: int, *, as_of: date) -> list[CreditFigures]:
        return [_figures(agent_id) for agent_id in self.agent_ids]

    def of_user(self, user_id: int, *, as_of: date):
        raise AssertionError


def _figures(agent_id: int | None) -> CreditFigures:
    fields = CreditFigures.__dataclass_fields__
    values = {name: None for name in fields}
    return CreditFigures(**{**values, "user_id": CLIENT, "agent_id": agent_id})  # type: ignore[arg-type]


VIEWERS = [
    Viewer(CLIENT, Role.CLIENT),
    Viewer(AGENT, Role.AGENT),
    Viewer(OTHER_AGENT, Role.AGENT),
    Viewer(ADMIN, Role.ADMIN),
    Viewer(99, Role.CLIENT),
]


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: f"{v.role.value}-{v.user_id}")
@pytest.mark.parametrize("agent_ids", [[AGENT], [None], [OTHER_AGENT, AGENT], []])
def test_a_summary_is_visible_exactly_when_may_see_allows_a_credit_or_it_is_the_viewer_s_own(
    viewer: Viewer, agent_ids: list[int | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import domain.application.queries.summaries as summaries

    monkeypatch.setattr(summaries, "summarize_user", lambda user_id, rows: ("summary", user_id, len(rows)))
    reads = FakeSummaries(agent_ids)
    # The viewer's own summary, an admin's view of anyone, or a credit the viewer may see.
    anyone = may_see(viewer, Holding(client_id=-1, agent_id=-1))
    expected = viewer.user_id == CLIENT or anyone or any(may_see(viewer, Holding(CLIENT, a)) for a in agent_ids)
    assert (summary_of(reads, viewer, reads.public_id, as_of=TODAY) is not None) == expected


def test_an_unknown_user_has_no_summary() -> None:
    assert summary_of(FakeSummaries([AGENT]), Viewer(ADMIN, Role.ADMIN), uuid4(), as_of=TODAY) is None


class FakeRegistry:
    def __init__(self, taken: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.taken = taken
        self.registered: list[tuple[str, int]] = []

    def validate(self, person: NewPerson) -> None:
        if len(person.password) < 8:
            raise InvalidInput("The password is not acceptable.")

    def username_taken(self, username: str) -> bool:
        return username.lower() in self.taken

    def register(self, person: NewPerson, *, onboarded_by: int) -> ClientItem:
        self.registered.append((person.username, onboarded_by))
        return ClientItem(uuid4(), person.username, "", "", "", "", "", person.role, True, datetime.now(UTC))


def _person(role: str = "client", password: str = "long enough", username: str = "ana") -> NewPerson:  # noqa: S107
    return NewPerson(username, password, "Ana", "Ruiz", "", "", "", role)


@pytest.mark.parametrize(
    ("viewer", "role", "allowed"),
    [
        (Viewer(CLIENT, Role.CLIENT), "client", False),
        (Viewer(AGENT, Role.AGENT), "client", True),
        (Viewer(AGENT, Role.AGENT), "agent", False),
        (Viewer(ADMIN, Role.ADMIN), "agent", True),
        (Viewer(ADMIN, Role.ADMIN), "client", True),
    ],
)
def test_who_may_onboard_whom(viewer: Viewer, role: str, allowed: bool) -> None:
    registry = FakeRegistry()
    if allowed:
        onboard(registry, viewer, _person(role))
        assert registry.registered == [("ana", viewer.user_id)]
    else:
        with pytest.raises(Forbidden):
            onboard(registry, viewer, _person(role))
        assert registry.registered == []


def test_admins_are_not_onboarded_weak_passwords_fail_and_taken_names_conflict() -> None:
    admin = Viewer(ADMIN, Role.ADMIN)
    with pytest.raises(InvalidInput):
        onboard(FakeRegistry(), admin, _person("admin"))
    with pytest.raises(InvalidInput):
        onboard(FakeRegistry(), admin, _person(password="short"))
    with pytest.raises(Conflict):
        onboard(FakeRegistry({"ana"}), admin, _person(username="ANA"))
