"""The capacity model (bench/capacity.py): pure arithmetic on the benchmark's results, checked on
made-up figures whose answers are known, and once on the committed results and reference."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from bench import capacity
from bench.capacity import Cost

SINGLES = {
    "summary_cached": Cost(600, 0, 60),
    "detail_cached": Cost(700, 0, 80),
    "credits_first": Cost(1400, 700, 0),
    "due_today": Cost(1000, 400, 0),
    "payment": Cost(2500, 1100, 80),
    "transactions_month": Cost(1700, 900, 0),
}


def _results(level: int, mix_rps: float, *, workers: int = 2, cores: int = 2) -> dict[str, Any]:
    """A results file as bench/run.py writes it; every endpoint exactly at the model's rps."""

    def run(cost: Cost, rps: float) -> dict[str, Any]:
        return {"rps": rps, "cpu_us_per_request": {"app": cost.app, "postgres": cost.postgres, "redis": cost.redis}}

    endpoints = {
        name: run(c, capacity.predicted_rps(c, workers=workers, cores=cores, contention=0.0))
        for name, c in SINGLES.items()
    }
    reads, writes = capacity.mix_costs(SINGLES)
    endpoints["mix"] = run(capacity.total([reads, writes]), mix_rps)
    return {
        "level": level,
        "settings": {"workers": workers},
        "machine": {"cores": cores},
        "endpoints": endpoints,
        "book": {"size_gib": 1.0, "rows": {"identity_user": 1000, "credits_credit": 5000}},
    }


def test_the_mix_costs_the_weighted_sum_and_payments_are_its_writes() -> None:
    reads, writes = capacity.mix_costs(SINGLES)
    assert writes == Cost(250, 110, 8)  # payments are 10 % of the mix
    # 40 % cached summary, 20 % cached detail, 15 % a list page, 10 % due today, 5 % transactions
    assert reads.app == pytest.approx(0.4 * 600 + 0.2 * 700 + 0.15 * 1400 + 0.1 * 1000 + 0.05 * 1700)
    assert reads.postgres == pytest.approx(0.15 * 700 + 0.1 * 400 + 0.05 * 900)


def test_the_mixs_own_list_pools_are_used_when_measured_and_the_first_page_stands_in_otherwise() -> None:
    own = Cost(900, 300, 0)
    agents = Cost(1100, 500, 0)
    measured = {**SINGLES, "credits_own": own, "credits_agent": agents}
    reads, _ = capacity.mix_costs(measured)
    stood_in, _ = capacity.mix_costs(SINGLES)
    # 10 % the client's own list, 5 % the agent's, in place of 15 % of the admin's first page
    assert reads.app - stood_in.app == pytest.approx(0.1 * 900 + 0.05 * 1100 - 0.15 * 1400)
    assert reads.postgres - stood_in.postgres == pytest.approx(0.1 * 300 + 0.05 * 500 - 0.15 * 700)
    assert capacity.measured_as("credits_own", measured) == "credits_own"
    assert capacity.measured_as("credits_own", SINGLES) == "credits_first"


def test_the_plan_sizes_from_the_mix_as_measured_split_as_its_endpoints_are() -> None:
    reads, writes = capacity.mix_costs(SINGLES)
    summed = capacity.total([reads, writes])
    measured = Cost(summed.app * 1.3, summed.postgres * 1.5, summed.redis)
    sized_reads, sized_writes = capacity.sized_mix({**SINGLES, "mix": measured})
    sized = capacity.total([sized_reads, sized_writes])
    assert (sized.app, sized.postgres, sized.redis) == pytest.approx((measured.app, measured.postgres, measured.redis))
    assert sized_writes.postgres / sized_reads.postgres == pytest.approx(writes.postgres / reads.postgres)
    assert capacity.sized_mix(SINGLES) == (reads, writes)  # no mix run: the weighted sum


def test_workers_bound_throughput_until_the_cores_do() -> None:
    cost = Cost(700, 200, 100)  # a worker is busy 1 ms per request
    assert capacity.predicted_rps(cost, workers=4, cores=16, contention=0.0) == pytest.approx(4000)
    assert capacity.predicted_rps(cost, workers=32, cores=16, contention=0.0) == pytest.approx(16000)
    # with contention, 16 busy cores of 16 each do 1 - k of their work
    assert capacity.predicted_rps(cost, workers=16, cores=16, contention=0.25) == pytest.approx(12000)


