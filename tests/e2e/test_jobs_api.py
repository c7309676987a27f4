"""The jobs endpoints over HTTP: who may use them, what a job looks like before and after it runs
(the runner called in-process here; tests/integration/test_jobs_worker.py runs it in a worker)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client

from adapters.jobs.analysis import CreditFiguresOfCurrency, PortfolioAnalysisJob
from adapters.jobs.runners import run_nightly
from adapters.jobs.store import JobStore
from config.bootstrap import build_ports
from tests.builders import business_today, open_credit
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


@pytest.fixture
def as_role(client: Client, login: Callable[..., dict]) -> Callable[[str], dict[str, str]]:
    def headers(role: str) -> dict[str, str]:
        user = UserFactory(role=role)
        return {"HTTP_AUTHORIZATION": f"Bearer {login(user.username)['access_token']}"}

    return headers


def _post(client: Client, headers: dict[str, str], body: dict) -> object:
    return client.post("/api/v1/jobs/portfolio-analysis", body, content_type="application/json", **headers)


@pytest.mark.parametrize("role", ["client", "agent"])
def test_only_admins_use_jobs(client: Client, as_role: Callable, role: str) -> None:
    job_id = JobStore().create("portfolio_analysis", {"as_of": "2026-01-01", "currency": None})
    headers = as_role(role)
    for response in (
        _post(client, headers, {}),
        client.get(f"/api/v1/jobs/{job_id}", **headers),
        client.get(f"/api/v1/jobs/{job_id}/result.csv", **headers),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_without_a_token_it_is_401(client: Client) -> None:
    assert client.post("/api/v1/jobs/portfolio-analysis", {}, content_type="application/json").status_code == 401
    assert client.get(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 401


def test_unknown_job_is_404(client: Client, as_role: Callable) -> None:
    headers = as_role("admin")
    for path in (f"/api/v1/jobs/{uuid.uuid4()}", f"/api/v1/jobs/{uuid.uuid4()}/result.csv"):
        response = client.get(path, **headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_bad_input_is_422(client: Client, as_role: Callable) -> None:
    headers = as_role("admin")
    assert _post(client, headers, {"currency": "cop"}).status_code == 422
    assert _post(client, headers, {"currency": "QQQ"}).status_code == 422  # not in the catalog
    assert _post(client, headers, {"as_of": "yesterday"}).status_code == 422


def test_a_job_from_request_to_csv(client: Client, as_role: Callable) -> None:
    today = business_today()
    agent = UserFactory(role="agent")
    for n in range(3):
        open_credit(UserFactory(), agent, price=f"{500 + n}.00", on=today - timedelta(days=70 * n))
    open_credit(UserFactory(), agent, price="99.00", currency="USD", on=today - timedelta(days=40))
    headers = as_role("admin")

    started = _post(client, headers, {"currency": "COP"})
    assert started.status_code == 202
    body = started.json()
    assert started["Location"] == f"/api/v1/jobs/{body['id']}"
    assert body["state"] == "pending" and body["kind"] == "portfolio_analysis"
    assert body["params"] == {"as_of": today.isoformat(), "currency": "COP"}
    assert body["progress"] == {"done": 0, "total": 0, "fraction": "0.0000"}
    assert body["result"] is None and body["result_csv"] is None
    not_yet = client.get(f"/api/v1/jobs/{body['id']}/result.csv", **headers)
    assert not_yet.status_code == 409

    # What the worker does with the message (in-process here, chunks of 2).
    policy = build_ports().policies.delinquency
    job = PortfolioAnalysisJob(JobStore(), lambda code: CreditFiguresOfCurrency(policy, code), chunk_size=2)
    assert job.run(uuid.UUID(body["id"])) == "succeeded"
    assert job.run(uuid.UUID(body["id"])) == "skipped"

    done = client.get(f"/api/v1/jobs/{body['id']}", **headers).json()
    assert done["state"] == "succeeded" and done["progress"] == {"done": 3, "total": 3, "fraction": "1.0000"}
    result = done["result"]
    assert [k["currency"] for k in result["kpis"]] == ["COP"] and result["kpis"][0]["credits"] == 3
    assert result["kpis"][0]["in_default"] == 1  # opened 140 days ago: first installment 110 days late
    assert [b["bucket"] for b in result["kpis"][0]["aging"]] == ["current", "1-30", "31-60", "61-90", "90+"]
    assert len(result["top_debtors"]["COP"]) == 3
    download = client.get(done["result_csv"], **headers)
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="portfolio_analysis-')
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[0] == ["section", "currency", "key", "value", "credit_id", "days_past_due"]
    assert ["kpi", "COP", "credits", "3", "", ""] in rows
    debtors = {r[2] for r in rows if r[0] == "top_debtor"}
    assert debtors == {d["client_id"] for d in result["top_debtors"]["COP"]}


def test_the_csv_names_each_top_debtors_credit(client: Client, as_role: Callable) -> None:
    """One client with several credits is several top debtors: each row says which credit (issue 11
    §4: the CSV showed the same client id five times and no credit id)."""
    today = business_today()
    agent, debtor = UserFactory(role="agent"), UserFactory()
    credits = [open_credit(debtor, agent, price=f"{900 + n}.00", on=today - timedelta(days=40 * n)) for n in range(3)]
    open_credit(UserFactory(), agent, price="100.00")
    headers = as_role("admin")
    job_id = _post(client, headers, {"currency": "COP"}).json()["id"]
    policy = build_ports().policies.delinquency
    assert (
        PortfolioAnalysisJob(JobStore(), lambda code: CreditFiguresOfCurrency(policy, code)).run(uuid.UUID(job_id))
        == "succeeded"
    )

    result = client.get(f"/api/v1/jobs/{job_id}", **headers).json()["result"]
    rows = list(csv.reader(io.StringIO(client.get(f"/api/v1/jobs/{job_id}/result.csv", **headers).content.decode())))
    header, debtors = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows if r[0] == "top_debtor"]
    assert header == ["section", "currency", "key", "value", "credit_id", "days_past_due"]
    assert [(d["key"], d["credit_id"], d["value"], int(d["days_past_due"])) for d in debtors] == [
        (t["client_id"], t["credit_id"], t["pending"]["amount"], t["days_past_due"])
        for t in result["top_debtors"]["COP"]
    ]
    mine = [d for d in debtors if d["key"] == str(debtor.public_id)]
    assert sorted(d["credit_id"] for d in mine) == sorted(str(c.id) for c in credits)


def test_nightly_runs_are_jobs_too(client: Client, as_role: Callable) -> None:
    run_nightly(build_ports(), business_today())
    job = JobStore().last_succeeded("nightly_delinquency")
    assert job is not None
    body = client.get(f"/api/v1/jobs/{job.id}", **as_role("admin")).json()
    assert body["kind"] == "nightly_delinquency" and body["state"] == "succeeded"
    assert body["result"]["as_of"] == business_today().isoformat() and body["result_csv"] is None
