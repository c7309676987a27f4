"""docker-compose.yml cannot be run here (no Docker engine): check that it parses and that every
command it names exists in this project."""

from __future__ import annotations

import importlib
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
IMAGE_SERVICES = {"db-primary", "redis"}  # commands of the official images


def _command(service: dict) -> list[str]:
    command = service.get("command")
    assert command, "every service of ours names its command"
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_expected_services_are_present() -> None:
    assert {"db-primary", "db-replica", "redis", "api", "worker", "beat", "migrate"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(set(SERVICES) - IMAGE_SERVICES))
def test_every_command_exists(name: str) -> None:
    argv = _command(SERVICES[name])
    program = argv[0]
    if program == "python":
        assert argv[1] == "manage.py" and (ROOT / "manage.py").exists()
        assert argv[2] in get_commands(), f"no management command {argv[2]}"
    elif program == "granian":
        # Installed with the project's dependencies, next to the interpreter running the tests.
        assert shutil.which("granian", path=str(Path(sys.executable).parent)) or shutil.which("granian")
        module, attribute = argv[-1].split(":")
        assert callable(getattr(importlib.import_module(module), attribute))
    elif program == "celery":
        assert argv[1] == "-A"
        app = importlib.import_module(argv[2]).app
        assert argv[3] in {"worker", "beat"}
        assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    elif program == "bash":
        script = argv[1].replace("/deploy/", "deploy/")
        assert (ROOT / script).exists(), script
    else:
        pytest.fail(f"unexpected program {program!r} in service {name}")


def test_mounted_files_exist() -> None:
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_dockerfile_command_is_the_api_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "config.wsgi:application" in dockerfile
    assert "config.wsgi:application" in SERVICES["api"]["command"]
