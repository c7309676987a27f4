"""factory-boy factories for ORM rows."""

from __future__ import annotations

import factory
from django.contrib.auth.hashers import make_password

from adapters.orm.identity.models import User

PASSWORD = "correct-horse-battery"
# Hash once: argon2 is deliberately slow, and most tests only need a user that can log in.
_PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    role = User.Role.CLIENT
    password = _PASSWORD_HASH
