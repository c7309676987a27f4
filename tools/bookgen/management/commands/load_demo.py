"""Demo data for `make run`: users, catalogs and a small book that shows every feature — credits of
each interest method and periodicity, split payments, a reversal, late fees, a waiver request, a
credit in default and a paid one. Built through the domain's use cases, with the clock set back in
time for the history. Idempotent; refused in production."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from adapters.db.partitioning import ensure_month_partitions
from adapters.orm.catalog.models import Category, PaymentAccount, Subcategory
from adapters.orm.credits.models import Credit as CreditRow
from adapters.orm.identity.models import User
from config.bootstrap import shared_ports
from domain.application import use_cases
from domain.application.ports import SYSTEM, Actor, Ports
from domain.credits.schedule import InterestMethod, Periodicity
from domain.ledger.model import Source
from domain.payments.model import MethodLine
from domain.shared.money import Money

DEMO_HISTORY_DAYS = 200  # the oldest credit below opens at(200)
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed on purpose; development data only
DEMO_USERS = [
    ("admin", User.Role.ADMIN, "Ada", "Admin"),
    ("agent1", User.Role.AGENT, "Andrés", "Agent"),
    ("agent2", User.Role.AGENT, "Beatriz", "Agent"),
    ("client1", User.Role.CLIENT, "Camila", "Client"),
    ("client2", User.Role.CLIENT, "Diego", "Client"),
    ("client3", User.Role.CLIENT, "Elena", "Client"),
    ("client4", User.Role.CLIENT, "Felipe", "Client"),
]


class _ClockAt:
    """The business clock fixed on a day, so history can be written through the use cases."""

    def __init__(self, day: date) -> None:
        self.day = day

    def now(self) -> datetime:
        return datetime.combine(self.day, time(15, 0), tzinfo=UTC)

    def today(self) -> date:
        return self.day


class Command(BaseCommand):
    help = "Create demo users, catalogs and a small book (idempotent) and print the logins."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data is never loaded in production.")
        with transaction.atomic():
            users = self._users()
            accounts, subcategories = self._catalogs()
            if not CreditRow.objects.filter(user=users["client1"]).exists():
                self._book(users, accounts, subcategories)
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.value:<7} {username}")

    def _users(self) -> dict[str, User]:
        users = {}
        for username, role, first, last in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"role": role, "first_name": first, "last_name": last, "email": f"{username}@demo.test"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_superuser = role == User.Role.ADMIN
                user.save()
            users[username] = user
        return users

    def _catalogs(self) -> tuple[dict[str, int], dict[str, int]]:
        subcategories = {}
        for category, names in {
            "Electrodomésticos": ["Neveras", "Televisores"],
            "Motos": ["Motos 125cc"],
            "Préstamos": ["Libre inversión"],
        }.items():
            cat, _ = Category.objects.get_or_create(name=category)
            for name in names:
                sub, _ = Subcategory.objects.get_or_create(category=cat, name=name)
                subcategories[name] = sub.id
        accounts = {}
        for name, kind, currency, extra in [
            ("Caja principal", "cash", "COP", {}),
            ("Bancolombia", "bank", "COP", {"bank_name": "Bancolombia", "account_number_masked": "****1234"}),
            ("Nequi", "wallet", "COP", {}),
            ("Caja USD", "cash", "USD", {}),
        ]:
            account, _ = PaymentAccount.objects.get_or_create(
                name=name, currency_id=currency, defaults={"kind": kind, **extra}
            )
            accounts[name] = account.id
        return accounts, subcategories

    def _book(self, users: dict[str, User], accounts: dict[str, int], subs: dict[str, int]) -> None:
        base = shared_ports()
        today = base.clock.today()
        # The history's months, as an import creates them: its rows must not land in DEFAULT partitions.
        ensure_month_partitions(today - timedelta(days=DEMO_HISTORY_DAYS), today)

        def at(days_ago: int) -> Ports:
            return dataclasses.replace(base, clock=_ClockAt(today - timedelta(days=days_ago)))

        agent1 = Actor(users["agent1"].id, Source.WEB)
        agent2 = Actor(users["agent2"].id, Source.MOBILE)
        admin = Actor(users["admin"].id, Source.ADMIN)

        def cop(value: str) -> Money:
            return Money.of(value, "COP")

        def open_credit(p: Ports, client: str, agent: Actor, sub: str, price: Money, cost: Money, **terms: object):
            return use_cases.open_credit(
                p,
                use_cases.OpenCredit(
                    user_id=users[client].id,
                    agent_id=agent.user_id,
                    price=price,
                    cost=cost,
                    subcategory_id=subs[sub],
                    **terms,  # type: ignore[arg-type]
                ),
                agent,
            )

        def pay(p: Ports, credit_id: object, agent: Actor, *lines: tuple[str, Money], prepay: bool = False):
            amount = sum((m for _, m in lines[1:]), lines[0][1])
            return use_cases.register_payment(
                p,
                use_cases.RegisterPayment(
                    credit_id=credit_id,  # type: ignore[arg-type]
                    amount=amount,
                    method_lines=tuple(MethodLine(accounts[name], m) for name, m in lines),
                    idempotency_key=f"demo-{credit_id}-{p.clock.today()}-{amount}",
                    prepay=prepay,
                ),
                agent,
            )

        # 1. A fridge on a French monthly schedule: two installments paid (split cash + bank), one
        #    paid by a transfer that bounced (reversed), the third overdue with late fees.
        p = at(100)
        fridge = open_credit(
            p,
            "client1",
            agent1,
            "Neveras",
            cop("2400000.00"),
            cop("1700000.00"),
            periodicity=Periodicity.MONTHLY,
            installments=12,
            first_due_date=p.clock.today() + timedelta(days=10),
            method=InterestMethod.FRENCH,
            annual_rate=Decimal("0.24"),
        )
        first = fridge.installments[0].amount
        pay(at(89), fridge.id, agent1, ("Caja principal", cop("100000.00")), ("Bancolombia", first - cop("100000.00")))
        second = fridge.installments[1].amount
        bounced = pay(at(58), fridge.id, agent1, ("Bancolombia", second))
        use_cases.reverse_payment(at(55), bounced.id, "Transfer bounced", admin)
        pay(at(54), fridge.id, agent1, ("Caja principal", second))
        # 2. A TV at zero interest, weekly, agent2's portfolio, paid on time.
        p = at(20)
        tv = open_credit(
            p,
            "client1",
            agent2,
            "Televisores",
            cop("400000.00"),
            cop("300000.00"),
            periodicity=Periodicity.WEEKLY,
            installments=8,
            first_due_date=p.clock.today() + timedelta(days=7),
            method=InterestMethod.ZERO_INTEREST,
        )
        pay(at(13), tv.id, agent2, ("Nequi", tv.installments[0].amount))
        pay(at(6), tv.id, agent2, ("Nequi", tv.installments[1].amount))
        # 3. A daily loan with the seed's flat markup, skipping Sundays; partly paid.
        p = at(10)
        daily = open_credit(
            p,
            "client2",
            agent1,
            "Libre inversión",
            cop("300000.00"),
            cop("250000.00"),
            periodicity=Periodicity.DAILY,
            installments=30,
            first_due_date=p.clock.today() + timedelta(days=1),
            method=InterestMethod.FLAT_MARKUP,
            annual_rate=Decimal("0.60"),
            skip_sundays=True,
        )
        pay(at(5), daily.id, agent1, ("Caja principal", cop("40000.00")))
        # 4. A motorbike in dollars, equal principal, never paid: in default by now.
        p = at(DEMO_HISTORY_DAYS)
        open_credit(
            p,
            "client3",
            agent1,
            "Motos 125cc",
            Money.of("3000.00", "USD"),
            Money.of("2200.00", "USD"),
            periodicity=Periodicity.MONTHLY,
            installments=6,
            first_due_date=p.clock.today() + timedelta(days=30),
            method=InterestMethod.EQUAL_PRINCIPAL,
            annual_rate=Decimal("0.18"),
        )
        # 5. A small loan paid off early with prepayment: state paid.
        p = at(30)
        small = open_credit(
            p,
            "client4",
            agent2,
            "Libre inversión",
            cop("500000.00"),
            cop("420000.00"),
            periodicity=Periodicity.BIWEEKLY,
            installments=4,
            first_due_date=p.clock.today() + timedelta(days=14),
            method=InterestMethod.FRENCH,
            annual_rate=Decimal("0.20"),
        )
        pay(at(2), small.id, agent2, ("Bancolombia", small.outstanding), prepay=True)
        # The nightly jobs, as of today: late fees, then delinquency (default flags, morosidad).
        use_cases.apply_late_fees(base, today, SYSTEM)
        use_cases.recompute_delinquency(base, today)
        # An agent asks to waive part of the fridge's late fee; an admin will decide.
        saved_fridge = base.credits.get(fridge.id)
        assert saved_fridge is not None  # just opened above
        overdue = next(i for i in saved_fridge.installments if i.late_fee_outstanding.is_positive)
        use_cases.request_fee_waiver(
            base,
            use_cases.RequestWaiver(overdue.id, overdue.late_fee_outstanding.times(Decimal("0.5")), "Client was ill"),
            agent1,
        )
