"""In-memory fakes of every domain port, for unit tests with no database.

Repositories keep deep copies, so an aggregate changed by a use case is only "stored" when saved,
and the fake unit of work can roll back by restoring a snapshot of every repository taken when
the block was entered. The fake credit repository checks `version` like the real one would.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Self
from uuid import UUID

from domain.analytics.model import CreditFigures, DueInstallment
from domain.application.audit import AuditRecord
from domain.application.figures import credit_figures, due_installments
from domain.application.idempotency import Answer, KeyTaken, Stored
from domain.application.ports import Policies, Ports
from domain.application.queries.catalog import CurrencyDTO, HolidayDTO, PaymentAccountDTO
from domain.catalog.errors import Duplicate
from domain.catalog.ports import SkipDays
from domain.credits.delinquency import DelinquencyPolicy
from domain.credits.model import Credit, CreditEvent
from domain.identity.ports import Person
from domain.ledger.model import Transaction, TransactionType
from domain.payments.model import FeeWaiver, Payment
from domain.shared.calendar import FixedHolidays
from domain.shared.errors import Conflict
from domain.shared.later import Ready
from domain.shared.money import Currency, Money


def clone(obj: Any) -> Any:
    """A private copy of an aggregate, cheaper than deepcopy.

    Every field of these dataclasses is immutable (UUID, date, Money, frozen records, tuples)
    except a Credit's installment and event lists, so a shallow copy of each level suffices.
    """
    if isinstance(obj, Credit):
        twin = copy.copy(obj)
        twin.installments = [copy.copy(i) for i in obj.installments]
        twin.events = list(obj.events)
        return twin
    return copy.copy(obj)


def _loaded(stored: Credit) -> Credit:
    twin = clone(stored)
    twin.events = []
    return twin


class _Store:
    """Private copies of the saved aggregates, which the unit of work can snapshot and restore.

    A stored object is never mutated (reads hand out clones, saves store clones), so a snapshot
    is a shallow copy of the dict.
    """

    def __init__(self) -> None:
        self.rows: dict[UUID, Any] = {}

    def snapshot(self) -> dict[UUID, Any]:
        return dict(self.rows)

    def restore(self, rows: dict[UUID, Any]) -> None:
        self.rows = dict(rows)


class FakeUnitOfWork:
    """Reentrant like the real one: a block entered inside another joins it (its commit leaves the
    decision to the outer block; an exception leaving it rolls the whole back when it reaches the
    outer). Effects are published once the outermost block commits."""

    def __init__(self, *stores: _Store) -> None:
        self.stores = list(stores)
        self.commits = 0
        self.rollbacks = 0
        self.published: list[object] = []
        self._snapshots: list[dict[UUID, Any]] | None = None
        self._committed = False
        self._depth = 0
        self._doomed = False
        self._pending: list[object] = []

    def __enter__(self) -> Self:
        self._depth += 1
        if self._depth == 1:
            self._snapshots = [s.snapshot() for s in self.stores]
            self._committed = False
            self._doomed = False
            self._pending = []
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._depth -= 1
        if self._depth:
            # An exception leaving a joined block dooms the whole, as Django's atomic(savepoint=False).
            self._doomed = self._doomed or exc_type is not None
            return
        if not self._committed:
            self.rollback()
        self._snapshots = None
        self._pending = []

    def commit(self) -> None:
        if self._depth > 1 or self._doomed:
            return
        self._committed = True
        self.commits += 1
        # What was committed is the new baseline (a later rollback in the same block keeps it).
        self._snapshots = [s.snapshot() for s in self.stores]
        self.published.extend(self._pending)
        self._pending = []

    def rollback(self) -> None:
        self.rollbacks += 1
        self._pending = []
        if self._snapshots is not None:
            for store, rows in zip(self.stores, self._snapshots, strict=True):
                store.restore(rows)

    def on_commit(self, effect: object) -> None:
        self._pending.append(effect)


class InMemoryCredits(_Store):
    """As the real repository: a credit loads without its history of events (`Credit.events` holds
    what is recorded after the load); saving appends the new ones to the history (`history`)."""

    def get(self, credit_id: UUID, *, for_update: bool = False) -> Credit | None:
        credit = self.rows.get(credit_id)
        return _loaded(credit) if credit is not None else None

    def get_by_installment(self, installment_id: UUID, *, for_update: bool = False) -> Credit | None:
        for credit in self.rows.values():
            if any(i.id == installment_id for i in credit.installments):
                return _loaded(credit)
        return None

    def save(self, credit: Credit) -> None:
        stored = self.rows.get(credit.id)
        if stored is not None and stored.version != credit.version:
            raise Conflict("The credit changed since it was read.", details={"credit_id": str(credit.id)})
        credit.version += 1
        history = list(stored.events) if stored is not None else []
        saved = {e.id for e in history}
        twin = clone(credit)
        twin.events = history + [e for e in credit.events if e.id not in saved]  # the stored row keeps the history
        self.rows[credit.id] = twin

    def history(self, credit_id: UUID) -> list[CreditEvent]:
        """Every event saved for the credit, in order (the real one: the credits_event rows)."""
        return list(self.rows[credit_id].events)

    def open_credit_ids(self, *, after: UUID | None, limit: int) -> list[UUID]:
        ids = sorted(i for i, c in self.rows.items() if c.state.is_open and (after is None or i > after))
        return ids[:limit]

    def all(self) -> list[Credit]:
        return [clone(c) for c in self.rows.values()]


class InMemoryPayments(_Store):
    def get(self, payment_id: UUID, *, for_update: bool = False) -> Payment | None:
        payment = self.rows.get(payment_id)
        return clone(payment) if payment is not None else None

    def get_by_idempotency_key(self, key: str) -> Payment | None:
        for payment in self.rows.values():
            if payment.idempotency_key == key:
                return clone(payment)
        return None

    def posted_for_credit(self, credit_id: UUID) -> list[Payment]:
        return [clone(p) for p in self.rows.values() if p.credit_id == credit_id and not p.is_reversed]

    def save(self, payment: Payment) -> None:
        self.rows[payment.id] = clone(payment)


class InMemoryWaivers(_Store):
    def get(self, waiver_id: UUID, *, for_update: bool = False) -> FeeWaiver | None:
        waiver = self.rows.get(waiver_id)
        return clone(waiver) if waiver is not None else None

    def save(self, waiver: FeeWaiver) -> None:
        self.rows[waiver.id] = clone(waiver)


class InMemoryTransactions(_Store):
    def get(self, transaction_id: UUID, *, for_update: bool = False) -> Transaction | None:
        tx = self.rows.get(transaction_id)
        return clone(tx) if tx is not None else None

    def save(self, transaction: Transaction) -> None:
        self.rows[transaction.id] = clone(transaction)

    def late_fee_nights(self, credit_id: UUID) -> list[tuple[date, datetime, Money]]:
        fees = (t for t in self.rows.values() if t.credit_id == credit_id and t.type is TransactionType.LATE_FEE)
        return [(t.occurred_on, t.recorded_at, t.postings[0].amount) for t in fees]

    def stream(self) -> Iterator[Transaction]:
        return iter([clone(t) for t in self.rows.values()])


class InMemoryAuditLog(_Store):
    """Records numbered as appended; part of the unit of work's snapshot, so a rollback drops them."""

    def append(self, record: AuditRecord) -> None:
        self.rows[len(self.rows) + 1] = record  # type: ignore[index]

    def records(self) -> list[AuditRecord]:
        return [self.rows[k] for k in sorted(self.rows)]  # type: ignore[type-var]


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2024, 1, 10, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def today(self) -> date:
        return self.current.date()

    def advance(self, days: int) -> None:
        self.current += timedelta(days=days)

    def set_date(self, day: date) -> None:
        self.current = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)


