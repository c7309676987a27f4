"""The composition root: the one place that builds the domain's ports and services from their
adapters, and hands them to every entry point.

- The API: `bootstrap()` builds its `Services`; config.urls passes them to `api.app.build_api`.
- Entry points that live below config in the layers (the Celery tasks, the admin) cannot import
  it: `wire_entry_points()`, called by config.apps once Django is ready in any process (web, worker,
  beat, manage.py), installs in each what it runs with.
- Management commands that are pure wiring live in config/management and call this module.
- Tests call `build_ports()` (or the fakes of tests/fakes) and the same builders.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from celery import Celery
from django.conf import settings
from django.db import transaction

from adapters.auth.django_stores import (
    CacheAttemptCounter,
    DjangoCredentialChecker,
    DjangoPrincipalDirectory,
    DjangoRefreshTokenStore,
)
from adapters.auth.jwt_codec import JwtCodec
from adapters.cache.read_cache import ReadCache
from adapters.jobs.runners import JobDeps
from adapters.jobs.service import JobsService
from adapters.jobs.store import JobStore
from adapters.monitoring.health import probe_all
from adapters.queries import ReadQueries
from adapters.queries.audit import AuditQueries
from adapters.queries.catalog import CatalogQueries
from adapters.queries.clients import DjangoPeopleRegistry
from adapters.sql.audit import DjangoAuditLog
from adapters.sql.catalog import SqlCatalogEntries, SqlCatalogLookup
from adapters.sql.credits import DjangoCreditRepository
from adapters.sql.currencies import currency_of
from adapters.sql.holidays import CatalogHolidayCalendar
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.ledger import DjangoTransactionRepository
from adapters.sql.payments import DjangoFeeWaiverRepository, DjangoPaymentRepository, SqlPaymentAccounts
from adapters.sql.people import SqlPeopleDirectory
from adapters.sql.session import DjangoUnitOfWork, OrmSession
from api.deps import Services
from domain.application.ports import CreditChanged, Policies, Ports
from domain.application.queries.cache import credit as credit_subject
from domain.application.queries.cache import user as user_subject
from domain.credits.delinquency import DelinquencyPolicy
from domain.identity.model import TokenPolicy
from domain.identity.services import AuthService, ThrottlePolicy
from domain.payments.late_fees import LateFeePolicy
from domain.shared.clock import SystemClock
from domain.shared.ids import Uuid7Generator


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_auth_service() -> AuthService:
    return AuthService(
        credentials=DjangoCredentialChecker(),
        directory=DjangoPrincipalDirectory(),
        codec=JwtCodec(
            key=settings.JWT_SIGNING_KEY,
            algorithm=settings.JWT_ALGORITHM,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
        ),
        refresh_tokens=DjangoRefreshTokenStore(),
        attempts=CacheAttemptCounter(),
        transaction=transaction.atomic,
        clock=utc_now,
        policy=TokenPolicy(
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            access_ttl=settings.JWT_ACCESS_TTL,
            refresh_ttl=settings.JWT_REFRESH_TTL,
        ),
        throttle=ThrottlePolicy(
            window_seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS,
            per_username=settings.LOGIN_THROTTLE_PER_USERNAME,
            per_address=settings.LOGIN_THROTTLE_PER_ADDRESS,
        ),
    )


@functools.cache
def shared_read_cache() -> ReadCache:
    return ReadCache(ttl_seconds=settings.READ_CACHE_TTL_SECONDS)


class ReadCacheEffects:
    """Routes the unit of work's effects: a changed credit makes its own and its owner's cached
    reads unreachable.

    Bumped as the change is staged and again on commit. After the commit: a reader that missed while
    the write was under way built its value from the old committed state and stored it under the
    versions of then; that bump makes it unreachable. Before: a process that dies between its
    COMMIT and the after-commit bump has already made what was cached before the write unreachable
    (what remains is a value built in the moment between the two, by a concurrent reader).
    """

    def __init__(self, cache: ReadCache) -> None:
        self._cache = cache

    def staged(self, effect: object) -> None:
        self._bump(effect)

    def committed(self, effect: object) -> None:
        self._bump(effect)

    def _bump(self, effect: object) -> None:
        if isinstance(effect, CreditChanged):
            self._cache.bump([credit_subject(effect.credit_id), user_subject(effect.user_id)])


def build_ports() -> Ports:
    """The domain's ports on PostgreSQL: one unit of work and the repositories sharing its session."""
    session = OrmSession()
    return Ports(
        uow=DjangoUnitOfWork(session, effects=ReadCacheEffects(shared_read_cache())),
        credits=DjangoCreditRepository(session),
        payments=DjangoPaymentRepository(),
        waivers=DjangoFeeWaiverRepository(),
        transactions=DjangoTransactionRepository(),
        clock=SystemClock(ZoneInfo(settings.BUSINESS_TIME_ZONE)),
        ids=Uuid7Generator(),
        audit=DjangoAuditLog(),
        accounts=SqlPaymentAccounts(),
        people=SqlPeopleDirectory(),
        catalog=SqlCatalogLookup(),
        catalog_entries=SqlCatalogEntries(),
        holidays=CatalogHolidayCalendar(),
        policies=Policies(
            late_fees=LateFeePolicy(
                grace_days=settings.LATE_FEE_GRACE_DAYS,
                monthly_rate=settings.LATE_FEE_MONTHLY_RATE,
                cap_share=settings.LATE_FEE_CAP_SHARE,
            ),
            delinquency=DelinquencyPolicy(default_after_days=settings.DEFAULT_AFTER_DAYS),
        ),
    )


@functools.cache
def shared_ports() -> Ports:
    """One Ports per process: its unit of work keeps per-thread state, so threads can share it."""
    return build_ports()


@functools.cache
def shared_job_deps() -> JobDeps:
    """What the jobs run with in this process: the shared ports, the job rows, the read cache."""
    return JobDeps(ports=shared_ports(), store=JobStore(), invalidate_reads=shared_read_cache().bump_all)


def wire_entry_points() -> None:
    """Hand the entry points below config what they run with. Providers, not instances: nothing is
    built before its first use (settings can still change in tests until then)."""
    from adapters.celery import tasks
    from adapters.orm import wiring

    tasks.install(shared_job_deps)
    wiring.install_ports(shared_ports)  # the admin's actions and book pages


def project_celery_app() -> Celery:
    """The project's Celery app (its broker, queue and key prefix), imported on first use."""
    from config.celery_app import app

    return app


def enqueue_portfolio_analysis(job_id: str) -> None:
    # Importing the Celery app makes it the current app: the task goes to its broker.
    from adapters.celery.tasks import portfolio_analysis
    from config.celery_app import app  # noqa: F401

    portfolio_analysis.delay(job_id)


def bootstrap() -> Services:
    ports = shared_ports()
    return Services(
        auth=build_auth_service(),
        health=functools.partial(probe_all, project_celery_app),
        catalog_queries=CatalogQueries(),
        ports=ports,
        idempotency=SqlIdempotencyStore(),
        currency=currency_of,
        reads=ReadQueries.build(ports.policies.delinquency),
        people=DjangoPeopleRegistry(),
        read_cache=shared_read_cache(),
        jobs=JobsService(JobStore(), enqueue_analysis=enqueue_portfolio_analysis),
        audit=AuditQueries(),
    )
