"""The Celery application (Redis broker). Tasks live in adapters/celery; the beat schedule is here."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from django.conf import settings  # lazy: read once DJANGO_SETTINGS_MODULE is set below

from adapters.celery.heartbeat import Heartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fintech_credits")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    # Keep the LOGGING of settings in the worker too (JSON lines through the redacting handler);
    # by default Celery replaces the root logger's handlers with its own.
    worker_hijack_root_logger=False,
    # Beat's crontab hours are business hours ("02:00" is 02:00 in BUSINESS_TIME_ZONE).
    timezone=settings.BUSINESS_TIME_ZONE,
    beat_schedule={
        # After the business day closes: late fees, delinquency flags and default/cure for the book.
        "nightly-delinquency": {"task": "jobs.nightly_delinquency", "schedule": crontab(hour=2, minute=0)},
        # Daily, so the next 12 months of partitions always exist well before they are needed.
        "partition-upkeep": {"task": "jobs.partition_upkeep", "schedule": crontab(hour=1, minute=15)},
    },
)
if settings.CELERY_TASK_ALWAYS_EAGER:
    # No broker: tasks run in-process. Celery still takes a producer to serialize them as a send
    # would; the in-memory transport spares kombu's "No hostname was supplied" warning on each one.
    app.conf.broker_url = "memory://localhost/"
app.autodiscover_tasks(["adapters.celery"])
app.steps["consumer"].add(Heartbeat)  # health's "workers" check reads what it writes
