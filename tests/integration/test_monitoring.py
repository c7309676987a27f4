"""Monitoring: queries per request, slow-query logs without parameters, task metrics."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client
from prometheus_client import REGISTRY

from adapters.monitoring.db import count_queries

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def _sample(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_queries_per_request_are_observed_per_route() -> None:
    labels = {"method": "GET", "route": "api/v1/health"}
    before_count = _sample("http_request_db_queries_count", labels)
    before_sum = _sample("http_request_db_queries_sum", labels)
    assert Client().get("/api/v1/health").status_code == 200
    assert _sample("http_request_db_queries_count", labels) == before_count + 1
    assert _sample("http_request_db_queries_sum", labels) - before_sum >= 1  # the database probe's SELECT 1
    text = Client().get("/metrics").content.decode()
    assert "http_request_db_queries_bucket" in text


def test_count_queries_counts_every_statement() -> None:
    with count_queries() as counter, connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT 1")
    assert counter[0] == 3


def test_slow_queries_are_logged_without_parameters(settings: object, caplog: pytest.LogCaptureFixture) -> None:
    settings.SLOW_QUERY_MS = 40  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="db.slow"), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.08), %s::text AS secret", ["4111-1111-1111-1111"])
        cursor.execute("SELECT 1")
    slow = [r for r in caplog.records if r.name == "db.slow"]
    sleepy = [r for r in slow if "pg_sleep" in r.sql]
    assert len(sleepy) == 1 and sleepy[0].duration_ms >= 80
    # The whole value: a bare "4111" also turns up in a record's numbers (its times, thread id), as
    # one CI run found.
    secret = "4111-1111-1111-1111"
    assert all(secret not in r.getMessage() and secret not in str(r.__dict__) for r in slow)


def test_task_metrics_from_celery_signals() -> None:
    from config.celery_app import app

    @app.task(name="tests.monitoring.ok")
    def ok() -> int:
        return 1

    @app.task(name="tests.monitoring.boom")
    def boom() -> None:
        raise RuntimeError("boom")

    before = _sample("celery_task_failures_total", {"task": "tests.monitoring.boom", "exception": "RuntimeError"})
    ok.apply()
    boom.apply()
    assert _sample("celery_task_duration_seconds_count", {"task": "tests.monitoring.ok", "outcome": "SUCCESS"}) >= 1
    assert _sample("celery_task_failures_total", {"task": "tests.monitoring.boom", "exception": "RuntimeError"}) == (
        before + 1
    )


def test_a_route_s_metric_children_are_looked_up_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """labels() validates and locks on every call: the request path asks it once per route and status."""
    from api.http import metrics

    asked: list[tuple[str, ...]] = []
    for metric in (metrics.REQUEST_LATENCY, metrics.REQUESTS, metrics.DB_QUERIES):
        original = metric.labels
        monkeypatch.setattr(metric, "labels", lambda *values, _o=original: asked.append(values) or _o(*values))
    monkeypatch.setattr(metrics, "_by_route", {})
    monkeypatch.setattr(metrics, "_by_status", {})
    labels = {"method": "GET", "route": "api/v1/ping", "status": "200"}
    before = _sample("http_requests_total", labels)
    for _ in range(3):
        assert Client().get("/api/v1/ping").status_code == 200
    assert len(asked) == 3  # latency, queries, count: once each for the three requests
    assert _sample("http_requests_total", labels) == before + 3
