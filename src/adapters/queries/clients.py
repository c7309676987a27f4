"""People: the keyset list of clients (with a prefix search), the exact lookup an agent needs before
opening a credit, and onboarding a new client or agent.

Who sees whom is decided here, in each statement's WHERE clause (adapters/queries/common.py):
- an admin lists everyone (or one role);
- an agent lists the clients of its portfolio only: those with a credit it collects
  (credits_credit.agent_id) and those it onboarded (identity_user.onboarded_by_id), with their
  contact data, which collecting needs;
- anyone else it finds by an exact national id or username (`lookup`), and sees only the name, a
  masked national id and the public id that opening a credit takes;
- a client neither lists nor looks up (403).

The list is one statement ordered by the unique username. Onboarding is the one write here: it
checks the password with Django's validators (settings.AUTH_PASSWORD_VALIDATORS), refuses a
username already taken regardless of case (409), hashes the password with the configured hasher
(argon2), and records who onboarded the client.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from adapters.db.routing import read_cursor
from adapters.orm.identity.models import User
from adapters.queries.common import Viewer, page_limit
from domain.application.queries.clients import ClientCard, ClientItem, NewPerson, UserRef
from domain.identity.model import Role
from domain.shared.errors import Conflict, Forbidden, InvalidInput
from domain.shared.pagination import Page, PageRequest

_COLUMNS = "public_id, username, first_name, last_name, email, phone, document_id, role, is_active, date_joined"
# The users in an agent's portfolio: clients with a credit it collects (credit_agent_keyset_idx) or
# that it onboarded (user_onboarded_by_idx). Its cost follows the portfolio, not the user table.
_PORTFOLIO = (
    "id IN (SELECT c.user_id FROM credits_credit c WHERE c.agent_id = %s"
    " UNION ALL SELECT o.id FROM identity_user o WHERE o.onboarded_by_id = %s)"
)
# The search reads the trigram index on this expression (identity migration 0004): the username,
# names and national id, lower-cased and without accents, after a leading space.
_SEARCH = (
    "identity_people_search_text(username, first_name, last_name, document_id) LIKE %s || identity_fold(%s) || '%%'"
)
INFIX_MIN = 3  # trigrams: shorter terms would match through the whole index


def search_pattern(search: str) -> list[str]:
    """The parameters of `_SEARCH`: a term of three characters or more matches anywhere in the
    username, names and national id ("omez" finds Gómez, "maria gomez" a full name); a shorter one
    matches the start of a word ("gó" finds Gómez, not Lagos). Case and accents never count; the
    term's own % and _ are literal. The term is folded by the same SQL function as the index."""
    term = " ".join(search.split())
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return ["%" if len(term) >= INFIX_MIN else "% ", escaped]


LOOKUP_LIMIT = 10  # national ids are not unique (typing errors, shared documents): a few at most


def mask_national_id(national_id: str) -> str:
    """All but the last three characters hidden, and all of an id too short to hide anything."""
    visible = 3 if len(national_id) >= 6 else 0
    return "*" * (len(national_id) - visible) + national_id[len(national_id) - visible :]


def _staff_only(viewer: Viewer) -> None:
    if not (viewer.is_admin or viewer.is_agent):
        raise Forbidden("Your role does not allow this operation.")


def people_page_sql(
    columns: str,
    *,
    roles: tuple[str, ...] | list[str],
    search: str | None,
    page: PageRequest,
    where: tuple[str, ...] = (),
    params: tuple[object, ...] = (),
) -> tuple[str, list]:
    """A keyset page of users with one of `roles` (and `where`), by username (its unique index), one
    row more than the page; `search`: see `search_pattern` (the trigram index)."""
    conditions = ["role = ANY(%s)", *where]
    values: list[object] = [list(roles), *params]
    if search and not search.isspace():
        conditions.append(_SEARCH)
        values.extend(search_pattern(search))
    if page.after is not None:
        conditions.append("username > %s")
        values.append(page.after[0])
    sql = f"SELECT {columns} FROM identity_user WHERE {' AND '.join(conditions)} ORDER BY username {page_limit(page)}"
    return sql, values


class ClientDirectory:
    def list_people(
        self, viewer: Viewer, *, role: Role | None, search: str | None, page: PageRequest
    ) -> Page[ClientItem]:
        """By username. Admins: everyone, or the users of `role`. Agents: the clients of their
        portfolio (`role` is ignored). `search`: see `search_pattern`."""
        _staff_only(viewer)
        if viewer.is_admin:
            roles = [role.value] if role is not None else [r.value for r in Role]
            sql, params = people_page_sql(_COLUMNS, roles=roles, search=search, page=page)
        else:
            sql, params = people_page_sql(
                _COLUMNS,
                roles=[Role.CLIENT.value],
                search=search,
                page=page,
                where=(_PORTFOLIO,),
                params=(viewer.user_id, viewer.user_id),
            )
        with read_cursor() as cursor:
            cursor.execute(sql, params)
            items = [ClientItem(*row) for row in cursor.fetchall()]
        return Page.from_rows(items, page, lambda c: (c.username,))

    def lookup(self, viewer: Viewer, *, national_id: str | None, username: str | None) -> list[ClientCard]:
        """Active clients whose national id or username (one of the two, either case) is exactly
        the one given: for staff opening a credit for someone outside their portfolio."""
        _staff_only(viewer)
        if (national_id is None) == (username is None):
            raise InvalidInput("Look up by exactly one of national_id or username.")
        column, value = ("document_id", national_id) if national_id is not None else ("username", username)
        # lower(...) = lower(...) is served by migration 0002's lower(column) indexes.
        sql = (
            "SELECT public_id, first_name, last_name, document_id FROM identity_user"
            f" WHERE lower({column}) = lower(%s) AND role = %s AND is_active ORDER BY username LIMIT %s"
        )
        with read_cursor() as cursor:
            cursor.execute(sql, [value, Role.CLIENT.value, LOOKUP_LIMIT])
            rows = cursor.fetchall()
        return [ClientCard(pid, first, last, mask_national_id(doc)) for pid, first, last, doc in rows]

    def user(self, public_id: UUID) -> UserRef | None:
        with read_cursor() as cursor:
            cursor.execute("SELECT id, role FROM identity_user WHERE public_id = %s", [public_id])
            row = cursor.fetchone()
        return UserRef(*row) if row else None


class DjangoPeopleRegistry:
    """domain.application.onboarding.PeopleRegistry on Django's user model and its validators."""

    def validate(self, person: NewPerson) -> None:
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

    def username_taken(self, username: str) -> bool:
        return User.objects.filter(username__iexact=username).exists()

    def register(self, person: NewPerson, *, onboarded_by: int) -> ClientItem:
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
                    onboarded_by_id=onboarded_by,
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
