"""Instructions per request, counted by valgrind's callgrind: a measure of the app's own CPU that
does not move with the machine.

    .venv/bin/python bench/instructions.py payment [--level 1] [-n 100]
    .venv/bin/python bench/instructions.py request [--path /api/v1/ping] [--as-client | --user seed_admin1] [-n 400]
    .venv/bin/python bench/instructions.py payment --rev HEAD~1 --rev HEAD   # two checkouts compared

This machine's speed drifts by a third, sometimes by half, within minutes (BENCHMARKS.md), so timed
runs cannot resolve a change of a few percent. callgrind counts the instructions the process
executes, whatever else the machine is doing. The workload is set up and warmed, then n requests
run between two marks callgrind dumps its counts at (`--dump-before` at `getppid` and at `getsid`,
libc calls nothing else here makes): the second dump covers those n requests only. The cyclic
garbage collector is off during them (its passes fall at different requests in different runs;
with it on, two runs of the same code differed by 6 %). What it does not see: PostgreSQL's and
Redis's own work (other processes), the kernel's (system calls), and time lost to cache misses or
waits; an instruction is not a nanosecond, but fewer instructions for the same work is less CPU.

`payment`: serial payments (bench/profile_payment.py's) against the level's bench database;
`request`: GETs (bench/profile_request.py's environ). Both through the servers' WSGI application
(hot reads in front of Django's handler, the access log on), called in process as granian calls it.
Needs valgrind (Debian's package) and the level loaded (`bench/run.py --level n --load-only`).
With `--rev`, each revision is checked out in a temporary worktree and counted there, with this
checkout's bench scripts, virtualenv and database (all must fit every revision).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)


@contextlib.contextmanager
def counted() -> Iterator[None]:
    """What runs inside is what callgrind counts (see the marks above); no garbage-collector passes."""
    gc.collect()
    gc.disable()
    os.getppid()  # callgrind dumps what came before here
    try:
        yield
    finally:
        os.getsid(0)  # and the requests' counts here
        gc.enable()


def inner(a: argparse.Namespace) -> None:
    """The workload itself (run under callgrind): set-up, warm-up, then `a.count` requests."""
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    if a.workload == "payment":
        from bench.profile_payment import payer

        pay = payer(a.level, wsgi=True)
        for i in range(20):  # warm: imports, connections, caches, prepared statements
            pay(i)
        with counted():
            for i in range(20, 20 + a.count):
                pay(i)
        return
    import logging

    from bench import run as bench
    from bench.profile_request import _caller, client_token

    os.environ.update(bench.server_env(bench.Config(level=a.level)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    logging.disable(logging.NOTSET)  # the access line is part of a request's cost
    from django.core.handlers.wsgi import WSGIHandler

    from api.hot_reads import HotReadsFront

    user = a.user or ("seed_client1" if a.as_client else "")
    token = client_token(user) if user else None
    statuses: list[str] = []
    one = _caller(HotReadsFront(WSGIHandler()), a.path, token, statuses)
    for _ in range(200):
        one()
    with counted():
        for _ in range(a.count):
            one()
    if not statuses[-1].startswith("200"):
        raise SystemExit(f"{a.path} answered {statuses[-1]}")


def per_request(root: Path, args: list[str], n: int) -> float:
    """Instructions per request of n requests of the workload, run in checkout `root`."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts every run
        run = subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", f"--log-file={tmp}/valgrind.log",
             "--dump-before=getppid", "--dump-before=getsid",
             str(PYTHON), str(root / "bench" / "instructions.py"), "--inner", "--count", str(n), *args],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if run.returncode != 0:
            raise SystemExit(f"the workload failed under callgrind:\n{run.stderr[-3000:]}")
        # A dump at each mark (`.1`: the set-up; `.2`: the n requests), the rest at exit (`out`).
        dumps = sorted(Path(tmp).glob("callgrind.out.*"))
        if len(dumps) != 2:
            raise SystemExit(f"expected a dump at each of the two marks, found {len(dumps)}: called elsewhere?")
        found = re.search(r"^summary:\s+(\d+)", dumps[1].read_text(errors="replace"), re.M)
        if found is None:
            raise SystemExit(f"no summary in {dumps[1]}")
        return int(found.group(1)) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=["payment", "request"])
    p.add_argument("--level", type=int, default=1)
    p.add_argument("-n", type=int, default=0, help="requests of the shorter run (default: 100 payments, 400 GETs)")
    p.add_argument("--path", default="/api/v1/ping")
    p.add_argument("--as-client", action="store_true", help="send a generated client's bearer token")
    p.add_argument("--user", default="", help="send this generated user's bearer token (seed_admin1, seed_agent1...)")
    p.add_argument("--rev", action="append", default=[], help="count in this revision's checkout (repeatable)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.inner:
        inner(a)
        return
    n = a.n or (100 if a.workload == "payment" else 400)
    args = [a.workload, "--level", str(a.level), "--path", a.path, *(["--as-client"] if a.as_client else [])]
    args += ["--user", a.user] if a.user else []
    what = "payment" if a.workload == "payment" else f"GET {a.path}"
    if not a.rev:
        print(f"{what}: {per_request(ROOT, args, n):,.0f} instructions per request (n={n})")
        return
    for rev in a.rev:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True,
                           capture_output=True)  # fmt: skip
            try:
                # The instrument is this checkout's bench/ (a revision's may predate it); the code
                # measured is the revision's.
                for script in (ROOT / "bench").glob("*.py"):
                    shutil.copy(script, tree / "bench" / script.name)
                figure = per_request(tree, args, n)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
        print(f"{rev}: {what}: {figure:,.0f} instructions per request (n={n})")


if __name__ == "__main__":
    main()
