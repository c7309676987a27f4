"""`make run`'s last line of defence: nothing it started outlives it by more than a grace period.

    python -m config.orphan_guard GRACE PGID...

The supervisor (config/devrun.py) starts this with a pipe on its stdin and keeps the pipe's other end
to itself. When the supervisor is gone, however it went (SIGKILL included), the pipe reads EOF. The
process groups given then have GRACE seconds to be empty, and whatever is left gets SIGKILL.

Why a process of its own: a killed supervisor sends nothing itself. Its children get SIGTERM from
the kernel (PR_SET_PDEATHSIG), and that is not always enough: granian 2.8.9 can deadlock in its own
SIGTERM handler (`threading.Event.set()` called from a signal handler, on a lock the interrupted
main thread holds), and then it and its workers stay forever. This imports nothing of the project,
so it costs a bare interpreter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` that have not exited (a zombie has: only its reaping is due)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
            state, _ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def reap(groups: list[int], grace: float, *, poll: float = 0.2) -> list[int]:
    """Wait up to `grace` seconds for `groups` to empty; SIGKILL what is left. Returns the groups killed."""
    deadline = time.monotonic() + grace
    while (left := [g for g in groups if live_members(g)]) and time.monotonic() < deadline:
        time.sleep(poll)
    for pgid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    return left


def main(argv: list[str]) -> int:
    grace, groups = float(argv[0]), [int(pgid) for pgid in argv[1:]]
    # The terminal's Ctrl-C is for the supervisor, which stops everything in order; this waits for it.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):  # until EOF: the supervisor is gone
        pass
    killed = reap(groups, grace)
    if killed:
        print(f"orphan guard: killed process groups {killed}, still running {grace:g} s after make run ended",
              file=sys.stderr, flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