class SequentialIds:
    """UUIDs 1, 2, 3...: predictable and sortable in creation order, like uuid7."""

    def __init__(self, start: int = 1) -> None:
        self.next = start

    def new_id(self) -> UUID:
        value = UUID(int=self.next)
        self.next += 1
        return value


class InMemoryPaymentAccounts:
    """Accounts by id as (currency code, active). Until one is added every account is usable, in
    every currency (for tests that are not about accounts), except those listed as unusable."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, bool]] | None = None
        self.unusable: set[int] = set()

    def add(self, account_id: int, currency: str, *, active: bool = True) -> None:
        self.rows = {**(self.rows or {}), account_id: (currency, active)}

    def usable(self, account_ids: set[int], currency: Currency) -> Ready[set[int]]:
        if self.rows is None:
            return Ready(account_ids - self.unusable)
        return Ready({i for i in account_ids if self.rows.get(i) == (currency.code, True)} - self.unusable)


class InMemoryPeople:
    def __init__(self) -> None:
        self.rows: dict[UUID, Person] = {}

    def add(self, public_id: UUID, person: Person) -> None:
        self.rows[public_id] = person

    def person(self, public_id: UUID) -> Person | None:
        return self.rows.get(public_id)


class InMemoryCatalog:
    def __init__(self) -> None:
        self.subcategories: set[int] = set()
        self.periodicities: dict[str, SkipDays] = {
            code: SkipDays() for code in ("daily", "weekly", "biweekly", "monthly")
        }

    def subcategory_exists(self, subcategory_id: int) -> bool:
        return subcategory_id in self.subcategories

    def skip_days(self, periodicity: str) -> SkipDays | None:
        return self.periodicities.get(periodicity)


class InMemoryCatalogEntries(_Store):
    """Catalog rows under their unique key, so a clash is refused as the database refuses it
    (names regardless of case); ids drawn in sequence."""

    def _add(self, key: tuple[str, object], row: object, *, field: str) -> int:
        if key in self.rows:
            raise Duplicate("The row clashes with one already there.", details={"field": field})
        self.rows[key] = row  # type: ignore[index]
        return len(self.rows)

    def add_currency(self, currency: CurrencyDTO) -> None:
        self._add(("currency", currency.code), currency, field="code")

    def add_category(self, name: str) -> int:
        category_id = self._add(("category", name.casefold()), name, field="name")
        self.rows[("category-id", category_id)] = name  # type: ignore[index]
        return category_id

    def category_name(self, category_id: int) -> str | None:
        return self.rows.get(("category-id", category_id))  # type: ignore[call-overload, no-any-return]

    def add_subcategory(self, category_id: int, name: str) -> int:
        return self._add(("subcategory", (category_id, name.casefold())), name, field="name")

    def currency_active(self, code: str) -> bool | None:
        found = self.rows.get(("currency", code))  # type: ignore[call-overload]
        return found.active if found is not None else None

    def add_payment_account(self, account: PaymentAccountDTO) -> int:
        return self._add(("account", (account.currency, account.name.casefold())), account, field="name")

    def add_holiday(self, holiday: HolidayDTO) -> None:
        self._add(("holiday", holiday.date), holiday, field="date")


class InMemoryIdempotency(_Store):
    """Claims keyed by (owner, key), rolled back with the unit of work like every store."""

    def claim(self, owner: int, key: str, fingerprint: str, *, ahead: bool = False) -> None:
        if (owner, key) in self.rows:  # type: ignore[operator]
            raise KeyTaken
        self.rows[(owner, key)] = Stored(fingerprint, Answer(0, b""))  # type: ignore[index]

    def stored(self, owner: int, key: str) -> Stored | None:
        return self.rows.get((owner, key))  # type: ignore[no-any-return, call-overload]

    def answer(self, owner: int, key: str, answer: Answer) -> None:
        stored = self.rows[(owner, key)]  # type: ignore[index]
        self.rows[(owner, key)] = Stored(stored.fingerprint, answer)  # type: ignore[index]


class InMemoryCreditFigures:
    """The analytics query ports answered from the fake credit repository."""

    def __init__(self, credits: InMemoryCredits, policy: DelinquencyPolicy | None = None) -> None:
        self._credits = credits
        self._policy = policy or DelinquencyPolicy()

    def for_user(self, user_id: int, as_of: date) -> list[CreditFigures]:
        return [credit_figures(c, as_of, self._policy) for c in self._credits.all() if c.user_id == user_id]

    def chunk(self, *, after: UUID | None, limit: int, as_of: date) -> list[CreditFigures]:
        credits = sorted(self._credits.all(), key=lambda c: c.id)
        return [credit_figures(c, as_of, self._policy) for c in credits if after is None or c.id > after][:limit]

    def count(self) -> int:
        return len(self._credits.rows)


class InMemoryCollections:
    def __init__(self, credits: InMemoryCredits) -> None:
        self._credits = credits

    def unsettled_for_agent(self, agent_id: int, *, due_until: date) -> list[DueInstallment]:
        return [
            row
            for c in self._credits.all()
            if c.agent_id == agent_id
            for row in due_installments(c, due_until=due_until)
        ]


@dataclass
class World:
    """Every fake wired into a `Ports` bundle, with handles on the fakes for assertions."""

    credits: InMemoryCredits = field(default_factory=InMemoryCredits)
    payments: InMemoryPayments = field(default_factory=InMemoryPayments)
    waivers: InMemoryWaivers = field(default_factory=InMemoryWaivers)
    transactions: InMemoryTransactions = field(default_factory=InMemoryTransactions)
    audit: InMemoryAuditLog = field(default_factory=InMemoryAuditLog)
    clock: FixedClock = field(default_factory=FixedClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    holidays: FixedHolidays = field(default_factory=lambda: FixedHolidays([]))
    policies: Policies = field(default_factory=Policies)
    accounts: InMemoryPaymentAccounts = field(default_factory=InMemoryPaymentAccounts)
    people: InMemoryPeople = field(default_factory=InMemoryPeople)
    catalog: InMemoryCatalog = field(default_factory=InMemoryCatalog)
    idempotency: InMemoryIdempotency = field(default_factory=InMemoryIdempotency)
    catalog_entries: InMemoryCatalogEntries = field(default_factory=InMemoryCatalogEntries)
    uow: FakeUnitOfWork = field(init=False)
    ports: Ports = field(init=False)

    def __post_init__(self) -> None:
        self.uow = FakeUnitOfWork(
            self.credits,
            self.payments,
            self.waivers,
            self.transactions,
            self.audit,
            self.idempotency,
            self.catalog_entries,
        )
        self.ports = Ports(
            uow=self.uow,
            credits=self.credits,
            payments=self.payments,
            waivers=self.waivers,
            transactions=self.transactions,
            clock=self.clock,
            ids=self.ids,
            audit=self.audit,
            accounts=self.accounts,
            people=self.people,
            catalog=self.catalog,
            catalog_entries=self.catalog_entries,
            holidays=self.holidays,
            policies=self.policies,
        )

    def credit(self, credit_id: UUID) -> Credit:
        credit = self.credits.get(credit_id)
        assert credit is not None
        return credit

    def history(self, credit_id: UUID) -> list[CreditEvent]:
        """The credit's saved events (a loaded credit carries none of them)."""
        return self.credits.history(credit_id)
