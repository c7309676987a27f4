"""One bad value must not stop the book (issue 11 §6): a credit the nightly run cannot write is set
aside, with its id and the database's reason on the job row and in the log; every other credit is
processed; /api/v1/health says degraded; the next run tries it again.

The bad credit is the issue's: an installment adjusted by almost 10^16 (the most numeric(20,4)
holds), so once it is 90 days late what it owes overflows the columns the run writes."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from adapters.jobs.runners import run_nightly
from adapters.jobs.store import JobStore
from adapters.orm.credits.models import Installment
from adapters.orm.jobs.models import Job
from config.bootstrap import build_ports
from domain.credits.model import CreditState
from tests.builders import business_today, open_credit, reload
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

HUGE = Decimal("9999999999999000.0000")


def _fee_transactions(credit_id: object) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ledger_transaction WHERE credit_id = %s AND type = 'late_fee'", [credit_id]
        )
        return cursor.fetchone()[0]


def _nightly_check(client: Client) -> tuple[str, dict]:
    body = client.get("/api/v1/health").json()
    return body["status"], next(c for c in body["checks"] if c["name"] == "nightly")


@pytest.fixture
def book(settings: object) -> dict:
    settings.NIGHTLY_CHUNK_SIZE = 1000  # type: ignore[attr-defined]  # the whole book in one chunk: it fails whole
    today = business_today()
    agent = UserFactory(role="agent")
    credits = [
        open_credit(UserFactory(), agent, price=f"{1200 + 100 * n}.00", on=today - timedelta(days=130))
        for n in range(5)
    ]
    bad = credits[2]
    Installment.objects.filter(credit_id=bad.id, number=1).update(adjustment=HUGE)
    return {"today": today, "credits": credits, "bad": bad, "good": [c for c in credits if c.id != bad.id]}


def test_a_credit_that_cannot_be_written_is_set_aside_and_the_book_goes_on(
    book: dict, caplog: pytest.LogCaptureFixture
) -> None:
    bad, today = book["bad"], book["today"]
    with caplog.at_level(logging.ERROR, logger="jobs"):
        result = run_nightly(build_ports(), today)

    # The rest of the book was processed: fees charged and booked, defaulted (first installment 100 days late).
    for credit in book["good"]:
        after = reload(credit)
        assert after.state is CreditState.DEFAULTED, credit.id
        assert after.installments[0].late_fee.is_positive and _fee_transactions(credit.id) == 1
    # The bad one is as it was, and listed with the database's reason.
    untouched = reload(bad)
    assert untouched.state is CreditState.ACTIVE and untouched.installments[0].late_fee.is_zero
    assert _fee_transactions(bad.id) == 0
    (aside,) = result["set_aside"]
    assert aside["credit_id"] == str(bad.id) and "numeric field overflow" in aside["reason"]
    assert result["set_aside_total"] == 1 and result["changed"] == len(book["good"])

    job = JobStore().last_succeeded(Job.Kind.NIGHTLY_DELINQUENCY.value)
    assert job is not None and job.result is not None and job.result["set_aside"] == [aside]
    # An operator sees it on the job over HTTP too.
    admin, client = UserFactory(role="admin"), Client()
    token = client.post(
        "/api/v1/auth/token", {"username": admin.username, "password": PASSWORD}, content_type="application/json"
    ).json()["access_token"]
    shown = client.get(f"/api/v1/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert shown["state"] == "succeeded" and shown["result"]["set_aside"] == [aside]
    logged = [r.getMessage() for r in caplog.records if r.name == "jobs" and r.levelno >= logging.ERROR]
    assert any(str(bad.id) in line and "numeric field overflow" in line for line in logged), logged


def test_health_is_degraded_until_a_run_gets_the_credit_through(book: dict) -> None:
    bad, today = book["bad"], book["today"]
    client = Client()
    status, check = _nightly_check(client)
    assert check["status"] == "ok"

    run_nightly(build_ports(), today)
    status, check = _nightly_check(client)
    assert status == "degraded" and check["status"] == "degraded"
    assert str(bad.id) in check["detail"]

    # The next run tries it again (nothing of it was written): still refused, still listed.
    again = run_nightly(build_ports(), today)
    assert [a["credit_id"] for a in again["set_aside"]] == [str(bad.id)] and again["changed"] == 0

    # Once the value is corrected, the next run gets it through, and health is ok again.
    Installment.objects.filter(credit_id=bad.id, number=1).update(adjustment=0)
    fixed = run_nightly(build_ports(), today)
    assert fixed["set_aside"] == [] and fixed["changed"] == 1
    assert reload(bad).state is CreditState.DEFAULTED and _fee_transactions(bad.id) == 1
    assert _nightly_check(client)[1]["status"] == "ok"


def test_a_failure_the_credit_is_not_to_blame_for_still_stops_the_run(book: dict) -> None:
    """Only what the database refuses about a credit's values is set aside; a broken statement (here
    a missing table) is not a credit's fault: the run fails and is retried whole."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE credits_event RENAME TO credits_event_gone")
    with pytest.raises(Exception, match="credits_event"):
        run_nightly(build_ports(), book["today"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM jobs_job WHERE kind = 'nightly_delinquency'")
        assert cursor.fetchall() == [("failed",)]


def test_several_bad_credits_over_several_chunks_are_each_found(settings: object) -> None:
    settings.NIGHTLY_CHUNK_SIZE = 3  # type: ignore[attr-defined]
    today = business_today()
    agent = UserFactory(role="agent")
    credits = [open_credit(UserFactory(), agent, price="1500.00", on=today - timedelta(days=130)) for _ in range(8)]
    bad = {credits[1].id, credits[5].id, credits[6].id}
    Installment.objects.filter(credit_id__in=bad, number=1).update(adjustment=HUGE)

    result = run_nightly(build_ports(), today)
    assert {a["credit_id"] for a in result["set_aside"]} == {str(b) for b in bad}
    assert result["changed"] == len(credits) - len(bad)
    for credit in credits:
        assert (reload(credit).state is CreditState.DEFAULTED) is (credit.id not in bad), credit.id


def test_a_credit_the_per_credit_path_cannot_write_is_set_aside_too(book: dict) -> None:
    """A payment lands on the bad credit between the plan and its application: the SQL leaves it to
    the domain's per-credit path, which the database refuses as well."""
    from adapters.jobs.nightly import NightlyResult
    from adapters.jobs.runners import nightly_job
    from tests.builders import pay

    bad, today = book["bad"], book["today"]
    job = nightly_job(build_ports())
    params = job.params(today, build_ports().clock.now())
    job.prepare(params)
    pay(bad, "50.00", on=today)
    result = NightlyResult(as_of=today)
    conflicts = job.apply(params, result)
    assert conflicts == [bad.id]
    job.finish(today, conflicts, result)
    job.clean_up()
    assert [credit_id for credit_id, _ in result.set_aside] == [bad.id]
    assert result.set_aside[0][1].startswith("per-credit path: DataError: numeric field overflow")
    assert result.changed == len(book["good"]) and reload(bad).state is CreditState.ACTIVE
