"""Reading credits: the keyset list, a credit's detail, its schedule and its payments.

Every query applies the viewer's scope (domain.application.access.may_see) in its own WHERE
clause: a credit the viewer may not see is None, exactly like an unknown id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple, Protocol
from uuid import UUID

from domain.application.queries.viewer import Viewer
from domain.shared.money import Money
from domain.shared.pagination import Page, PageRequest


@dataclass(frozen=True, slots=True)
class CreditFilter:
    state: str | None = None
    in_default: bool | None = None
    user_public_id: UUID | None = None
    opened_from: date | None = None
    opened_to: date | None = None


class CreditListItem(NamedTuple):
    """A row of a page of credits (a named tuple: see the package's note)."""

    id: UUID
    client_id: UUID
    agent_id: UUID | None
    state: str
    price: Money
    pending: Money
    installments_count: int
    periodicity: str
    interest_method: str
    opened_on: date
    is_in_default: bool
    days_past_due: int
    next_due_date: date | None
    created_at: datetime


class InstallmentRow(NamedTuple):
    """A row of a credit's schedule (a named tuple: see the package's note)."""

    id: UUID
    number: int
    due_date: date
    principal: Money
    interest: Money
    adjustment: Money
    late_fee: Money
    late_fee_waived: Money
    amount: Money
    paid_principal: Money
    paid_interest: Money
    paid_late_fee: Money
    paid: Money
    outstanding: Money
    status: str
    days_past_due: int


@dataclass(frozen=True, slots=True)
class DelinquencySnapshot:
    """What the nightly job stored (indexed for lists); `as_of` None until it first ran."""

    as_of: date | None
    days_past_due: int
    aging_bucket: str
    missed_installments: int
    morosidad_level: int
    is_in_default: bool


@dataclass(frozen=True, slots=True)
class CreditDetail:
    id: UUID
    client_id: UUID
    agent_id: UUID | None
    state: str
    currency: str
    price: Money
    cost: Money
    earnings: Money
    allow_loss: bool
    total_due: Money
    paid: Money
    pending: Money
    overdue: Money
    next_due_date: date | None
    next_due_amount: Money | None
    subcategory_id: int | None
    periodicity: str
    interest_method: str
    annual_rate: Decimal
    installments_count: int
    opened_on: date
    refinanced_from_id: UUID | None
    created_at: datetime
    delinquency: DelinquencySnapshot
    installments: tuple[InstallmentRow, ...]


@dataclass(frozen=True, slots=True)
class PaymentLineRow:
    payment_account_id: int
    account_name: str
    account_kind: str
    amount: Money


@dataclass(frozen=True, slots=True)
class PaymentAllocationRow:
    """What a payment pays of one installment now (a reprocessing may have moved it)."""

    installment_id: UUID
    installment_number: int
    late_fee: Money
    interest: Money
    principal: Money


@dataclass(frozen=True, slots=True)
class CreditPayment:
    id: UUID
    amount: Money
    paid_on: date
    received_at: datetime
    status: str
    prepay: bool
    agent_id: UUID | None
    transaction_id: UUID
    reversed_at: datetime | None
    reversal_reason: str
    lines: tuple[PaymentLineRow, ...]
    allocations: tuple[PaymentAllocationRow, ...] = ()


class CreditReads(Protocol):
    def list_credits(self, viewer: Viewer, filters: CreditFilter, page: PageRequest) -> Page[CreditListItem]: ...

    def detail(self, viewer: Viewer, credit_id: UUID, *, today: date) -> CreditDetail | None: ...

    def schedule(self, viewer: Viewer, credit_id: UUID, *, today: date) -> list[InstallmentRow] | None: ...

    def payments(self, viewer: Viewer, credit_id: UUID, page: PageRequest) -> Page[CreditPayment] | None: ...
