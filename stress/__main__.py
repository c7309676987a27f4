"""`python -m stress [--only concurrency faults ...]`: build a stack of its own (stress/stack.py), run every
scenario module in stress/scenarios/ that has `run(ctx)`, write RELIABILITY.md; exit 1 when any check
failed or any answer was a 5xx."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.backup.report import RESTORE_BEGIN, RESTORE_END  # noqa: E402
from deploy.ha.report import HA_BEGIN, HA_END  # noqa: E402
from stress import report, scenarios  # noqa: E402
from stress.cluster import BEGIN, END, carried_section, replace_section  # noqa: E402
from stress.core import Context, Result  # noqa: E402
from stress.stack import Stack, say  # noqa: E402

# The sections of RELIABILITY.md other runs write (their BEGIN and END markers), kept as they were.
CARRIED = ((BEGIN, END), (HA_BEGIN, HA_END), (RESTORE_BEGIN, RESTORE_END))

# Faults last: they stop and restart services; everything else wants a quiet, whole stack.
ORDER = ("concurrency", "hostile", "attacks", "audit", "faults")
SECTION_OF = {
    "concurrency": "Concurrency",
    "faults": "Faults",
    "hostile": "Hostile input",
    "attacks": "Attacks",
    "audit": "Audit trail",
}


def modules(only: list[str]) -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(scenarios.__path__) if not m.name.startswith("_")]
    if only:
        missing = [name for name in only if name not in found]
        if missing:
            raise SystemExit(f"no scenario module {missing}; found {found}")
        found = [name for name in found if name in only]
    return sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER) - 1, n))


def run_module(name: str, ctx: Context) -> list[Result]:
    section = SECTION_OF.get(name, name.title())
    try:
        module = importlib.import_module(f"stress.scenarios.{name}")
    except Exception as exc:  # a module still being written must not stop the others
        return [Result(section, f"{name}: import failed", checks_failed=1, details=[f"{type(exc).__name__}: {exc}"])]
    if not callable(getattr(module, "run", None)):
        say(f"{name}: no run(ctx), skipped")
        return []
    started = time.perf_counter()
    try:
        results = list(module.run(ctx))
    except Exception as exc:  # reported as a failed scenario, with where it broke
        where = traceback.format_exc(limit=-3).strip().splitlines()
        results = [
            Result(section, f"{name}: crashed", checks_failed=1, details=[f"{type(exc).__name__}: {exc}", *where[-6:]])
        ]
    say(f"{name}: {len(results)} result(s) in {time.perf_counter() - started:.0f} s")
    for r in results:
        say(
            f"  {'ok    ' if r.ok else 'FAILED'} {r.name}: {r.requests} requests, {r.errors_5xx} 5xx, "
            f"{r.checks_passed} passed, {r.checks_failed} failed"
        )
        for line in r.details if not r.ok else []:
            say(f"      {line}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress", description=__doc__)
    parser.add_argument("--only", nargs="+", default=[], help="scenario modules to run (default: all)")
    parser.add_argument("--output", default=str(ROOT / "RELIABILITY.md"), help="the report (default: RELIABILITY.md)")
    args = parser.parse_args(argv)
    names = modules(args.only)
    say(f"scenario modules: {', '.join(names) or 'none'}")
    started = time.perf_counter()
    results: list[Result] = []
    with Stack() as stack:
        ctx = Context(
            base_url=stack.base_url,
            database_url=stack.database_url,
            password="demo-pass-2026",  # noqa: S106 - load_demo's password, on a throwaway stack
            admin="admin",
            agents=("agent1", "agent2"),
            clients=("client1", "client2", "client3", "client4"),
            control=stack,
            manage_env=stack.env(production=False),
        )
        for name in names:
            say(f"--- {name}")
            results += run_module(name, ctx)
            healed = stack.heal()
            if healed:
                say(f"restarted after {name}: {', '.join(healed)}")
            cleared = stack.reset_throttles()
            if cleared:
                say(f"cleared {cleared} login throttle counter(s) left by {name}")
        description = stack.describe()
    text = report.render(
        results,
        stack=description,
        seconds=time.perf_counter() - started,
        command="make stress" + (f" (--only {' '.join(args.only)})" if args.only else ""),
    )
    output = Path(args.output)
    # The cluster's section (`make stress-cluster`), the failover drill's (deploy/ha) and the restore
    # drill's (deploy/backup) are those runs':
    # carried over as they were.
    old = output.read_text(encoding="utf-8") if output.exists() else ""
    for begin, end in CARRIED:
        kept = carried_section(old, begin=begin, end=end)
        if kept:
            text = replace_section(text, kept, begin=begin, end=end)
    output.write_text(text, encoding="utf-8")
    failed = [r for r in results if not r.ok]
    say(f"wrote {args.output}: {len(results)} scenarios, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
