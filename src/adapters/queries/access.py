"""Who may touch what: the few columns authorization needs, one indexed lookup each."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db import connection


@dataclass(frozen=True, slots=True)
class CreditScope:
    credit_id: UUID
    user_id: int
    agent_id: int | None
    currency: str


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    role: str
    is_active: bool


class AccessQueries:
    def credit(self, credit_id: UUID) -> CreditScope | None:
        return self._scope("SELECT id, user_id, agent_id, currency FROM credits_credit WHERE id = %s", credit_id)

    def credit_of_installment(self, installment_id: UUID) -> CreditScope | None:
        return self._scope(
            "SELECT c.id, c.user_id, c.agent_id, c.currency FROM credits_installment i "
            "JOIN credits_credit c ON c.id = i.credit_id WHERE i.id = %s",
            installment_id,
        )

    def credit_of_payment(self, payment_id: UUID) -> CreditScope | None:
        return self._scope(
            "SELECT c.id, c.user_id, c.agent_id, c.currency FROM payments_payment p "
            "JOIN credits_credit c ON c.id = p.credit_id WHERE p.id = %s",
            payment_id,
        )

    def credit_of_waiver(self, waiver_id: UUID) -> CreditScope | None:
        return self._scope(
            "SELECT c.id, c.user_id, c.agent_id, c.currency FROM payments_fee_waiver w "
            "JOIN credits_credit c ON c.id = w.credit_id WHERE w.id = %s",
            waiver_id,
        )

    def user(self, public_id: UUID) -> UserRef | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, role, is_active FROM identity_user WHERE public_id = %s", [public_id])
            row = cursor.fetchone()
        return UserRef(*row) if row else None

    def public_ids(self, user_ids: set[int]) -> dict[int, UUID]:
        if not user_ids:
            return {}
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, public_id FROM identity_user WHERE id = ANY(%s)", [list(user_ids)])
            return dict(cursor.fetchall())

    def usable_payment_accounts(self, account_ids: set[int], currency: str) -> set[int]:
        """Of these ids, the active accounts in this currency."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM catalog_payment_account WHERE id = ANY(%s) AND currency_id = %s AND active",
                [list(account_ids), currency],
            )
            return {row[0] for row in cursor.fetchall()}

    def subcategory_exists(self, subcategory_id: int) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM catalog_subcategory WHERE id = %s", [subcategory_id])
            return cursor.fetchone() is not None

    @staticmethod
    def _scope(sql: str, key: UUID) -> CreditScope | None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        return CreditScope(*row) if row else None
