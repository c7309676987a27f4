"""Helpers for tests that run the app's real processes (make run, granian, a Celery worker) on the
test database: its URL as Django is configured (a TCP host or a Unix socket directory), a free
port, a process's descendants, HTTP against a live server."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".data" / "artifacts"  # git-ignored: screenshots and logs a test run leaves to look at


def database_url(name: str = "") -> str:
    """The test database (or `name` on its server) as a URL for a subprocess, from Django's own
    connection parameters (the embedded server's socket directory may sit in OPTIONS, not HOST)."""
    from tests.connections import database_url as url_of

    return url_of(dbname=name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses; split after the last ")".
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected it yet


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def http(method: str, url: str, body: Any = None, token: str = "", timeout: float = 10) -> tuple[int, Any]:
    """One request; (status, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - our own live server
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get("Content-Type", "")
    text = raw.decode()
    return status, json.loads(text) if kind.startswith("application/json") else text


def wait_until_serving(url: str, timeout: float, died: Any = None) -> None:
    """Until `url` answers 200; `died()` true (the server exited) ends the wait early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if died is not None and died():
            raise AssertionError(f"the server exited before {url} answered")
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def environment(**extra: str) -> dict[str, str]:
    """This process's environment for a subprocess of the app on the test database."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        **extra,
    }


def clear_queue(broker_url: str, queue: str, prefix: str = "") -> None:
    """Forget what Celery left in a broker db the tests own: the queue, unacknowledged messages, the
    bindings and the workers' heartbeats (adapters/celery/heartbeat.py)."""
    import redis

    from adapters.celery.heartbeat import heartbeat_key

    keys = [queue, "unacked", "unacked_index", f"_kombu.binding.{queue}",
            f"_kombu.binding_permanent.{queue}", "_kombu.binding_deadlines"]  # fmt: skip
    # Every broker key carries the instance's prefix (kombu's global_keyprefix), the heartbeat too.
    redis.Redis.from_url(broker_url).delete(*(prefix + key for key in keys), heartbeat_key(prefix, queue))
