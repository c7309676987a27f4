"""Django settings, read from the environment (see the table in README.md).

Development defaults are safe and local; APP_ENV=production refuses to start with any of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.embedded import PROJECT_ROOT
from config.env import env_bool, env_float, env_int, env_list, env_str, redis_answers

log = logging.getLogger("config")

APP_ENV = env_str("APP_ENV", "development")  # development | test | production
if APP_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"APP_ENV must be development, test or production, got {APP_ENV!r}")
PRODUCTION = APP_ENV == "production"

_DEV_SECRET = "dev-insecure-secret-key-change-me"  # noqa: S105 - the known dev default, refused in production
_DEV_JWT_KEY = "dev-insecure-jwt-signing-key-change-me-0123456789"

SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- JWT -----------------------------------------------------------------------------------------
JWT_SIGNING_KEY = env_str("JWT_SIGNING_KEY", _DEV_JWT_KEY)
JWT_ALGORITHM = env_str("JWT_ALGORITHM", "HS256")
JWT_AUDIENCE = env_str("JWT_AUDIENCE", "fintech-credits-api")
JWT_ISSUER = env_str("JWT_ISSUER", "fintech-credits")
JWT_ACCESS_TTL = timedelta(seconds=env_int("JWT_ACCESS_TTL_SECONDS", 300))
JWT_REFRESH_TTL = timedelta(seconds=env_int("JWT_REFRESH_TTL_SECONDS", 14 * 24 * 3600))
LOGIN_THROTTLE_WINDOW_SECONDS = env_int("LOGIN_THROTTLE_WINDOW_SECONDS", 300)
LOGIN_THROTTLE_PER_USERNAME = env_int("LOGIN_THROTTLE_PER_USERNAME", 5)
LOGIN_THROTTLE_PER_ADDRESS = env_int("LOGIN_THROTTLE_PER_ADDRESS", 20)
# Trust X-Forwarded-For only behind a balancer that sets it; otherwise clients could pick their IP.
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)

if PRODUCTION:
    problems = []
    if SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 32:
        problems.append("SECRET_KEY is the development default or shorter than 32 characters")
    if JWT_SIGNING_KEY == _DEV_JWT_KEY or len(JWT_SIGNING_KEY) < 32:
        problems.append("JWT_SIGNING_KEY is the development default or shorter than 32 characters")
    if DEBUG:
        problems.append("DEBUG is on")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS is empty")
    if not env_str("DATABASE_URL"):
        problems.append("DATABASE_URL is not set")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems))

# --- Business rules ------------------------------------------------------------------------------
BUSINESS_TIME_ZONE = env_str("BUSINESS_TIME_ZONE", "America/Bogota")  # what "today" and "due" mean
LATE_FEE_GRACE_DAYS = env_int("LATE_FEE_GRACE_DAYS", 3)
LATE_FEE_MONTHLY_RATE = Decimal(env_str("LATE_FEE_MONTHLY_RATE", "0.05"))
LATE_FEE_CAP_SHARE = Decimal(env_str("LATE_FEE_CAP_SHARE", "0.50"))
DEFAULT_AFTER_DAYS = env_int("DEFAULT_AFTER_DAYS", 90)

# --- Apps ----------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "ninja",  # its templates and static files: Swagger UI served from here, not from a CDN
    "psqlextra",
    "adapters.orm.identity",
    "adapters.orm.catalog",
    "adapters.orm.credits",
    "adapters.orm.payments",
    "adapters.orm.ledger",
    "adapters.orm.idempotency",
    "adapters.orm.jobs",
    "adapters.orm.audit",
    "config.apps.CompositionRootConfig",
]


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


# The data generator (`seed_data`, `check_book`, `load_demo`) lives in tools/, outside the application:
# installed by `make .venv/.installed`, absent from the production image, so registered only when present.
if _installed("tools.bookgen"):
    INSTALLED_APPS.append("tools.bookgen.apps.BookgenConfig")
AUTH_USER_MODEL = "identity.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# An /api/ request goes through API_MIDDLEWARE only (api.http.pipeline.ApiPipeline, first below):
# the entries of MIDDLEWARE that act on it, in the same order (the three that set headers made one,
# CommonMiddleware extended to remember its Host check).
# Every other path goes down MIDDLEWARE.
API_MIDDLEWARE = [
    "api.http.middleware.RequestIdMiddleware",
    "config.middleware.MetricsMiddleware",
    "api.http.middleware.ApiHeadersMiddleware",  # the site's SecurityMiddleware, SecurityHeaders and XFrame in one
    "api.http.middleware.ApiErrorEnvelopeMiddleware",
    "api.http.input_guard.InputGuardMiddleware",  # 413 for oversized bodies, 422 for NUL characters
    "api.http.middleware.ApiCommonMiddleware",  # the site's CommonMiddleware, its Host check remembered
    "api.hot_reads.EarlyAnswers",  # cache hits of hot reads: config.wsgi answers them after the entries above
    "config.read_routing.ReadRoutingMiddleware",  # after auth: reads the caller's id lazily
]
MIDDLEWARE = [
    "api.http.pipeline.ApiPipeline",
    "api.http.middleware.RequestIdMiddleware",
    "config.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.http.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.http.admin_middleware.SessionMiddleware",  # these four: Django's, for the admin's cookie sessions
    "django.middleware.common.CommonMiddleware",
    "api.http.admin_middleware.CsrfViewMiddleware",
    "api.http.admin_middleware.AuthenticationMiddleware",
    "api.http.admin_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.read_routing.ReadRoutingMiddleware",
]
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


# --- Database ------------------------------------------------------------------------------------
# Sizing the pool, read replicas and pgbouncer: README.md, "Database connections" and "Read replicas".
DB_PGBOUNCER = env_bool("DB_PGBOUNCER", False)  # the URLs point at pgbouncer in transaction pooling mode
REPLICA_CONNECT_TIMEOUT_SECONDS = env_float("REPLICA_CONNECT_TIMEOUT_SECONDS", 2.0)


def _database(url: str, *, replica: bool = False) -> dj_database_url.DBConfig:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ImproperlyConfigured(f"Only PostgreSQL is supported, got a {parsed.scheme!r} URL")
    config = dj_database_url.parse(url)
    # psqlextra's backend adds partitioning on top of Django's PostgreSQL backend.
    config["ENGINE"] = "psqlextra.backend"
    options = config.setdefault("OPTIONS", {})
    # Checked before use: a pooled connection by the pool, a persistent one once per request.
    config["CONN_HEALTH_CHECKS"] = True
    pool_max = env_int("DB_POOL_MAX_SIZE", 0)
    if pool_max > 0:
        # Django's psycopg pool, one per process and alias: needs CONN_MAX_AGE=0.
        config["CONN_MAX_AGE"] = 0
        timeout: float = env_int("DB_POOL_TIMEOUT_SECONDS", 10)
        if replica:
            # Waiting long for a replica connection is pointless: the read falls back to the primary.
            timeout = min(timeout, REPLICA_CONNECT_TIMEOUT_SECONDS)
        options["pool"] = {"min_size": env_int("DB_POOL_MIN_SIZE", 1), "max_size": pool_max, "timeout": timeout}
    else:
        config["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    if replica:
        options.setdefault("connect_timeout", max(1, round(REPLICA_CONNECT_TIMEOUT_SECONDS)))
        # Tests see the replica as the primary's database (Django creates no second test database).
        config["TEST"] = {"MIRROR": "default"}
    # psycopg prepares a statement after this many runs on a connection (the statement batch's at once:
    # PostgreSQL then parses and plans each shape once per connection). Off (None, Django's default)
    # behind pgbouncer's transaction pooling, where a prepared statement may be on another server
    # connection; DB_PREPARE_THRESHOLD=0 turns it off anywhere.
    prepare_threshold = env_int("DB_PREPARE_THRESHOLD", 0 if DB_PGBOUNCER else 5)
    if prepare_threshold > 0:
        options["prepare_threshold"] = prepare_threshold
    if DB_PGBOUNCER:
        # A server-side cursor lives in a session; transaction pooling does not keep one.
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
    return config


_database_url = env_str("DATABASE_URL")
if not _database_url:
    from config.embedded import embedded_database_url

    _database_url = embedded_database_url()
DATABASES = {"default": _database(_database_url)}
for _index, _url in enumerate(env_list("DATABASE_REPLICA_URLS")):
    DATABASES[f"replica_{_index + 1}"] = _database(_url, replica=True)
DATABASE_REPLICAS = [alias for alias in DATABASES if alias != "default"]
DATABASE_ROUTERS = ["adapters.db.routing.ReplicaRouter"]
# Read routing (adapters/db/routing.py): a caller's reads stay on the primary this long after its write;
# a replica further behind than REPLICA_MAX_LAG_SECONDS is skipped; lag is checked this often per process.
READ_YOUR_WRITES_SECONDS = env_float("READ_YOUR_WRITES_SECONDS", 5.0)
REPLICA_MAX_LAG_SECONDS = env_float("REPLICA_MAX_LAG_SECONDS", 5.0)
REPLICA_CHECK_INTERVAL_SECONDS = env_float("REPLICA_CHECK_INTERVAL_SECONDS", 1.0)
if DATABASE_REPLICAS and REPLICA_CHECK_INTERVAL_SECONDS >= REPLICA_MAX_LAG_SECONDS:
    raise ImproperlyConfigured("REPLICA_CHECK_INTERVAL_SECONDS must be shorter than REPLICA_MAX_LAG_SECONDS")
POSTGRES_EXTRA_DB_BACKEND_BASE = "adapters.db.postgresql"  # health checks without a round trip
PSQLEXTRA_PARTITIONING_MANAGER = "adapters.db.partitioning.manager"


# --- Cache, broker -------------------------------------------------------------------------------
# The name that keeps this deployment's cache keys, queues and broker keys apart from any other one
# on the same Redis. Outside production it is derived from the checkout's path, so two clones on one
# machine never share them; production names itself (a release directory's path changes per deploy).
APP_INSTANCE = env_str(
    "APP_INSTANCE",
    "fintech-credits" if PRODUCTION else "fc-" + hashlib.sha256(str(PROJECT_ROOT).encode()).hexdigest()[:8],
)
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", APP_INSTANCE)
# Queues are "<prefix>.jobs" and every broker key (queues, unacked messages, the workers' control
# channels) starts with "<prefix>:"; an empty prefix keeps Celery's own names ("celery").
CELERY_QUEUE_PREFIX = env_str("CELERY_QUEUE_PREFIX", APP_INSTANCE)


_DEFAULT_REDIS = "redis://127.0.0.1:6379/1"
REDIS_URL = env_str("REDIS_URL")
# `none`: run without Redis and without looking for one (what `make run` hands its processes once it
# has found none and said so: each of them would otherwise look again and warn again).
_REDIS_OFF = REDIS_URL.strip().lower() == "none"
if _REDIS_OFF:
    REDIS_URL = ""
# Several nodes: keys are sharded over them by hash (django-redis's ShardClient). Django's own
# RedisCache with a list is replication, not sharding, and raises when a node is down.
REDIS_URLS = env_list("REDIS_URLS")
if not REDIS_URL and not REDIS_URLS and not _REDIS_OFF and redis_answers(_DEFAULT_REDIS):
    REDIS_URL = _DEFAULT_REDIS
REDIS_AVAILABLE = bool(REDIS_URL or REDIS_URLS)
READ_CACHE_TTL_SECONDS = env_int("READ_CACHE_TTL_SECONDS", 600)

if REDIS_AVAILABLE:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URLS or REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "TIMEOUT": env_int("CACHE_DEFAULT_TIMEOUT", 300),
            "OPTIONS": {
                # clear() deletes this prefix's keys, not the whole (possibly shared) database.
                "CLIENT_CLASS": "adapters.cache.redis_clients.PrefixScopedShardClient"
                if REDIS_URLS
                else "adapters.cache.redis_clients.PrefixScopedClient",
                # Fail open: with Redis down, reads go to the database instead of failing.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
                "CONNECTION_POOL_KWARGS": {"max_connections": env_int("REDIS_MAX_CONNECTIONS", 50)},
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    # Its default, said aloud: django-redis reads it with getattr(settings, ..., default) at every
    # request's end (request_finished closes the caches), and a setting that is not there is looked
    # up and missed each time (~4 µs per request that touched the cache).
    DJANGO_REDIS_CLOSE_CONNECTION = False
else:
    if not _REDIS_OFF:
        log.warning(
            "Redis is not reachable at %s and REDIS_URL is not set: using a local-memory cache "
            "and running background tasks in-process.",
            _DEFAULT_REDIS,
        )
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fc"}}

_BROKER_DEFAULT = (REDIS_URL or (REDIS_URLS[0] if REDIS_URLS else "")).rsplit("/", 1)[0]
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", _BROKER_DEFAULT + "/0" if _BROKER_DEFAULT else "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Redis hands an unacknowledged message (acks late) to another worker after this timeout: keep it
# above the longest task and any retry countdown (retries back off to 10 minutes at most).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 2 * 3600)
_fast_restore = CELERY_VISIBILITY_TIMEOUT_SECONDS < 60  # tests: find an abandoned message within a second
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, int | str] = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    "unacked_restore_interval": 1 if _fast_restore else 10,
    "unacked_restore_throttle": 1 if _fast_restore else 10,
}
if CELERY_QUEUE_PREFIX:
    CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}.jobs"
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = f"{CELERY_QUEUE_PREFIX}:"
# Worker liveness, for health: every worker notes itself in the broker each WORKER_HEARTBEAT_SECONDS;
# health is degraded while messages wait and no worker has done so for WORKER_LOST_AFTER_SECONDS.
WORKER_HEARTBEAT_SECONDS = env_float("WORKER_HEARTBEAT_SECONDS", 5.0)
WORKER_LOST_AFTER_SECONDS = env_float("WORKER_LOST_AFTER_SECONDS", 30.0)
if WORKER_HEARTBEAT_SECONDS >= WORKER_LOST_AFTER_SECONDS:
    raise ImproperlyConfigured("WORKER_HEARTBEAT_SECONDS must be shorter than WORKER_LOST_AFTER_SECONDS")
# Book-wide jobs: credits per chunk, an optional pause between chunks (to leave the database to
# online traffic), and the nightly run's credits per transaction.
JOBS_CHUNK_SIZE = env_int("JOBS_CHUNK_SIZE", 50000)
JOBS_CHUNK_PAUSE_MS = env_int("JOBS_CHUNK_PAUSE_MS", 0)
ANALYSIS_WORKERS = env_int("ANALYSIS_WORKERS", 2)  # database sessions grouping the analysis' chunks in parallel
NIGHTLY_CHUNK_SIZE = env_int("NIGHTLY_CHUNK_SIZE", 20000)
NIGHTLY_WORKERS = env_int("NIGHTLY_WORKERS", 2)  # database sessions applying the nightly plan in parallel

# --- Auth, passwords -----------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if APP_ENV == "test":
    # Same algorithm, tiny cost: hundreds of logins in the suite would otherwise take minutes.
    PASSWORD_HASHERS.insert(0, "adapters.auth.hashers.FastTestArgon2PasswordHasher")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N, static --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(PROJECT_ROOT / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if APP_ENV == "test":
    # The suite renders admin pages without running collectstatic first.
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- Metrics -------------------------------------------------------------------------------------
# Several processes serving (granian workers, Celery workers) write their figures into this shared
# folder and /metrics adds them up; whoever starts them empties it first (make run, the bench, a
# tmpfs in docker-compose).
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# --- Security headers ----------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)

# --- Logging: one JSON object per line, each with the request id --------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
SLOW_QUERY_MS = env_int("SLOW_QUERY_MS", 200)  # statements slower than this are logged (SQL, no params)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "api.http.middleware.RequestIdLogFilter"},
        "redact_secrets": {"()": "api.http.redaction.RedactSecretsFilter"},
        "planned_unavailable": {"()": "api.http.errors.PlannedUnavailableFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id", "redact_secrets"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's defaults give these their own handlers (a plain console in DEBUG, mail_admins, the
        # dev server's): lines written there skipped the redaction. Everything goes through the root.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO", "propagate": True},
        "django.request": {"level": "ERROR", "propagate": True, "filters": ["planned_unavailable"]},
    },
}
