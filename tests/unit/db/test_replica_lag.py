"""Replica lag from the primary's WAL position samples: no database, just the arithmetic."""

from __future__ import annotations

import pytest

from adapters.db.replicas import estimate_lag, parse_lsn


def test_lsn_text_becomes_a_comparable_position() -> None:
    assert parse_lsn("0/3000148") == 0x3000148
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")  # type: ignore[operator]
    assert parse_lsn(None) is None and parse_lsn("") is None


def test_a_replica_that_replayed_the_latest_sample_has_no_lag() -> None:
    samples = [(100.0, 1_000), (101.0, 2_000)]
    assert estimate_lag(samples, replayed=2_000, replay_age=None, now=101.01) == 0.0
    assert estimate_lag(samples, replayed=2_500, replay_age=None, now=101.01) == 0.0


def test_an_idle_primary_is_not_lag_however_old_the_last_commit() -> None:
    # Nothing written for ten minutes: the replica's last replayed commit is old, yet it has everything.
    samples = [(100.0 + i, 5_000) for i in range(10)]
    assert estimate_lag(samples, replayed=5_000, replay_age=600.0, now=109.5) == 0.0


def test_lag_is_the_time_since_the_newest_sample_the_replica_has_reached() -> None:
    samples = [(100.0, 1_000), (101.0, 2_000), (102.0, 3_000), (103.0, 4_000)]
    # It has 2_000 (what the primary had at 101) but not 3_000: at most 103.5 - 101 behind.
    assert estimate_lag(samples, replayed=2_500, replay_age=30.0, now=103.5) == pytest.approx(2.5)


def test_a_write_just_after_a_quiet_spell_is_not_mistaken_for_lag() -> None:
    # The previous check saw the replica caught up; a write landed just before this one.
    samples = [(100.0, 7_000), (101.0, 7_200)]
    assert estimate_lag(samples, replayed=7_000, replay_age=900.0, now=101.002) == pytest.approx(1.002)


def test_behind_every_sample_it_is_at_least_as_old_as_the_history_and_its_own_clock_may_say_more() -> None:
    samples = [(100.0, 1_000), (101.0, 2_000)]
    assert estimate_lag(samples, replayed=500, replay_age=None, now=101.5) == pytest.approx(1.5)
    assert estimate_lag(samples, replayed=500, replay_age=42.0, now=101.5) == pytest.approx(42.0)
    # First check of a process: one sample, behind it; the replica's replay age is all there is.
    assert estimate_lag([(100.0, 1_000)], replayed=900, replay_age=7.0, now=100.01) == pytest.approx(7.0)
