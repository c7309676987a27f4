"""The durable state of a background job: what the API reports while a Celery worker runs it.

A worker writes progress with single-row UPDATEs (`done`, `total`, `heartbeat_at`); the row is the
truth, the broker only carries "run job X". `run_token` is the claim of the delivery currently
running it: a redelivered task takes a new token, and a stale delivery still running finds its
token gone at its next progress update and stops, so a job completes once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Kind(models.TextChoices):
        PORTFOLIO_ANALYSIS = "portfolio_analysis"
        NIGHTLY_DELINQUENCY = "nightly_delinquency"
        PARTITION_UPKEEP = "partition_upkeep"

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    # The downloadable form of the result (a few KB: KPIs, aging and top debtors per currency).
    result_csv = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    attempts = models.PositiveIntegerField(default=0)
    run_token = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jobs_job"
        indexes = [models.Index(fields=["kind", "-created_at"], name="job_kind_created_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(done__gte=0, total__gte=0), name="job_progress_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.state})"
