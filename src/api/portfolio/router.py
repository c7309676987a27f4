"""Book-wide figures for admins: KPIs and aging per currency (never summed across currencies).

Computed live with set-based SQL over every installment: fine for an admin screen now, seconds
at Nivel 3 (see adapters.queries.portfolio); the large analysis runs as a Celery job.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from api.credits.router import business_today
from api.deps import services
from api.http.errors import ErrorOut
from api.http.money import MoneyOut, money_dict
from api.http.security import bearer, require_role
from domain.application.queries.portfolio import BookFigures
from domain.identity.model import Role

router = Router(tags=["portfolio"], auth=bearer)

ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut}


class CurrencyKpisOut(Schema):
    currency: str
    credits: int
    open_credits: int
    in_default: int
    outstanding: MoneyOut = Field(description="Pending of open (active, defaulted) credits.")
    collected: MoneyOut = Field(description="Everything paid on installments, net of reversals.")
    at_risk: MoneyOut = Field(description="Outstanding of open credits more than `at_risk_after_days` past due.")
    at_risk_ratio: str = Field(description="at_risk / outstanding, 4 decimals.")


class KpisOut(Schema):
    as_of: date
    at_risk_after_days: int
    data: list[CurrencyKpisOut]


class AgingBucketOut(Schema):
    bucket: str = Field(description="current, 1-30, 31-60, 61-90 or 90+ days past due.")
    credits: int
    outstanding: MoneyOut


class CurrencyAgingOut(Schema):
    currency: str
    buckets: list[AgingBucketOut]


class AgingOut(Schema):
    as_of: date
    data: list[CurrencyAgingOut]


def _book(request: HttpRequest) -> tuple[date, list[BookFigures]]:
    require_role(request, Role.ADMIN)
    today = business_today()
    return today, services().reads.portfolio.book(as_of=today)


@router.get("/kpis", response={200: KpisOut, **ERRORS})
def kpis(request: HttpRequest) -> dict[str, Any]:
    """Outstanding, collected and the at-risk ratio (PAR30) per currency, as of the business date."""
    today, book = _book(request)
    return {
        "as_of": today,
        "at_risk_after_days": services().reads.portfolio.at_risk_after_days,
        "data": [
            {
                "currency": b.currency,
                "credits": b.credits,
                "open_credits": b.open_credits,
                "in_default": b.in_default,
                "outstanding": money_dict(b.outstanding),
                "collected": money_dict(b.collected),
                "at_risk": money_dict(b.at_risk),
                "at_risk_ratio": f"{b.at_risk_ratio:f}",
            }
            for b in book
        ],
    }


@router.get("/aging", response={200: AgingOut, **ERRORS})
def aging(request: HttpRequest) -> dict[str, Any]:
    """Open credits and their outstanding per aging bucket (live days past due), per currency."""
    today, book = _book(request)
    return {
        "as_of": today,
        "data": [
            {
                "currency": b.currency,
                "buckets": [
                    {"bucket": row.bucket.value, "credits": row.credits, "outstanding": money_dict(row.outstanding)}
                    for row in b.aging
                ],
            }
            for b in book
        ],
    }
