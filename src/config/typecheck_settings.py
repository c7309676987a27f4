"""Settings for the type checker: mypy's django-stubs plugin runs django.setup() on them.

The real settings with every outside service switched off, so checking types starts no embedded
PostgreSQL, probes no Redis and works the same on a clean clone, in CI and beside a running stack.
"""

import os

os.environ["APP_ENV"] = "development"
os.environ["DATABASE_URL"] = "postgres://typecheck@127.0.0.1:1/typecheck"  # never connected to
os.environ["REDIS_URL"] = "none"
os.environ["DATABASE_REPLICA_URLS"] = ""

from config.settings import *  # noqa: F403 - the same apps and models as the real settings
