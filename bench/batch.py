"""Book-wide jobs timed by bench/run.py, in a Django process on the bench database.

    python bench/batch.py portfolio-analysis

Runs the portfolio analysis the way its Celery task does (a `portfolio_analysis` job row claimed and
run to completion by `adapters.jobs.runners.analysis_job`: the same code, without the broker
round trip), over the whole book, and prints one JSON line with the seconds and the job's figures.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def portfolio_analysis() -> dict[str, object]:
    import django

    django.setup()
    from adapters.jobs.runners import analysis_job
    from adapters.jobs.store import JobStore
    from adapters.orm.jobs.models import Job
    from adapters.orm.wiring import ports

    p = ports()
    store = JobStore()
    as_of = p.clock.today()
    job_id = store.create(Job.Kind.PORTFOLIO_ANALYSIS.value, {"as_of": as_of.isoformat(), "currency": None})
    started = time.perf_counter()
    outcome = analysis_job(p, store).run(job_id)
    seconds = time.perf_counter() - started
    view = store.get(job_id)
    result = (view.result if view else None) or {}
    credits = result.get("credits") if isinstance(result, dict) else None
    return {
        "seconds": round(seconds, 1),
        "outcome": outcome,
        "note": f"{outcome}; {credits:,} credits" if isinstance(credits, int) else outcome,
    }


if __name__ == "__main__":
    if sys.argv[1:] != ["portfolio-analysis"]:
        raise SystemExit(__doc__)
    print(json.dumps(portfolio_analysis()))
