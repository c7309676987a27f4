"""Onboarding a person: who may onboard whom is the book's rule; what makes a password or an email
acceptable, and the account itself, belong to the identity store behind the port."""

from __future__ import annotations

from typing import Protocol

from domain.application.queries.clients import ClientItem, NewPerson
from domain.application.queries.viewer import Viewer
from domain.identity.model import Role
from domain.shared.errors import Conflict, Forbidden, InvalidInput


class PeopleRegistry(Protocol):
    def validate(self, person: NewPerson) -> None:
        """InvalidInput when the email or the password is not acceptable."""

    def username_taken(self, username: str) -> bool: ...

    def register(self, person: NewPerson, *, onboarded_by: int) -> ClientItem:
        """Conflict when a concurrent onboarding took the username first."""


def onboard(registry: PeopleRegistry, viewer: Viewer, person: NewPerson) -> ClientItem:
    """`viewer` onboards `person`: agents clients (who join their portfolio), admins clients or
    agents. Nobody creates admins here."""
    if not viewer.is_staff_side:
        raise Forbidden("Your role does not allow this operation.")
    if person.role not in (Role.CLIENT.value, Role.AGENT.value):
        raise InvalidInput("Only clients and agents are onboarded here.", details={"field": "role"})
    if person.role == Role.AGENT.value and not viewer.is_admin:
        raise Forbidden("Only admins create agents.")
    registry.validate(person)
    if registry.username_taken(person.username):
        raise Conflict("That username is taken.", details={"field": "username"})
    return registry.register(person, onboarded_by=viewer.user_id)
