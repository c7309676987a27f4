"""Helpers for tests of the Django admin as an admin meets it: signed in through the admin's own
login form (a real password check and session), pages read as rendered HTML."""

from __future__ import annotations

import re
from html import unescape

from django.test import Client

from adapters.orm.identity.models import User
from tests.factories import PASSWORD, UserFactory


def signed_in_admin(client: Client | None = None, *, username: str = "ada") -> Client:
    """A client signed in through /admin/login/ as an admin (the demo's admin is a superuser)."""
    UserFactory(username=username, role=User.Role.ADMIN, is_superuser=True)
    client = client or Client()
    response = client.post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content[:500]
    return client


def page_text(response: object) -> str:
    """The rendered page as text: tags dropped, entities decoded, runs of white space made one."""
    assert response.status_code == 200, response.status_code  # type: ignore[attr-defined]
    html = response.content.decode()  # type: ignore[attr-defined]
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S))
    return re.sub(r"\s+", " ", unescape(text))


# A stored amount shown raw: digits, a point and the column's four decimals (2400000.0000).
RAW_AMOUNT = re.compile(r"\b\d+\.\d{4}\b")
