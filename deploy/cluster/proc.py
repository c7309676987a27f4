"""Processes of the cluster: started inside a node's network namespace (optionally as an unprivileged
user), detached from whoever started them, and known afterwards by (pid, start time) so a recycled
pid is never mistaken for ours."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deploy.cluster.net import system_tool


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int  # clock ticks after boot (/proc/<pid>/stat, field 22)

    def alive(self) -> bool:
        return start_time(self.pid) == self.started


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ")".
    return text.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """The process's start time, or None when it is gone or a zombie (exited, not yet reaped)."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


# The processes this one started, kept so none is garbage-collected while running (a ResourceWarning)
# and each is reaped through its own Popen once it exits.
_children: dict[int, subprocess.Popen[bytes]] = {}


def reap(pid: int) -> None:
    """Collect the exit status of a child of ours (no-op for anyone else's), so it leaves no zombie."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def spawn(
    namespace: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path, user: str | None = None
) -> Proc:
    """Run `argv` in `namespace`, output appended to `log`, in a session of its own (so it outlives
    this process and a signal can reach its whole group). `ip netns exec` and `setpriv` both exec,
    so the pid is the program's own."""
    command = [system_tool("ip"), "netns", "exec", namespace]
    if user is not None:
        command += [system_tool("setpriv"), f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
    command += argv
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _children[process.pid] = process
    started = None
    for _ in range(50):  # /proc may lag the fork by a moment
        started = start_time(process.pid)
        if started is not None or process.poll() is not None:
            break
        time.sleep(0.01)
    return Proc(process.pid, started or 0)


def signal_one(proc: Proc, sig: signal.Signals) -> None:
    if proc.alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, sig)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Until every pid has exited (zombies count as exited); returns those still running at the deadline."""
    waiting = set(pids)
    deadline = time.monotonic() + timeout
    while True:
        for pid in list(waiting):
            reap(pid)
            if start_time(pid) is None:
                waiting.discard(pid)
        if not waiting or time.monotonic() > deadline:
            return sorted(waiting)
        time.sleep(0.05)


def kill_pids(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
