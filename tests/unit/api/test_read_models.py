"""Response schemas read from the read models: the DTO's fields, answered as they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from api.http.read_models import schema_of
from domain.shared.money import Currency, Money


@dataclass(frozen=True, slots=True)
class Card:
    """A read model's docstring stays out of the API's documentation."""

    id: UUID
    name: str
    born: date | None


def test_the_schema_has_the_read_models_fields_in_order_and_reads_an_instance_by_attributes() -> None:
    CardOut = schema_of(Card, "CardOut", described={"id": "The public id."})
    card = Card(id=uuid4(), name="Ana", born=None)

    assert CardOut.__name__ == "CardOut"
    assert list(CardOut.model_fields) == ["id", "name", "born"]
    assert CardOut.model_validate(card).model_dump() == {"id": card.id, "name": "Ana", "born": None}
    schema = CardOut.model_json_schema()
    assert schema["required"] == ["id", "name", "born"]
    assert schema["properties"]["id"]["description"] == "The public id."
    assert "description" not in schema


def test_a_description_of_a_field_the_read_model_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="nickname"):
        schema_of(Card, "CardOut", described={"nickname": "?"})


@dataclass(frozen=True, slots=True)
class Line:
    account: str
    amount: Money


@dataclass(frozen=True, slots=True)
class Receipt:
    total: Money
    fee: Money | None
    lines: tuple[Line, ...]


def test_money_answers_as_money_out_and_a_tuple_of_read_models_as_a_list_of_their_schema() -> None:
    LineOut = schema_of(Line, "LineOut")
    ReceiptOut = schema_of(Receipt, "ReceiptOut", nested={Line: LineOut})
    cop = Currency("COP", 2)
    receipt = Receipt(
        total=Money(Decimal("1500.50"), cop), fee=None, lines=(Line("cash", Money(Decimal("1500.50"), cop)),)
    )

    assert ReceiptOut.model_validate(receipt).model_dump() == {
        "total": {"amount": "1500.50", "currency": "COP"},
        "fee": None,
        "lines": [{"account": "cash", "amount": {"amount": "1500.50", "currency": "COP"}}],
    }
    schema = ReceiptOut.model_json_schema()
    assert schema["properties"]["total"] == {"$ref": "#/$defs/MoneyOut"}
    assert schema["properties"]["lines"]["items"] == {"$ref": "#/$defs/LineOut"}
