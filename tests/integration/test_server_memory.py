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

from config import memory
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


def test_a_worker_freezes_what_it_loaded_once_after_its_warm_up_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    freezes: list[int] = []
    served: list[str] = []
    monkeypatch.setattr(memory, "freeze_loaded", lambda: freezes.append(len(served)))
    app = FreezeAfterWarmUp(_answer, after=3)
    statuses: list[str] = []
    for n in range(6):
        answered = app({"PATH_INFO": f"/r{n}"}, lambda status, headers: statuses.append(status))
        assert list(answered) == [f"/r{n}".encode()]
        served.append(f"/r{n}")
    assert statuses == ["200 OK"] * 6  # answered as the app answers
    assert freezes == [2]  # once, as the third request came in (two served before it)


def test_freezing_moves_what_is_loaded_out_of_the_collections(frozen_after: None) -> None:
    gc.collect()
    tracked = len(gc.get_objects())
    memory.freeze_loaded()
    assert gc.get_freeze_count() >= tracked // 2  # what was tracked, less the garbage collected first
    assert len(gc.get_objects()) < tracked // 10  # the collector no longer walks them


def test_importing_the_servers_application_freezes_what_it_loaded() -> None:
    code = "import gc, config.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) > 10_000  # Django, Ninja, pydantic and ours
