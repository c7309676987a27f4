"""The data generator (tools/bookgen) is a Django app of its own, outside src/: registered where the
`tools` package is installed (development, tests, the benchmark), absent from an image that does not
ship it, and then the application still starts, without its commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import get_commands

from tests.integration.test_settings import GOOD

ROOT = Path(__file__).resolve().parents[2]
APP = "tools.bookgen.apps.BookgenConfig"
COMMANDS = {"seed_data", "check_book", "load_demo"}
# As in an image without tools/: the import of `tools` fails before anything else runs.
WITHOUT_TOOLS = "import sys; sys.modules['tools'] = None\n"
SHOW = (
    "import django; from django.conf import settings; from django.core.management import get_commands\n"
    "django.setup()\n"
    f"print({APP!r} in settings.INSTALLED_APPS, sorted(set(get_commands()) & set({sorted(COMMANDS)!r})))\n"
)


def _production(prelude: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in GOOD}
    return subprocess.run(
        [sys.executable, "-c", prelude + SHOW],
        env={**clean, "PYTHONPATH": str(ROOT / "src"), "DJANGO_SETTINGS_MODULE": "config.settings", **GOOD},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


def test_the_commands_come_from_the_tools_app_here() -> None:
    assert APP in settings.INSTALLED_APPS
    commands = get_commands()
    assert {name: commands[name] for name in COMMANDS} == dict.fromkeys(COMMANDS, "tools.bookgen")


def test_without_the_tools_package_the_application_starts_without_its_commands() -> None:
    result = _production(WITHOUT_TOOLS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "[]"]


def test_with_the_tools_package_installed_the_app_is_registered() -> None:
    result = _production("")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True ['check_book', 'load_demo', 'seed_data']"
