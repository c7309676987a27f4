"""Pure catalog rules (no framework imports): code formats, name cleaning, account masking.

Shared by the write service, the admin forms and the API schemas so the three agree.
"""

from __future__ import annotations

import re
from typing import Final

from domain.shared.errors import InvalidInput

CURRENCY_CODE_PATTERN: Final = r"^[A-Z]{3}$"
_CURRENCY_CODE = re.compile(CURRENCY_CODE_PATTERN)
MIN_MINOR_UNITS: Final = 0
# ISO 4217 has nothing above 4 (CLF, UYW); more would only invite float-like precision.
MAX_MINOR_UNITS: Final = 4

PERIODICITY_CODES: Final = ("daily", "weekly", "biweekly", "monthly")
ACCOUNT_KINDS: Final = ("cash", "bank", "wallet")

NAME_MAX: Final = 100
BANK_NAME_MAX: Final = 100
# IBANs are at most 34 characters; local account numbers are shorter.
ACCOUNT_NUMBER_MAX: Final = 34
ACCOUNT_NUMBER_VISIBLE: Final = 4
ACCOUNT_MASK: Final = "****"

# The catalogs are small; a list endpoint never returns more than this many rows.
LIST_CAP: Final = 1000


def currency_code(value: str) -> str:
    if not isinstance(value, str) or not _CURRENCY_CODE.match(value):
        raise InvalidInput(
            "A currency code is three uppercase letters (ISO 4217).",
            details={"field": "code", "value": str(value)[:10]},
        )
    return value


def minor_units(value: int) -> int:
    # bool is an int subclass; True must not pass as 1 decimal.
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_MINOR_UNITS <= value <= MAX_MINOR_UNITS:
        raise InvalidInput(
            f"Minor units must be an integer from {MIN_MINOR_UNITS} to {MAX_MINOR_UNITS}.",
            details={"field": "minor_units"},
        )
    return value


def clean_name(value: str, *, field: str = "name", max_length: int = NAME_MAX) -> str:
    """Trim and collapse inner whitespace, so "Caja  principal " and "Caja principal" are one name."""
    cleaned = " ".join(str(value).split())
    if not cleaned or len(cleaned) > max_length:
        raise InvalidInput(
            f"{field} must have 1 to {max_length} characters.",
            details={"field": field},
        )
    return cleaned


def account_kind(value: str) -> str:
    if value not in ACCOUNT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ACCOUNT_KINDS)}.", details={"field": "kind"})
    return value


def mask_account_number(raw: str) -> str:
    """Keep only the last digits: the full number is never stored, only what a person needs to
    recognise the account. Idempotent, so an already masked value stays as it is."""
    visible = "".join(ch for ch in str(raw) if ch.isalnum())
    if not visible:
        return ""
    if len(visible) < ACCOUNT_NUMBER_VISIBLE:
        raise InvalidInput(
            f"An account number has at least {ACCOUNT_NUMBER_VISIBLE} digits or letters.",
            details={"field": "account_number"},
        )
    return ACCOUNT_MASK + visible[-ACCOUNT_NUMBER_VISIBLE:]


def bank_details(kind: str, bank_name: str, masked_number: str) -> tuple[str, str]:
    """Cash boxes have no bank details; a bank account names its bank."""
    bank_name = " ".join(str(bank_name).split())
    if len(bank_name) > BANK_NAME_MAX:
        raise InvalidInput(f"bank_name has at most {BANK_NAME_MAX} characters.", details={"field": "bank_name"})
    if kind == "cash" and (bank_name or masked_number):
        raise InvalidInput("A cash box has no bank name or account number.", details={"field": "kind"})
    if kind == "bank" and not bank_name:
        raise InvalidInput("A bank account needs its bank's name.", details={"field": "bank_name"})
    return bank_name, masked_number
