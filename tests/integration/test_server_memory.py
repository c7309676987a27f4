"""What the app server loads is frozen out of full garbage collections (config.memory): once when the
app is imported, and in each worker after its first requests. Found in the benchmark: a full
collection of a worker took 74-94 ms every ~1,400 cold credit reads, their p99 54-64 ms against
13-16 ms with the freezes."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config.memory import FreezeAfterWarmUp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def frozen_after() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's own objects go back to the collector


def _answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


def test_a_worker_freezes_what_it_loaded_once_after_its_warm_up_requests(frozen_after: None) -> None:
    app = FreezeAfterWarmUp(_answer, after=3)
    statuses: list[str] = []
    counts = []
    for n in range(5):
        answered = app({"PATH_INFO": f"/r{n}"}, lambda status, headers: statuses.append(status))
        assert list(answered) == [f"/r{n}".encode()]
        counts.append(gc.get_freeze_count())
    assert statuses == ["200 OK"] * 5  # answered as the app answers
    assert counts[0] == counts[1] == 0  # not during the warm-up
    assert counts[2] > 0  # frozen at the third request
    assert counts[3] == counts[4] == counts[2]  # once: nothing frozen after it


def test_importing_the_servers_application_freezes_what_it_loaded() -> None:
    code = "import gc, config.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) > 10_000  # Django, Ninja, pydantic and ours
