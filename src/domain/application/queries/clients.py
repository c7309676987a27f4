"""The people of the book as staff see them: the directory, the lookup for opening a credit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.application.queries.viewer import Viewer
from domain.identity.model import Role
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class ClientItem:
    id: UUID
    username: str
    first_name: str
    last_name: str
    email: str
    phone: str
    document_id: str
    role: str
    is_active: bool
    date_joined: datetime


@dataclass(frozen=True, slots=True)
class ClientCard:
    """What an agent sees of a person outside its portfolio: enough to open a credit for them."""

    id: UUID
    first_name: str
    last_name: str
    national_id_masked: str


@dataclass(frozen=True, slots=True)
class NewPerson:
    username: str
    password: str
    first_name: str
    last_name: str
    email: str
    phone: str
    document_id: str
    role: str


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    role: str


class ClientReads(Protocol):
    def list_people(
        self, viewer: Viewer, *, role: Role | None, search: str | None, page: PageRequest
    ) -> Page[ClientItem]: ...

    def lookup(self, viewer: Viewer, *, national_id: str | None, username: str | None) -> list[ClientCard]: ...

    def user(self, public_id: UUID) -> UserRef | None: ...
