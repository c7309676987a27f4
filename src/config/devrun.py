"""`make run`: embedded PostgreSQL when no DATABASE_URL is set, migrate, demo data, then granian."""

from __future__ import annotations

import os
import subprocess
import sys

from config.embedded import PROJECT_ROOT, embedded_database_url


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(PROJECT_ROOT / "manage.py"), *args], check=True)  # noqa: S603


def main() -> None:
    if not os.environ.get("DATABASE_URL"):
        url = embedded_database_url()
        os.environ["DATABASE_URL"] = url
        print(f"Embedded PostgreSQL running (data in .data/pg): {url}", flush=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _manage("migrate", "--no-input", "-v", "0")
    # Monthly partitions for this month and 12 ahead (what the nightly upkeep keeps doing).
    _manage("pgpartition", "--yes", "--skip-delete")
    if not (PROJECT_ROOT / "staticfiles" / "staticfiles.json").exists():
        _manage("collectstatic", "--no-input", "-v", "0")
    _manage("load_demo")
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    print(f"Serving on http://{host}:{port}  (API docs: http://{host}:{port}/api/v1/docs)", flush=True)
    os.execvp(  # noqa: S606 - replaces this process with the app server, arguments are ours
        sys.executable,
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            host,
            "--port",
            port,
            "--workers",
            os.environ.get("WEB_WORKERS", "2"),
            # Each blocking thread holds its own DB connection; 1-2 per worker avoids "too many clients".
            "--blocking-threads",
            os.environ.get("WEB_BLOCKING_THREADS", "1"),
            "config.wsgi:application",
        ],
    )


if __name__ == "__main__":
    main()
