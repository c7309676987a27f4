"""Hot reads render through plain-pydantic twins of their Ninja schemas (api.http.cached.encode): the
same validation and the very same bytes as Ninja's own response path."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from ninja import Schema
from pydantic import ValidationError

from api.clients import router as clients
from api.collections import router as collections
from api.credits import router as credits_read
from api.http.cached import encode, plain_twin
from api.transactions import router as transactions


def _ninja_bytes(schema: type[Schema], body: dict) -> bytes:
    """What Ninja's response path renders: the schema's validation, then the served API's renderer."""
    from config.urls import api

    rendered = api.renderer.render(None, schema.model_validate(body).model_dump(), response_status=200)
    return rendered if isinstance(rendered, bytes) else rendered.encode()


def _money(amount: str = "125.50") -> dict:
    return {"amount": amount, "currency": "COP"}


def _credit_item() -> dict:
    return {
        "id": uuid4(),
        "client_id": uuid4(),
        "agent_id": None,
        "state": "active",
        "currency": "COP",
        "price": _money(),
        "pending": _money("10.00"),
        "installments_count": 3,
        "periodicity": "monthly",
        "interest_method": "french",
        "opened_on": date(2026, 1, 2),
        "is_in_default": False,
        "days_past_due": 0,
        "next_due_date": None,
    }


def _transaction() -> dict:
    return {
        "id": uuid4(),
        "occurred_on": date(2026, 1, 2),
        "type": "repayment",
        "status": "confirmed",
        "source": "web",
        "user_id": uuid4(),
        "agent_id": None,
        "credit_id": uuid4(),
        "reference_id": None,
        "reverses_id": None,
        "reversed_by_id": None,
        "memo": 'ñandú "quoted"',
        "recorded_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "amount": _money(),
    }


def _due() -> dict:
    return {
        "installment_id": uuid4(),
        "credit_id": uuid4(),
        "number": 2,
        "due_date": date(2026, 1, 2),
        "outstanding": _money(),
        "days_past_due": 0,
        "client_id": uuid4(),
        "client_username": "ana",
        "client_name": "Ana",
        "client_phone": "+57 300 0000000",
    }


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (credits_read.CreditPage, {"data": [_credit_item(), _credit_item()], "next_cursor": "abc", "has_more": True}),
        (transactions.TransactionPage, {"data": [_transaction()], "next_cursor": None, "has_more": False}),
        (collections.DueItemPage, {"data": [_due()], "next_cursor": None, "has_more": False}),
    ],
)
def test_twins_render_the_same_bytes_as_ninja(schema: type[Schema], body: dict) -> None:
    assert plain_twin(schema) is not schema
    assert encode(schema, body) == _ninja_bytes(schema, body)


def test_every_cached_or_listed_schema_has_a_twin() -> None:
    for schema in (
        credits_read.CreditPage,
        credits_read.CreditDetailOut,
        transactions.TransactionPage,
        collections.DueItemPage,
        clients.CreditSummaryOut,
    ):
        assert plain_twin(schema) is not schema, schema


def test_twins_validate_like_the_schema() -> None:
    bad = {"data": [{**_credit_item(), "price": {"amount": 12, "currency": "COP"}}], "next_cursor": None}
    with pytest.raises(ValidationError):
        encode(credits_read.CreditPage, bad)


def test_a_schema_with_a_validator_keeps_its_own_validation() -> None:
    from pydantic import field_validator

    class Checked(Schema):
        amount: Decimal

        @field_validator("amount")
        @classmethod
        def positive(cls, value: Decimal) -> Decimal:
            if value <= 0:
                raise ValueError("must be positive")
            return value

    assert plain_twin(Checked) is Checked
    with pytest.raises(ValidationError):
        encode(Checked, {"amount": "-1"})
