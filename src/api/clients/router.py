"""Clients: onboarding, the keyset list and the exact lookup for staff, and credit summaries.

- `GET /clients`: an agent lists the clients of its portfolio (a credit it collects, or onboarded
  by it); an admin anyone, optionally by role. `?search=` ignores case and accents ("maria" finds
  María): three characters or more match anywhere in the username, names and national id, fewer
  the start of a word.
- `GET /clients/lookup?national_id=` or `?username=`: staff find anyone by an exact value before
  opening a credit for them, and see only the name, a masked national id and the public id.
- `POST /clients`: an agent onboards a client (into its portfolio); an admin a client or an agent.
- `GET /me/credit-summary`: the caller's own summary. `GET /users/{id}/credit-summary`: an admin
  any user's; an agent a client with at least one credit in its portfolio (else 404).
Who may see whom is decided by the read queries (adapters/queries/clients.py), not here.
Summaries show money per currency, never summed across currencies.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field, StringConstraints

from api.credits.router import business_today, page_body, viewer_of
from api.deps import services
from api.http.cached import CachedRead, HotRead, cached_response, encode
from api.http.errors import ErrorOut
from api.http.money import MoneyOut, money_dict
from api.http.pagination import PageOut, PageQuery, page_request
from api.http.read_models import schema_of
from api.http.request_model import RequestModel
from api.http.security import bearer, principal_of, require_role
from domain.analytics.model import CreditSummary
from domain.application.onboarding import onboard
from domain.application.queries import cache as cache_keys
from domain.application.queries.clients import ClientCard, ClientItem, NewPerson
from domain.application.queries.summaries import summary_of
from domain.identity.model import Principal, Role
from domain.shared.errors import NotFound

router = Router(tags=["clients"], auth=bearer)  # /clients
# The credit summaries sit under the people they sum up: /me/... and /users/{id}/...
my_router = Router(tags=["clients"], auth=bearer)  # /me
users_router = Router(tags=["clients"], auth=bearer)  # /users

Text150 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)]


class ClientIn(RequestModel):
    username: str = Field(min_length=3, max_length=150, pattern=r"^[\w.@+-]+$")
    password: str = Field(min_length=1, max_length=128, description="Checked by the password validators.")
    first_name: Text150 = ""
    last_name: Text150 = ""
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=32, pattern=r"^(\+?[0-9][0-9 ()-]{3,31})?$")
    document_id: str = Field("", max_length=32, pattern=r"^[A-Za-z0-9.-]*$", description="National id.")
    role: Literal["client", "agent"] = Field("client", description="Only admins may create agents.")


ClientOut = schema_of(ClientItem, "ClientOut")


class ClientPage(PageOut[ClientOut]):  # type: ignore[valid-type]  # a schema built from its read model
    pass


class ClientFilterIn(RequestModel):
    search: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Case and accents ignored. 3+ characters: anywhere in the username, names and national id "
        "(a full name too); fewer: the start of a word.",
    )
    role: Role | None = Field(None, description="Admins only; agents always list clients.")


class ClientLookupIn(RequestModel):
    national_id: str | None = Field(None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9.-]+$")
    username: str | None = Field(None, min_length=1, max_length=150)


ClientCardOut = schema_of(
    ClientCard,
    "ClientCardOut",
    described={
        "id": "The public id: the `client_id` that opens a credit.",
        "national_id_masked": "All but the last three characters hidden.",
    },
)


class ClientCardList(Schema):
    data: list[ClientCardOut]  # type: ignore[valid-type]  # a schema built from its read model


class CurrencySummaryOut(Schema):
    currency: str
    credits: int
    total: MoneyOut
    pending: MoneyOut
    overdue: MoneyOut
    next_due_date: date | None
    next_due_amount: MoneyOut | None


class CreditSummaryOut(Schema):
    user_id: UUID = Field(description="The user's public id.")
    as_of: date
    credits: int
    open_credits: int
    in_default: int
    by_currency: list[CurrencySummaryOut]


def _summary(public_id: UUID, as_of: date, s: CreditSummary) -> dict[str, Any]:
    return {
        "user_id": public_id,
        "as_of": as_of,
        "credits": s.credits,
        "open_credits": s.open_credits,
        "in_default": s.in_default,
        "by_currency": [
            {
                "currency": c.currency.code,
                "credits": c.credits,
                "total": money_dict(c.total),
                "pending": money_dict(c.pending),
                "overdue": money_dict(c.overdue),
                "next_due_date": c.next_due_date,
                "next_due_amount": money_dict(c.next_due_amount) if c.next_due_amount else None,
            }
            for c in s.by_currency
        ],
    }


@router.get("", response={200: ClientPage, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut})
def list_clients(request: HttpRequest, page: Query[PageQuery], filters: Query[ClientFilterIn]) -> dict[str, Any]:
    """By username (keyset). Agents see the clients of their portfolio; admins everyone, or one role."""
    result = services().reads.clients.list_people(
        viewer_of(request), role=filters.role, search=filters.search, page=page_request(page, 1, "s")
    )
    return page_body(result)


@router.get("/lookup", response={200: ClientCardList, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut})
def lookup_client(request: HttpRequest, query: Query[ClientLookupIn]) -> dict[str, Any]:
    """Staff: the active clients with exactly this national id or this username (give one), to open
    a credit for someone outside the portfolio. Name, masked national id and id only."""
    cards = services().reads.clients.lookup(viewer_of(request), national_id=query.national_id, username=query.username)
    return {"data": cards}


@router.post("", response={201: ClientOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
def onboard_client(request: HttpRequest, body: ClientIn) -> Status:
    """Onboard a client (agents, admins) or an agent (admins). A taken username is 409; a weak
    password 422 with the validators' messages."""
    created = onboard(
        services().people,
        viewer_of(request),
        NewPerson(**body.model_dump()),  # the same fields: the schema adds only their validation
    )
    return Status(201, created)


@my_router.get("/credit-summary", response={200: CreditSummaryOut, 401: ErrorOut})
def my_credit_summary(request: HttpRequest) -> HttpResponse:
    """Count, total, pending, overdue and next due of the caller's own credits, per currency.

    Cached per user and business day; any write to the user's credits invalidates it on commit."""
    principal = principal_of(request)
    today = business_today()

    def build() -> bytes:
        summary = services().reads.summaries.of_user(principal.user_id, as_of=today)
        return encode(CreditSummaryOut, _summary(principal.public_id, today, summary))

    return cached_response(_my_summary_entry(principal, today), build)


def _my_summary_entry(principal: Principal, today: date) -> CachedRead:
    """Per user and business day: any write to the user's credits moves the user's version on."""
    return CachedRead("summary", (cache_keys.user(principal.user_id),), f"{principal.user_id}:{today}")


# The same entry for the early path (api.hot_reads): a hit is the caller's own summary as stored.
MY_SUMMARY = HotRead(
    re.compile(r"/me/credit-summary"), lambda principal, _: _my_summary_entry(principal, business_today())
)


@users_router.get(
    "/{user_id}/credit-summary",
    response={200: CreditSummaryOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def user_credit_summary(request: HttpRequest, user_id: UUID) -> dict[str, Any]:
    """A user's summary (by public id): admins any; agents a client of their portfolio."""
    require_role(request, Role.AGENT, Role.ADMIN)
    today = business_today()
    summary = summary_of(services().reads.summaries, viewer_of(request), user_id, as_of=today)
    if summary is None:
        raise NotFound("No such user.")
    return _summary(user_id, today, summary)
