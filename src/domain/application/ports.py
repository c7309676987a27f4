"""Everything the use cases need from outside, in one bundle the composition root builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from domain.application.audit import AuditLog, Origin
from domain.application.queries.catalog import CurrencyDTO, HolidayDTO, PaymentAccountDTO
from domain.catalog.ports import CatalogLookup
from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.ports import CreditRepository
from domain.identity.model import Principal
from domain.identity.ports import PeopleDirectory
from domain.ledger.model import Source
from domain.ledger.ports import TransactionRepository
from domain.payments.late_fees import LateFeePolicy
from domain.payments.ports import FeeWaiverRepository, PaymentAccounts, PaymentRepository
from domain.shared.calendar import HolidayCalendar, NoHolidays
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.ids import IdGenerator
from domain.shared.unit_of_work import UnitOfWork


class CatalogEntries(Protocol):
    """The catalog's rows an admin may add. An `add_*` raises domain.catalog.errors.Duplicate when
    the row clashes with one already there (the database's unique constraints decide, so two
    concurrent requests cannot both win) and leaves the unit of work usable."""

    def add_currency(self, currency: CurrencyDTO) -> None: ...

    def add_category(self, name: str) -> int: ...

    def category_name(self, category_id: int) -> str | None: ...

    def add_subcategory(self, category_id: int, name: str) -> int: ...

    def currency_active(self, code: str) -> bool | None:
        """Whether the currency is active; None when the catalog has no such currency."""

    def add_payment_account(self, account: PaymentAccountDTO) -> int:
        """The new account's id (the given one is ignored)."""

    def add_holiday(self, holiday: HolidayDTO) -> None: ...


@dataclass(frozen=True, slots=True)
class Policies:
    late_fees: LateFeePolicy = field(default_factory=LateFeePolicy)
    delinquency: DelinquencyPolicy = field(default_factory=DelinquencyPolicy)
    # Credits per unit of work in the book-wide jobs (late fees, delinquency).
    job_chunk: int = 500

    def __post_init__(self) -> None:
        if self.job_chunk < 1:
            raise InvalidInput("job_chunk must be positive.")


@dataclass(frozen=True, slots=True)
class Ports:
    uow: UnitOfWork
    credits: CreditRepository
    payments: PaymentRepository
    waivers: FeeWaiverRepository
    transactions: TransactionRepository
    clock: Clock
    ids: IdGenerator
    # Required, so no composition can forget it: a money event without its record is lost for good.
    audit: AuditLog
    # Required too: a payment must name accounts that exist, are active and take the credit's currency.
    accounts: PaymentAccounts
    # Who a credit is opened for and by, and what the catalog says of its terms.
    people: PeopleDirectory
    catalog: CatalogLookup
    catalog_entries: CatalogEntries
    holidays: HolidayCalendar = field(default_factory=NoHolidays)
    policies: Policies = field(default_factory=Policies)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a use case and through what channel; `user_id` None for the system itself.

    `role` and `origin` (address, user agent, request id) are for the audit trail; entry points
    that know them set them. `principal` is the caller the use case authorizes (see
    `use_cases.common.authorize`); None for trusted entry points (jobs, the admin site, commands).
    """

    user_id: int | None
    source: Source
    origin: Origin | None = None
    role: str = ""
    principal: Principal | None = None

    @classmethod
    def of(cls, principal: Principal, source: Source, origin: Origin | None = None) -> Actor:
        return cls(
            user_id=principal.user_id, source=source, origin=origin, role=principal.role.value, principal=principal
        )


SYSTEM = Actor(user_id=None, source=Source.SYSTEM)


@dataclass(frozen=True, slots=True)
class CreditChanged:
    """A post-commit effect: the credit's figures (and so its owner's) changed; cached reads go stale."""

    credit_id: UUID
    user_id: int
