"""People: the keyset list of clients (with a prefix search) and onboarding a new client or agent.

The list is one statement ordered by the unique username. Onboarding is the one write here: it
checks the password with Django's validators (settings.AUTH_PASSWORD_VALIDATORS), refuses a
username already taken regardless of case (409), and hashes the password with the configured
hasher (argon2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from adapters.db.routing import read_cursor
from adapters.orm.identity.models import User
from adapters.orm.queries.common import like_prefix
from domain.shared.errors import Conflict, InvalidInput
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


_COLUMNS = "public_id, username, first_name, last_name, email, phone, document_id, role, is_active, date_joined"


def people_page_sql(columns: str, *, roles: tuple[str, ...], search: str | None, page: PageRequest) -> tuple[str, list]:
    """A keyset page of users with one of `roles`, by username (its unique index), one row more
    than the page; `search` is a case-insensitive prefix of the username, first or last name, or
    document id (each has a prefix index, migration identity 0002)."""
    where = ["role = ANY(%s)"]
    params: list[object] = [list(roles)]
    if search:
        pattern = like_prefix(search.lower())
        where.append(
            "(lower(username) LIKE %s OR lower(first_name) LIKE %s OR lower(last_name) LIKE %s "
            "OR lower(document_id) LIKE %s)"
        )
        params.extend([pattern] * 4)
    if page.after is not None:
        where.append("username > %s")
        params.append(page.after[0])
    sql = f"SELECT {columns} FROM identity_user WHERE {' AND '.join(where)} ORDER BY username LIMIT %s"
    return sql, [*params, page.limit + 1]


class ClientDirectory:
    def list_people(self, *, roles: tuple[str, ...], search: str | None, page: PageRequest) -> Page[ClientItem]:
        """Users with one of `roles`, by username; `search` as in `people_page_sql`."""
        with read_cursor() as cursor:
            cursor.execute(*people_page_sql(_COLUMNS, roles=roles, search=search, page=page))
            items = [ClientItem(*row) for row in cursor.fetchall()]
        return Page.from_rows(items, page, lambda c: (c.username,))

    def user(self, public_id: UUID) -> UserRef | None:
        with read_cursor() as cursor:
            cursor.execute("SELECT id, role FROM identity_user WHERE public_id = %s", [public_id])
            row = cursor.fetchone()
        return UserRef(*row) if row else None

    def onboard(self, person: NewPerson) -> ClientItem:
        if person.email:
            try:
                validate_email(person.email)
            except ValidationError as exc:
                raise InvalidInput("The email address is not valid.", details={"field": "email"}) from exc
        candidate = User(
            username=person.username,
            email=person.email,
            first_name=person.first_name,
            last_name=person.last_name,
        )
        try:
            validate_password(person.password, user=candidate)
        except ValidationError as exc:
            raise InvalidInput(
                "The password is not acceptable.", details={"field": "password", "problems": list(exc.messages)}
            ) from exc
        if User.objects.filter(username__iexact=person.username).exists():
            raise Conflict("That username is taken.", details={"field": "username"})
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    username=person.username,
                    password=person.password,
                    email=person.email,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    phone=person.phone,
                    document_id=person.document_id,
                    role=person.role,
                )
        except IntegrityError as exc:  # a concurrent onboarding of the same username
            raise Conflict("That username is taken.", details={"field": "username"}) from exc
        return ClientItem(
            id=user.public_id,
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            phone=user.phone,
            document_id=user.document_id,
            role=user.role,
            is_active=user.is_active,
            date_joined=user.date_joined,
        )
