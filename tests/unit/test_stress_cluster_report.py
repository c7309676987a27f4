"""`make stress-cluster` writes its own section of RELIABILITY.md (stress/cluster.py): replacing it on
each run must leave the rest of the file, `make stress`'s report, exactly as it was."""

from __future__ import annotations

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
