"""The restore drill (deploy/backup/drill.py) for real: a primary of its own archiving its WAL with
pgBackRest, a full backup, 1,000 payments through the app's use case, a target time, an incremental
backup, 100 payments more, the primary lost; restored to the target time into a scratch cluster:
exactly the payments booked before it (ids compared) and `check_book` passes; restored to after the
last batch through the incremental backup: every payment.

Needs pgBackRest (a Debian package, like HAProxy for the cluster's test): without it the test fails
saying so (`make cluster` and `make test-cluster` install it), it is never skipped.
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.backup.drill import DrillResult, run_drill
from deploy.backup.repo import BackupError, Repo, parse_target_time, pgbackrest_path

pytestmark = [pytest.mark.integration]

PAYMENTS = 1000
MORE = 100


@pytest.fixture(scope="module")
def drill(request: pytest.FixtureRequest) -> DrillResult:
    if shutil.which("pgbackrest") is None:
        pytest.fail(
            "pgbackrest is not installed: `make cluster` (and `make test-cluster`) install it "
            "(apt-get install -y pgbackrest)",
            pytrace=False,
        )
    lines: list[str] = []
    result = run_drill(payments=PAYMENTS, more=MORE, out=lines.append)
    # The figures on the terminal, whatever the capture mode (-q, no -s).
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\nrestore drill:", *lines, "figures:", *result.figures(), sep="\n  ", flush=True)
    return result


def test_the_point_in_time_restore_brings_back_exactly_the_payments_booked_before_it(drill: DrillResult) -> None:
    point = drill.point
    assert point is not None and point.run is not None
    assert len(drill.before) == PAYMENTS and len(set(drill.before)) == PAYMENTS
    assert len(drill.after) == MORE
    # Ids, not counts: the book at the target time (the demo book's payments and the drill's 1,000)...
    assert point.payments == point.expected
    assert set(drill.before) <= point.payments
    # ...and none of the 100 booked after it.
    assert not set(drill.after) & point.payments
    assert len(point.expected) == len(set(point.expected))
    # pgBackRest picked the full backup: the incremental ended after the target time.
    assert drill.full is not None and point.run.label == drill.full.label
    assert any("recovery stopping before commit" in line for line in point.recovery), point.recovery


def test_the_restored_book_passes_check_book(drill: DrillResult) -> None:
    assert drill.point is not None
    assert drill.point.check_book_ok, drill.point.check_book
    assert "The book is consistent" in drill.point.check_book


def test_the_incremental_backup_restores_every_payment(drill: DrillResult) -> None:
    latest = drill.latest
    assert latest is not None and latest.run is not None
    assert drill.incr is not None and drill.incr.type == "incr"
    assert latest.run.label == drill.incr.label  # the incremental, applied on its full backup
    assert latest.payments == latest.expected
    assert set(drill.before) | set(drill.after) <= latest.payments
    assert latest.check_book_ok, latest.check_book


def test_the_drill_measured_every_step_and_left_nothing_behind(drill: DrillResult) -> None:
    assert drill.problems() == []
    assert drill.full is not None and drill.incr is not None
    assert drill.full.type == "full" and drill.incr.delta < drill.full.delta  # incremental: the changes only
    assert drill.full.stored < drill.full.size  # compressed in the repository
    for run in (drill.full, drill.incr):
        assert run.seconds > 0
    assert drill.seconds["pay_before"] > 0 and drill.seconds["total"] > 0
    assert drill.run_dir and not Path(drill.run_dir).exists(), "the drill's folder is still there"


def test_without_pgbackrest_it_is_an_error_naming_what_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(BackupError, match="make cluster"):
        pgbackrest_path()


def test_the_configuration_states_retention_compression_and_fills_every_placeholder(tmp_path: Path) -> None:
    repo = Repo(root=tmp_path, pg_data=tmp_path / "data", socket_dir=tmp_path, pg_port=5432, user=None)
    text = repo.render()
    assert "$" not in text
    settings = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["repo1-retention-full"] == "2" and settings["repo1-retention-full-type"] == "count"
    assert settings["repo1-retention-archive-type"] == "full" and settings["repo1-retention-archive"] == "2"
    assert settings["compress-type"] == "zst"
    assert settings["repo1-path"] == str(tmp_path / "repo") and settings["pg1-path"] == str(tmp_path / "data")
    assert settings["lock-path"] == str(tmp_path / "lock")  # never /tmp/pgbackrest, shared by every stanza
    assert "[fintech]" in text
    assert repo.archive_command(with_config=False) == "pgbackrest --stanza=fintech archive-push %p"


def test_a_target_time_needs_its_utc_offset() -> None:
    assert parse_target_time("2026-05-01 14:30:00+00") == datetime(2026, 5, 1, 14, 30, tzinfo=UTC)
    assert parse_target_time("2026-05-01 09:30:00.5-05").astimezone(UTC).hour == 14
    for wrong in ("2026-05-01 14:30:00", "2026-05-01T14:30:00+00", "yesterday", ""):
        with pytest.raises(BackupError, match="YYYY-MM-DD HH:MM:SS"):
            parse_target_time(wrong)
