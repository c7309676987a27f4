"""A cheap argon2 for the test suite only (APP_ENV=test): same algorithm, tiny cost, fast logins."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class FastTestArgon2PasswordHasher(Argon2PasswordHasher):
    algorithm = "argon2"
    time_cost = 1
    memory_cost = 256
    parallelism = 1
