"""Demo logins for `make run`: an admin, two agents and a few clients. Refused in production."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from adapters.orm.identity.models import User

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


class Command(BaseCommand):
    help = "Create the demo users (idempotent) and print their logins."

    def handle(self, *args: object, **options: object) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data is never loaded in production.")
        with transaction.atomic():
            for username, role, first, last in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "role": role,
                        "first_name": first,
                        "last_name": last,
                        "email": f"{username}@demo.test",
                    },
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.is_superuser = role == User.Role.ADMIN
                    user.save()
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.value:<7} {username}")
