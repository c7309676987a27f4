"""Build credits, payments and reversals for tests through the real domain services on PostgreSQL.

Rows written this way satisfy every domain invariant (schedules add up, ledger balanced, flags
derived), unlike hand-made ORM rows. Dates: pass `on=` to run a use case as if the business date
were that day (a credit opened 100 days ago has installments overdue today).

    agent = UserFactory(role="agent"); client = UserFactory()
    credit = open_credit(client, agent, price="1200.00", installments=12, on=today - timedelta(days=100))
    payment = pay(credit, "150.00", on=today - timedelta(days=5))
    reverse(payment, by=admin)
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from adapters.orm.catalog.models import PaymentAccount
from config.bootstrap import build_ports
from domain.application import use_cases as services
from domain.application.ports import Actor, Ports
from domain.credits.model import Credit
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.payments.model import MethodLine, Payment
from domain.shared.money import Money


class FixedClock:
    """The business date `day` (noon there, so now() and today() agree in any time zone)."""

    def __init__(self, day: date) -> None:
        self._day = day

    def today(self) -> date:
        return self._day

    def now(self) -> datetime:
        local = datetime.combine(self._day, time(12), tzinfo=ZoneInfo(settings.BUSINESS_TIME_ZONE))
        return local.astimezone(UTC)


def business_today() -> date:
    return build_ports().clock.today()


def ports_at(day: date | None = None) -> Ports:
    """The real PostgreSQL ports, with the clock fixed at `day` when given. Today keeps the real
    clock: noon today is in the future before noon, and would record what a test does now after
    what the API does later (the book check replays events in the order they were recorded)."""
    ports = build_ports()
    return ports if day is None or day == ports.clock.today() else replace(ports, clock=FixedClock(day))


def _id(user: object | int | None) -> int | None:
    if user is None or isinstance(user, int):
        return user
    return user.id  # type: ignore[attr-defined]


def payment_account(currency: str = "COP", *, name: str | None = None, kind: str = "cash") -> PaymentAccount:
    account, _ = PaymentAccount.objects.get_or_create(
        name=name or f"Test {kind} {currency}", currency_id=currency, defaults={"kind": kind}
    )
    return account


def open_credit(
    client: object | int,
    agent: object | int | None,
    *,
    price: str = "1200.00",
    cost: str | None = None,
    currency: str = "COP",
    installments: int = 12,
    periodicity: Periodicity = Periodicity.MONTHLY,
    method: InterestMethod = InterestMethod.FRENCH,
    annual_rate: str | None = None,
    on: date | None = None,
    first_due_date: date | None = None,
    disburse: bool = True,
) -> Credit:
    """Open (and by default disburse) a credit as the agent, on business date `on` (default today).
    The first installment falls due a month after `on` unless `first_due_date` says otherwise."""
    ports = ports_at(on)
    opened = ports.clock.today()
    price_money = Money.of(price, currency)
    command = services.OpenCredit(
        user_id=_id(client),  # type: ignore[arg-type]
        agent_id=_id(agent),
        price=price_money,
        cost=Money.of(cost, currency)
        if cost is not None
        else Money.rounded(Decimal(price) * 7 / 10, price_money.currency),
        subcategory_id=None,
        periodicity=periodicity,
        installments=installments,
        first_due_date=first_due_date or opened + timedelta(days=30),
        method=method,
        # A zero-interest credit takes no rate (refused otherwise); the others 24 %/yr unless told.
        annual_rate=Decimal(annual_rate or ("0" if method is InterestMethod.ZERO_INTEREST else "0.24")),
        disburse=disburse,
    )
    return services.open_credit(ports, command, Actor(_id(agent), Source.WEB))


def pay(
    credit: Credit,
    amount: str,
    *,
    on: date | None = None,
    by: object | int | None = None,
    split: tuple[str, ...] | None = None,
    prepay: bool = False,
    key: str | None = None,
) -> Payment:
    """Register a payment on `credit` as `by` (default: the credit's agent), dated `on` (default
    today); `split` gives the method lines' amounts (cash, then a bank account), default all cash."""
    ports = ports_at(on)
    code = credit.currency.code
    parts = split or (amount,)
    accounts = [payment_account(code, kind="cash"), payment_account(code, kind="bank", name=f"Test bank {code}")]
    lines = tuple(MethodLine(accounts[min(n, 1)].id, Money.of(part, code)) for n, part in enumerate(parts))
    actor_id = _id(by) if by is not None else credit.agent_id
    return services.register_payment(
        ports,
        services.RegisterPayment(
            credit_id=credit.id,
            amount=Money.of(amount, code),
            method_lines=lines,
            idempotency_key=key or uuid.uuid4().hex,
            prepay=prepay,
        ),
        Actor(actor_id, Source.WEB),
    )


def reverse(payment: Payment, *, by: object | int, reason: str = "test reversal", on: date | None = None) -> Payment:
    return services.reverse_payment(ports_at(on), payment.id, reason, Actor(_id(by), Source.ADMIN))


def reload(credit: Credit | uuid.UUID) -> Credit:
    """The credit as the repository loads it now (after payments, reversals, jobs)."""
    credit_id = credit if isinstance(credit, uuid.UUID) else credit.id
    loaded = build_ports().credits.get(credit_id)
    assert loaded is not None
    return loaded


class Caller:
    """GETs and POSTs over HTTP as one signed-in user (Django's test client, a real JWT)."""

    def __init__(self, client: object, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: object) -> object:
        query = {k: str(v) for k, v in params.items() if v is not None}
        return self.client.get(path, query, **self._headers())  # type: ignore[attr-defined]

    def post(self, path: str, body: dict) -> object:
        return self.client.post(path, body, content_type="application/json", **self._headers())  # type: ignore[attr-defined]