def _reference(contention: float) -> dict[str, Any]:
    workers = [2, 4, 8, 12]
    cost = Cost(800, 300, 0)
    endpoints = {
        "x": {
            str(w): {
                "rps": capacity.predicted_rps(cost, workers=w, cores=16, contention=contention),
                "cores": {"app": 1.0, "postgres": 0.5, "redis": 0.0},
            }
            for w in workers
        }
    }
    return {"workers": workers, "machine": {"cores": 16}, "endpoints": endpoints}


@pytest.mark.parametrize("k", [0.0, 0.15, 0.3])
def test_contention_is_fitted_back_from_throughput_that_followed_it(k: float) -> None:
    reference = _reference(k)
    assert capacity.fit_contention(reference) == pytest.approx(k, abs=0.002)
    assert all(c.within and abs(c.error) < 0.01 for c in capacity.check_reference(reference, k))


def test_a_prediction_off_by_more_than_a_fifth_is_flagged() -> None:
    assert capacity.Check("x", 121, 100).within is False
    assert capacity.Check("x", 81, 100).within is True


def test_the_two_core_mix_check_uses_only_the_single_endpoint_runs() -> None:
    reads, writes = capacity.mix_costs(SINGLES)
    exact = capacity.predicted_rps(capacity.total([reads, writes]), workers=2, cores=2, contention=0.0)
    assert capacity.check_two_core_mix(_results(1, exact), 0.0).error == pytest.approx(0, abs=1e-9)
    assert capacity.check_two_core_mix(_results(1, exact / 2), 0.0).error == pytest.approx(1.0)


def test_the_plan_grows_with_the_load_and_shrinks_with_the_headroom() -> None:
    reads, writes = capacity.mix_costs(SINGLES)

    def make(qps: float, utilisation: float) -> capacity.Plan:
        return capacity.plan(
            qps, 3, reads, writes, book_gib=60, active_entries=10**6, utilisation=utilisation,
            contention=0.0, write_share=0.1,
        )  # fmt: skip

    small, big = make(1000, 0.5), make(10_000, 0.5)
    assert big.app_cores == pytest.approx(10 * small.app_cores)
    assert big.pg_write_cores == pytest.approx(10 * 0.110 / 0.5)  # 10,000/s x 10 % x 1.1 ms / 50 %
    assert make(10_000, 1.0).cores == pytest.approx(big.cores / 2)
    assert big.payments_per_second == 1000
    assert big.app_workers >= math.ceil(big.app_cores)  # a worker also waits on PostgreSQL and Redis
    assert big.pg_ram_gib >= 60  # the book in memory
    assert big.machines(16) == math.ceil(big.cores / 16) + 1  # a spare: losing one node keeps the load


def test_one_primarys_payment_ceiling_is_its_cores_over_postgres_per_payment() -> None:
    payment = Cost(2500, 1000, 0)
    assert capacity.primary_ceiling(payment, 16, 0.5, 0.0) == pytest.approx(8000)


def test_the_plan_from_the_committed_measurements_prints_the_seeds_table_and_holds_its_checks() -> None:
    """The real inputs: bench/results and the 16-core reference in the repository."""
    text = capacity.render(capacity.parse(["--qps", "10000", "--level", "3"]))
    seed_rows = re.findall(r"^\| (\d) \| ([\d,]+) \|", text, re.MULTILINE)
    assert seed_rows == [("1", "100"), ("2", "1,000"), ("3", "10,000")]
    # Every prediction within 20 % of what was measured, but the mix from its single-endpoint runs,
    # named and open: the runs of 2026-12-08 (AMD EPYC, both levels loaded fresh) measured the mix
    # 42 % (level 1) and 35 % (level 2) below what its endpoints alone predict. Not the book, then:
    # the mix costs more than its parts on this processor (BENCHMARKS.md, "Redis replies read
    # later"); the plan sizes from the mix as measured (`sized_mix`). Issue 15's note.
    outside = re.findall(r"^\| ([^|]+) \|[^\n]*\*\*outside\*\*", text, re.MULTILINE)
    mix_checks = {f"2 cores, level {n}, mix from single-endpoint runs" for n in (1, 2, 3)}
    assert {what.strip() for what in outside} <= mix_checks
    checks = re.findall(r"^\| (16 cores|2 cores)[^|]*\| [\d,]+ \| [\d,]+ \| [+-]\d+% \|$", text, re.MULTILINE)
    assert len(checks) >= 21
