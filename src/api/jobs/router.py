"""Background jobs for admins: start a portfolio analysis, follow its progress, fetch its result.

`POST /jobs/portfolio-analysis` answers 202 with the job at once (a Celery worker runs it);
`GET /jobs/{id}` shows its state, progress (done / total) and, once succeeded, the result;
`GET /jobs/{id}/result.csv` downloads the result. Nightly runs and partition upkeep are jobs too
and can be read the same way. Admins only: other roles get 403, an unknown id 404.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from api.deps import services
from api.http.errors import ErrorOut
from api.http.money import MoneyOut
from api.http.request_model import RequestModel
from api.http.security import bearer, require_role
from domain.application.queries.jobs import JobView, QueueUnavailable
from domain.identity.model import Role
from domain.shared.errors import Conflict, NotFound

router = Router(tags=["jobs"], auth=bearer)

ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class PortfolioAnalysisIn(RequestModel):
    as_of: date | None = Field(None, description="Figures as of this business date (default: today).")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="Only credits in this currency.")


class ProgressOut(Schema):
    done: int
    total: int
    fraction: str = Field(description="done / total, 4 decimals.")


class AnalysisAgingOut(Schema):
    bucket: str
    credits: int
    outstanding: MoneyOut


class AnalysisKpisOut(Schema):
    currency: str
    credits: int
    open_credits: int
    in_default: int
    outstanding: MoneyOut
    collected: MoneyOut
    at_risk: MoneyOut
    at_risk_ratio: str
    aging: list[AnalysisAgingOut]


class DebtorOut(Schema):
    client_id: UUID | None
    credit_id: UUID
    pending: MoneyOut
    days_past_due: int


class AnalysisResultOut(Schema):
    as_of: date
    currency: str | None
    at_risk_after_days: int
    credits_analysed: int
    kpis: list[AnalysisKpisOut]
    top_debtors: dict[str, list[DebtorOut]] = Field(description="Per currency, the largest pending balances.")


class JobOut(Schema):
    id: UUID
    kind: str
    state: str = Field(description="pending, running, succeeded or failed.")
    progress: ProgressOut
    params: dict[str, Any]
    result: AnalysisResultOut | dict[str, Any] | None = Field(description="Once succeeded.")
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_csv: str | None = Field(description="Where to download the result as CSV, once available.")


def job_body(job: JobView) -> dict[str, Any]:
    progress = job.progress
    # Before the worker has counted the book there is nothing done yet (JobProgress says 1 for 0/0).
    fraction = progress.fraction if job.finished or progress.total else 0
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "progress": {"done": progress.done, "total": progress.total, "fraction": f"{fraction:.4f}"},
        "params": job.params,
        "result": job.result if job.state == "succeeded" else None,
        "error": job.error or None,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "result_csv": f"/api/v1/jobs/{job.id}/result.csv" if job.has_csv else None,
    }


def _job(request: HttpRequest, job_id: UUID) -> JobView:
    require_role(request, Role.ADMIN)
    job = services().jobs.get(job_id)
    if job is None:
        raise NotFound("No such job.", details={"job_id": str(job_id)})
    return job


@router.post("/portfolio-analysis", response={202: JobOut, 422: ErrorOut, 503: ErrorOut, **ERRORS})
def start_portfolio_analysis(request: HttpRequest, response: HttpResponse, body: PortfolioAnalysisIn) -> Status:
    """Start the book-wide analysis (KPIs, aging, top debtors per currency) as a background job."""
    principal = require_role(request, Role.ADMIN)
    if body.currency is not None:
        services().currency(body.currency)  # 422 for a currency the catalog does not know
    as_of = body.as_of or services().ports.clock.today()
    try:
        job = services().jobs.start_portfolio_analysis(
            requested_by=principal.user_id, as_of=as_of, currency=body.currency
        )
    except QueueUnavailable as exc:
        raise HttpError(503, str(exc)) from exc
    response["Location"] = f"/api/v1/jobs/{job.id}"
    return Status(202, job_body(job))


@router.get("/{job_id}", response={200: JobOut, **ERRORS})
def get_job(request: HttpRequest, job_id: UUID) -> Any:
    """A job's state and progress; its result once it succeeded."""
    return job_body(_job(request, job_id))


@router.get("/{job_id}/result.csv", response={200: None, 409: ErrorOut, **ERRORS})
def job_csv(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """The result as CSV (section, currency, key, value, credit_id, days_past_due), once the job
    succeeded. A top debtor's row: key = the client's id, value = what the credit owes, then the credit."""
    job = _job(request, job_id)
    found = services().jobs.csv(job.id)
    if found is None:
        raise NotFound("No such job.", details={"job_id": str(job_id)})
    state, text = found
    if state != "succeeded":
        raise Conflict("The job has not succeeded yet.", details={"state": state})
    if not text:
        raise NotFound("This job has no CSV result.", details={"job_id": str(job_id)})
    reply = HttpResponse(text, content_type="text/csv; charset=utf-8")
    reply["Content-Disposition"] = f'attachment; filename="{job.kind}-{job.id}.csv"'
    return reply
