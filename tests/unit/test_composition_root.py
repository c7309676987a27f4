"""One composition root: config.bootstrap builds the ports and services, and every entry point (the
API, the Celery tasks, the admin, `manage.py nightly`) runs with what it built, building none itself."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from adapters.celery import tasks
from adapters.jobs.runners import JobDeps
from adapters.jobs.store import JobStore
from adapters.orm import wiring
from config import bootstrap

SRC = Path(__file__).resolve().parents[2] / "src"
# The data generator's commands move to tools/bookgen (helper "tools"); they are not entry points of the app.
TOOLS_COMMANDS = {"seed_data.py", "check_book.py", "load_demo.py"}


def test_every_entry_point_runs_with_what_config_built() -> None:
    import config.urls  # noqa: F401 - builds the API from bootstrap(), as the web process does
    from api.deps import services

    ports = bootstrap.shared_ports()
    assert tasks.deps() is bootstrap.shared_job_deps()
    assert tasks.deps().ports is ports
    assert wiring.ports() is ports
    assert services().ports is ports


@dataclass
class RecordingJobStore:
    """A job store that knows no job: the analysis skips it; every call is recorded."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def claim(self, job_id: UUID) -> None:
        self.calls.append(("claim", job_id))

    def fail(self, job_id: UUID, error: str) -> None:
        self.calls.append(("fail", job_id))

    def note_error(self, job_id: UUID, error: str) -> None:
        self.calls.append(("note_error", job_id))


@pytest.fixture
def recording_store(monkeypatch: pytest.MonkeyPatch) -> RecordingJobStore:
    store = RecordingJobStore()
    deps = JobDeps(ports=bootstrap.shared_ports(), store=cast(JobStore, store), invalidate_reads=lambda: None)
    monkeypatch.setattr(tasks, "_deps", lambda: deps)  # as config installs it; restored after the test
    return store


def test_a_task_runs_with_the_dependencies_installed_in_it(recording_store: RecordingJobStore) -> None:
    job_id = uuid4()

    assert tasks.portfolio_analysis.run(str(job_id)) == "skipped"
    tasks.portfolio_analysis.on_failure(RuntimeError("boom"), "task", (str(job_id),), {}, None)
    tasks.portfolio_analysis.on_retry(RuntimeError("busy"), "task", (str(job_id),), {}, None)

    assert recording_store.calls == [("claim", job_id), ("fail", job_id), ("note_error", job_id)]


def test_an_unwired_task_says_so_instead_of_building_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "_deps", None)

    with pytest.raises(RuntimeError, match="not wired"):
        tasks.deps()


def _classes_config_builds() -> set[str]:
    """The adapter classes config.bootstrap imports: what it builds and hands out."""
    tree = ast.parse((SRC / "config" / "bootstrap.py").read_text())
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("adapters")
        for alias in node.names
        if alias.name[:1].isupper()
    }


def _entry_points() -> Iterator[Path]:
    """The modules a request, a task, an admin click or a command enters the app through."""
    yield from (SRC / "api").rglob("*.py")
    yield from (SRC / "adapters" / "celery").rglob("*.py")
    yield from (SRC / "adapters" / "orm").rglob("*admin.py")
    for command in SRC.rglob("management/commands/*.py"):
        if command.name not in TOOLS_COMMANDS and not command.is_relative_to(SRC / "config"):
            yield command


def _constructed(path: Path, names: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in names:
                called.add(name)
    return called


def test_no_entry_point_outside_config_builds_an_adapter() -> None:
    built_by_config = _classes_config_builds()
    assert {"JobStore", "DjangoUnitOfWork", "ReadCache", "DjangoCreditRepository"} <= built_by_config

    offenders = {
        str(path.relative_to(SRC)): sorted(found)
        for path in _entry_points()
        if (found := _constructed(path, built_by_config))
    }

    assert offenders == {}
