"""Health: each dependency's state and one overall verdict (ok / degraded / down)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema, Status

from api.deps import services

router = Router(tags=["operations"])  # /health
ping_router = Router(tags=["operations"])  # /ping

# The database (the primary) is essential; the rest, read replicas included, degrade the service but
# do not stop it.
ESSENTIAL = {"database"}


class CheckOut(Schema):
    name: str
    status: str
    latency_ms: float
    detail: str = ""
    lag_seconds: float | None = None  # read replicas: how far behind the primary


class HealthOut(Schema):
    status: str
    checks: list[CheckOut]


@ping_router.get("", response=dict, auth=None, include_in_schema=False)
def ping(request: HttpRequest) -> dict:
    """Liveness only: no dependency is probed and nothing is read. It is also the benchmark's no-op,
    the floor every endpoint pays (middleware, routing, Ninja's response)."""
    return {}


@router.get("", response={200: HealthOut, 503: HealthOut}, auth=None)
def health(request: HttpRequest) -> Status:
    probes = services().health()
    down = {p.name for p in probes if p.status == "down"}
    degraded_names = {p.name for p in probes if p.status != "ok"}
    if down & ESSENTIAL:
        status = "down"
    elif degraded_names:
        status = "degraded"
    else:
        status = "ok"
    checks = [
        CheckOut(name=p.name, status=p.status, latency_ms=p.latency_ms, detail=p.detail, lag_seconds=p.lag_seconds)
        for p in probes
    ]
    return Status(503 if status == "down" else 200, HealthOut(status=status, checks=checks))
