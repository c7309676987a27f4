"""`python -m deploy.ha [--state-dir DIR] up|down|status|failover-drill|partition-drill|sync-cost [--report]`
(`make ha`, `make ha-stop`, `make ha-status`). `failover-drill` runs every scenario (the network partition
last), `partition-drill` that one only; `--report` writes their figures into RELIABILITY.md's section.

Exit status: 0 done; 1 a failure (`up` has then torn down what it started; the drill printed which
check failed); for `status`, 1 when a node is not running or not ready and 3 when nothing runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from deploy.cluster.net import leftovers
from deploy.ha.core import DEFAULT_STATE_DIR, LOOP_WAIT, RETRY_TIMEOUT, ROOT, TTL, HaCluster, HaError

COMMANDS = ("up", "down", "status", "failover-drill", "partition-drill", "sync-cost")


def topology(ha: HaCluster) -> str:
    return (
        f"one machine, each node in a network namespace of its own on a bridge ({ha.state.get('subnet')}): "
        "etcd-1/2/3 (one etcd cluster, Patroni's DCS), pg-1 and pg-2 (PostgreSQL 15 under Patroni, "
        f"synchronous_mode, ttl {TTL} s, loop_wait {LOOP_WAIT} s, retry_timeout {RETRY_TIMEOUT} s, pg_rewind), "
        "dbproxy (HAProxy finding the primary through Patroni's REST API), app-1 (the API under granian) on "
        "dbproxy (target_session_attrs=read-write)"
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.ha", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("FC_HA_DIR", DEFAULT_STATE_DIR)),
        help="state, data and logs (default .data/ha, or FC_HA_DIR); names and addresses derive from it",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="sync-cost: seconds of load per setting")
    parser.add_argument("--payers", type=int, default=8, help="paying threads (drills and sync-cost)")
    parser.add_argument(
        "--report",
        nargs="?",
        type=Path,
        const=ROOT / "RELIABILITY.md",
        default=None,
        help="drills: write the figures into this file's section (default RELIABILITY.md)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    ha = HaCluster(args.state_dir)
    try:
        if args.command == "up":
            ha.up()
            print("\n".join(ha.summary()), flush=True)
        elif args.command == "down":
            ha.down()
        elif args.command in ("failover-drill", "partition-drill", "sync-cost"):
            from deploy.ha.drill import failover_drill, partition_drill, sync_cost

            if not ha.is_up():
                print(f"no running HA cluster in {ha.state_dir}: `make ha` first", file=sys.stderr)
                return 1
            if args.command == "sync-cost":
                sync_cost(ha, seconds=args.seconds, payers=args.payers)
                return 0
            started = time.monotonic()
            drill = failover_drill if args.command == "failover-drill" else partition_drill
            report = drill(ha, payers=args.payers)
            print("\n".join(report.lines()), flush=True)
            if args.report is not None:
                from deploy.ha.report import render_section, write_section

                section = render_section(
                    report.scenarios,
                    ok=report.ok,
                    checks=(report.checks.passed, report.checks.failed),
                    topology=topology(ha),
                    command=f"python -m deploy.ha {args.command} --payers {args.payers}",
                    when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    seconds=time.monotonic() - started,
                )
                write_section(args.report, section)
                print(f"wrote the drill's section of {args.report}", flush=True)
            return 0 if report.ok else 1
        else:
            if not ha.state:
                print(f"no HA cluster is running (no {ha.state_file})")
                left = leftovers(ha.prefix)
                if left:
                    print(f"but a previous one left {', '.join(left)}: `make ha-stop` removes them")
                return 3
            rows = ha.status()
            widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
            print("  ".join(key.ljust(widths[key]) for key in widths))
            for row in rows:
                print("  ".join(row[key].ljust(widths[key]) for key in widths))
            return 0 if all(row["state"].startswith("running, ok") for row in rows) else 1
    except HaError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
