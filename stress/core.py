"""What every stress scenario receives and returns: the stack under attack and its figures.

A scenario module in `stress/scenarios/` exposes `run(ctx: Context) -> list[Result]`. It talks to the
running app over HTTP (ctx.base_url) as the demo users, may read the database directly to check the
book's invariants (ctx.database_url), and, for fault scenarios, stops and starts services through
ctx.control. The runner (`python -m stress`) turns every Result into a section of RELIABILITY.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class StackControl(Protocol):
    """Fault injection on the stack's own services (never the machine's shared ones)."""

    def stop(self, service: str) -> None: ...  # "redis", "replica", "primary", "worker", "app"

    def start(self, service: str) -> None: ...

    def kill(self, service: str) -> None: ...  # SIGKILL, no clean shutdown


@dataclass(frozen=True)
class Context:
    base_url: str  # e.g. http://127.0.0.1:8400 (no trailing slash); the API is under /api/v1
    database_url: str  # the primary, for invariant checks (read only, please)
    password: str  # every demo user's password
    admin: str  # usernames of the demo book (load_demo): one admin
    agents: tuple[str, ...]  # agents, each with a portfolio of their own
    clients: tuple[str, ...]  # clients, each with credits of their own
    control: StackControl
    # Environment for `manage.py` against the stack (e.g. check_book); empty when not known.
    manage_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    section: str  # "Concurrency", "Faults", "Hostile input", "Attacks", "Audit trail"
    name: str  # one line: what was done
    requests: int = 0  # HTTP requests sent
    errors_5xx: int = 0  # answers >= 500 (and transport errors)
    checks_passed: int = 0  # invariant / expectation checks that held
    checks_failed: int = 0
    details: list[str] = field(default_factory=list)  # figures and observations, one line each
    fixed: list[str] = field(default_factory=list)  # defects this scenario found that were fixed

    @property
    def ok(self) -> bool:
        return self.checks_failed == 0 and self.errors_5xx == 0
