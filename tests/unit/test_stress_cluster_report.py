"""`make stress-cluster` writes its own section of RELIABILITY.md (stress/cluster.py): replacing it on
each run must leave the rest of the file, `make stress`'s report, exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from stress.cluster import BEGIN, END, TITLE, render_section, replace_section
from stress.core import Result

REPORT = """# Reliability

What `make stress` found when it attacked a running stack of its own.

| section | scenario | requests | 5xx | checks passed | checks failed | |
|---|---|---:|---:|---:|---:|---|
| Faults | Redis stopped in the middle of a load run | 4040 | 0 | 61 | 0 | ok |

## Faults

### Redis stopped in the middle of a load run

- before: 1000 requests, 0 failed
- <!-- a comment of its own -->

## Fixed because of this suite

- nothing yet
"""


def _section(text: str) -> str:
    return f"{TITLE}\n\n{text}\n"


def test_appended_at_the_end_when_the_report_has_none() -> None:
    updated = replace_section(REPORT, _section("first run"))

    assert updated.startswith(REPORT)
    assert updated[len(REPORT) :] == f"\n{BEGIN}\n{TITLE}\n\nfirst run\n{END}\n"


def test_replaced_in_place_with_everything_around_it_untouched() -> None:
    before, after = REPORT[:120], REPORT[120:]
    document = f"{before}{BEGIN}\n{TITLE}\n\nold figures\n{END}{after}"

    updated = replace_section(document, _section("new figures"))

    assert updated == f"{before}{BEGIN}\n{TITLE}\n\nnew figures\n{END}{after}"
    assert "old figures" not in updated


def test_a_second_run_replaces_the_first_one_and_nothing_else() -> None:
    once = replace_section(REPORT, _section("run 1"))
    twice = replace_section(once, _section("run 2"))

    assert twice == once.replace("run 1", "run 2")
    assert twice.count(BEGIN) == 1 and twice.count(END) == 1


def test_make_stress_rewriting_its_part_keeps_the_cluster_section() -> None:
    """The other way round: the stress report rewritten above the section, the section kept as it was."""
    document = replace_section(REPORT, _section("cluster figures"))
    rewritten = document.replace("4040", "5050")

    assert replace_section(rewritten, _section("cluster figures")) == rewritten


def test_an_empty_or_missing_report_gets_just_the_section() -> None:
    assert replace_section("", _section("x")) == f"{BEGIN}\n{TITLE}\n\nx\n{END}\n"


def test_a_report_without_a_final_newline_keeps_its_last_line() -> None:
    updated = replace_section("# Reliability\n\n- last line", _section("x"))

    assert updated.startswith("# Reliability\n\n- last line\n\n" + BEGIN)


def test_a_start_marker_without_its_end_is_refused_not_guessed() -> None:
    broken = REPORT + f"\n{BEGIN}\n{TITLE}\n\nhalf a section\n"

    with pytest.raises(ValueError, match="end"):
        replace_section(broken, _section("x"))


def test_the_rendered_section_has_its_verdict_table_and_figures() -> None:
    ok = Result("Cluster", "HAProxy reloaded twice", requests=100, checks_passed=5, details=["reload 1: 0.8 s"])
    failed = Result("Cluster", "pgbouncer restarted", requests=50, checks_failed=1, details=["FAILED: Retry-After"])

    text = render_section(
        [ok, failed], topology=["- 3 app nodes"], command="make stress-cluster", seconds=90, when="2026-01-01 00:00 UTC"
    )

    assert text.startswith(TITLE + "\n")
    assert "**FAILED**: 2 scenarios, 150 requests" in text
    assert "| HAProxy reloaded twice | 100 | 0 | 5 | 0 | ok |" in text
    assert "| pgbouncer restarted | 50 | 0 | 0 | 1 | **FAILED** |" in text
    assert "- 3 app nodes" in text and "- reload 1: 0.8 s" in text and "- FAILED: Retry-After" in text
    assert BEGIN not in text and END not in text
    updated = replace_section(REPORT, text)
    assert updated.startswith(REPORT) and updated.endswith(END + "\n")


def test_make_stress_keeps_the_cluster_section_of_the_file_it_rewrites() -> None:
    from stress.cluster import BEGIN, END, carried_section, replace_section

    old = f"# Reliability\n\nold body\n\n{BEGIN}\n## Cluster\nfigures\n{END}\n"
    assert carried_section(old) == "## Cluster\nfigures"
    assert carried_section("# Reliability\nno section\n") is None
    rewritten = replace_section("# Reliability\n\nnew body\n", carried_section(old) or "")
    assert rewritten.startswith("# Reliability\n\nnew body\n") and f"{BEGIN}\n## Cluster\nfigures\n{END}" in rewritten


# The failover drill's section (deploy/ha/report.py) goes through the same helpers with its own markers.
def test_another_sections_markers_leave_the_cluster_section_alone() -> None:
    from deploy.ha.report import HA_BEGIN, HA_END

    with_cluster = replace_section(REPORT, _section("cluster figures"))

    with_both = replace_section(with_cluster, "## HA\n\ndrill 1", begin=HA_BEGIN, end=HA_END)
    again = replace_section(with_both, "## HA\n\ndrill 2", begin=HA_BEGIN, end=HA_END)

    assert with_both == with_cluster + f"\n{HA_BEGIN}\n## HA\n\ndrill 1\n{HA_END}\n"
    assert again == with_both.replace("drill 1", "drill 2")
    assert again.count(BEGIN) == 1 and again.count(HA_BEGIN) == 1
    # and the cluster's run, after the drill's, replaces only its own
    cluster_again = replace_section(again, _section("cluster figures 2"))
    assert cluster_again == again.replace("cluster figures", "cluster figures 2")


def test_another_sections_start_marker_without_its_end_is_refused() -> None:
    from deploy.ha.report import HA_BEGIN, HA_END

    with pytest.raises(ValueError, match="end"):
        replace_section(REPORT + f"\n{HA_BEGIN}\nhalf\n", "x", begin=HA_BEGIN, end=HA_END)


def test_make_stress_carries_the_drills_sections_over() -> None:
    from stress.__main__ import CARRIED
    from stress.cluster import carried_section

    old = replace_section(REPORT, _section("cluster figures"))
    old = replace_section(old, "## HA\n\ndrill", begin=CARRIED[1][0], end=CARRIED[1][1])
    old = replace_section(old, "## Restore\n\ndrill", begin=CARRIED[2][0], end=CARRIED[2][1])
    rewritten = "# Reliability\n\nnew body\n"
    for begin, end in CARRIED:
        kept = carried_section(old, begin=begin, end=end)
        assert kept
        rewritten = replace_section(rewritten, kept, begin=begin, end=end)

    assert rewritten.startswith("# Reliability\n\nnew body\n")
    assert f"{BEGIN}\n{TITLE}\n\ncluster figures\n{END}" in rewritten
    assert f"{CARRIED[1][0]}\n## HA\n\ndrill\n{CARRIED[1][1]}" in rewritten
    assert f"{CARRIED[2][0]}\n## Restore\n\ndrill\n{CARRIED[2][1]}" in rewritten
    assert carried_section(REPORT, begin=CARRIED[1][0], end=CARRIED[1][1]) is None


def test_the_drills_section_has_its_scenarios_and_figures(tmp_path: Path) -> None:
    from deploy.ha.report import HA_BEGIN, HA_END, render_section, write_section
    from deploy.ha.report import TITLE as HA_TITLE

    text = render_section(
        {"network partition": {"payments lost / doubled": "0 / 0", "check_book": "pass"}},
        ok=True,
        checks=(40, 0),
        topology="3 etcd, 2 Patroni",
        command="python -m deploy.ha failover-drill",
        when="2026-01-01 00:00 UTC",
        seconds=120,
    )
    assert text.startswith(HA_TITLE + "\n") and "**PASSED**: 1 scenarios, 40 checks passed, 0 failed" in text
    assert "### network partition" in text and "| payments lost / doubled | 0 / 0 |" in text
    assert "- topology: 3 etcd, 2 Patroni" in text and "`python -m deploy.ha failover-drill`" in text

    path = tmp_path / "RELIABILITY.md"
    path.write_text(REPORT, encoding="utf-8")
    write_section(path, text)
    write_section(path, text.replace("40 checks", "41 checks"))
    written = path.read_text(encoding="utf-8")
    assert written.startswith(REPORT) and written.count(HA_BEGIN) == 1 and written.endswith(HA_END + "\n")
    assert "41 checks" in written and "40 checks" not in written


def test_the_restore_drills_section_says_what_came_back_and_fails_on_a_lost_payment(tmp_path: Path) -> None:
    from deploy.backup.drill import DrillResult, Restored
    from deploy.backup.report import RESTORE_BEGIN, RESTORE_END, render_section, write

    before, after = ["p1", "p2"], ["p3"]
    point = Restored("2026-01-01 00:00:01+00", expected={"p0", "p1", "p2"}, payments={"p0", "p1", "p2"})
    latest = Restored("2026-01-01 00:00:09+00", expected={"p0", "p1", "p2", "p3"}, payments={"p0", "p1", "p2", "p3"})
    point.check_book_ok = latest.check_book_ok = True
    result = DrillResult(before=before, after=after, point=point, latest=latest)
    text = render_section(result, command="python -m deploy.backup drill", when="2026-01-01 00:00 UTC")
    assert "**PASSED**, 2026-01-01 00:00 UTC" in text and "2 payments through the app's use case" in text
    assert "3 restored, 3 in the book at the target (0 lost, 0 extra); check_book ok" in text

    point.payments = {"p0", "p1"}  # a payment booked before the target time did not come back
    failed = render_section(result, command="python -m deploy.backup drill", when="2026-01-01 00:00 UTC")
    assert "**FAILED**" in failed and "- FAILED: restore to the point in time: 1 payments lost, 0 extra" in failed

    path = tmp_path / "RELIABILITY.md"
    path.write_text(REPORT, encoding="utf-8")
    write(path, text)
    write(path, failed)
    document = path.read_text(encoding="utf-8")
    assert document.startswith(REPORT) and document.count(RESTORE_BEGIN) == 1 and document.count(RESTORE_END) == 1
    assert "**FAILED**" in document and "**PASSED**" not in document
