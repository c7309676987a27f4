"""The people directory on PostgreSQL: who a public id is, one indexed look-up."""

from __future__ import annotations

from uuid import UUID

from django.db import connection

from domain.identity.model import Role
from domain.identity.ports import Person


class SqlPeopleDirectory:
    def person(self, public_id: UUID) -> Person | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, role, is_active FROM identity_user WHERE public_id = %s", [public_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user_id, role, is_active = row
        return Person(user_id, Role(role), is_active)
