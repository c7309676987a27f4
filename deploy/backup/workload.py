"""The restore drill's money: credits opened and payments registered through the app's own use cases
(`domain.application.use_cases.open_credit` and `register_payment`: allocation, ledger transaction,
audit event, all in one unit of work, exactly what `POST /credits/{id}/payments` runs), in this
process, against DATABASE_URL. Never raw INSERTs: a payment here is a payment of the book.

    python -m deploy.backup.workload open --credits 20 --out credits.json
    python -m deploy.backup.workload pay --credits-file credits.json --count 1000 --tag a --out paid.json

Runs with the demo book loaded first (`manage.py load_demo`: its agent, clients, catalog and COP
payment account are the ones used here). Each payment is a prepaid 1,000.00 COP on a credit of
50,000,000.00 COP, so none is refused as an overpayment however many the drill asks for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT = "agent1"
CLIENTS = ("client1", "client2", "client3", "client4")
ACCOUNT = "Caja principal"
SUBCATEGORY = "Libre inversión"
PAYMENT = "1000.00"
PRICE = "50000000.00"


def _django() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def open_credits(count: int) -> list[str]:
    """`count` COP credits opened by the demo agent for the demo clients, disbursed at once."""
    from adapters.orm.catalog.models import Subcategory
    from adapters.orm.identity.models import User
    from config.bootstrap import shared_ports
    from domain.application import use_cases
    from domain.application.ports import Actor
    from domain.credits.schedule import InterestMethod, Periodicity
    from domain.ledger.model import Source
    from domain.shared.money import Money

    ports = shared_ports()
    users = {user.username: user.id for user in User.objects.filter(username__in=(AGENT, *CLIENTS))}
    missing = sorted({AGENT, *CLIENTS} - set(users))
    if missing:
        raise SystemExit(f"no user {', '.join(missing)}: run `manage.py load_demo` first")
    subcategory = Subcategory.objects.get(name=SUBCATEGORY).id
    agent = Actor(users[AGENT], Source.WEB)
    today = ports.clock.today()
    opened = []
    for n in range(count):
        credit = use_cases.open_credit(
            ports,
            use_cases.OpenCredit(
                user_id=users[CLIENTS[n % len(CLIENTS)]],
                agent_id=agent.user_id,
                price=Money.of(PRICE, "COP"),
                cost=Money.of("40000000.00", "COP"),
                subcategory_id=subcategory,
                periodicity=Periodicity.MONTHLY,
                installments=24,
                first_due_date=today + timedelta(days=30),
                method=InterestMethod.FRENCH,
                annual_rate=Decimal("0.24"),
            ),
            agent,
        )
        opened.append(str(credit.id))
    return opened


def pay(credit_ids: list[str], count: int, tag: str) -> list[str]:
    """`count` payments over the credits in turn, each its own unit of work; their ids in order."""
    from uuid import UUID

    from adapters.orm.catalog.models import PaymentAccount
    from adapters.orm.identity.models import User
    from config.bootstrap import shared_ports
    from domain.application import use_cases
    from domain.application.ports import Actor
    from domain.ledger.model import Source
    from domain.payments.model import MethodLine
    from domain.shared.money import Money

    ports = shared_ports()
    agent = Actor(User.objects.get(username=AGENT).id, Source.WEB)
    account = PaymentAccount.objects.get(name=ACCOUNT, currency_id="COP").id
    amount = Money.of(PAYMENT, "COP")
    paid = []
    for n in range(count):
        payment = use_cases.register_payment(
            ports,
            use_cases.RegisterPayment(
                credit_id=UUID(credit_ids[n % len(credit_ids)]),
                amount=amount,
                method_lines=(MethodLine(account, amount),),
                idempotency_key=f"drill-{tag}-{n}",
                prepay=True,
            ),
            agent,
        )
        paid.append(str(payment.id))
    return paid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.backup.workload", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    opening = commands.add_parser("open", help="open credits")
    opening.add_argument("--credits", type=int, default=20)
    opening.add_argument("--out", type=Path, required=True)
    paying = commands.add_parser("pay", help="register payments on the credits opened before")
    paying.add_argument("--credits-file", type=Path, required=True)
    paying.add_argument("--count", type=int, required=True)
    paying.add_argument("--tag", required=True, help="part of each idempotency key (unique per run)")
    paying.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    _django()
    started = time.monotonic()
    if args.command == "open":
        ids = open_credits(args.credits)
    else:
        ids = pay(json.loads(args.credits_file.read_text()), args.count, args.tag)
    args.out.write_text(json.dumps(ids))
    print(f"{args.command}: {len(ids)} in {time.monotonic() - started:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
