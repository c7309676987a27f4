"""The API's JSON bytes (api.http.json_bytes) say what Django's and Ninja's encoders said, value by value."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum

from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from api.http.json_bytes import dumps


class State(StrEnum):
    ACTIVE = "active"


class Line(Schema):
    amount: Decimal
    on: date


def test_every_value_reads_as_ninjas_encoder_wrote_it() -> None:
    document = {
        "id": uuid.UUID("0954b601-3eef-4d0d-9743-37201c156bf0"),
        "amount": Decimal("1200.50"),
        "tiny": Decimal("0.000001"),
        "on": date(2026, 12, 10),
        "at": datetime(2026, 1, 5, 10, 11, 12, 345678, tzinfo=UTC),
        "whole_second": datetime(2026, 1, 5, 10, 11, 12, tzinfo=UTC),
        "opens": time(8, 30),
        "state": State.ACTIVE,
        "name": "José Pérez",
        "lines": [Line(amount=Decimal("10.00"), on=date(2026, 1, 1))],
        "nothing": None,
        "count": 3,
        7: "an int key",
    }
    ours = json.loads(dumps(document))
    theirs = json.loads(json.dumps(document, cls=NinjaJSONEncoder))
    assert ours == theirs
    # The text of the values that a naive orjson call would write otherwise.
    assert ours["at"] == "2026-01-05T10:11:12.345Z" and ours["amount"] == "1200.50" and ours["tiny"] == "0.000001"


def test_the_bytes_are_compact_utf8() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()


def test_what_orjson_refuses_is_still_written_in_the_same_layout() -> None:
    document = {"big": 10**30, "at": datetime(2026, 1, 5, 10, 11, 12, 345678, tzinfo=UTC), "name": "é"}
    expected = '{"big":1000000000000000000000000000000,"at":"2026-01-05T10:11:12.345Z","name":"é"}'
    assert dumps(document) == expected.encode()
