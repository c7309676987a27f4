"""`python -m deploy.ha [--state-dir DIR] failover-drill|partition-drill|sync-cost [--report]` on a running
`make cluster` (`make failover-drill`). `failover-drill` runs every scenario (the network partition last),
`partition-drill` that one only; `--report` writes their figures into RELIABILITY.md's section;
`sync-cost` measures payments with Patroni's synchronous_mode on and off.

Exit status: 0 done; 1 a failure (the drill printed which check failed) or no cluster running.
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

import yaml

from deploy.cluster.core import DEFAULT_STATE_DIR, PATRONI_SETTINGS, ROOT, Cluster, ClusterError
from deploy.ha.report import add_report_option

COMMANDS = ("failover-drill", "partition-drill", "sync-cost")


def topology(cluster: Cluster) -> str:
    dcs = yaml.safe_load(PATRONI_SETTINGS.read_text())["bootstrap"]["dcs"]
    return (
        f"`make cluster`: one machine, each node in a network namespace of its own ({cluster.state.get('subnet')}): "
        "etcd-1/2/3 (one etcd cluster, Patroni's DCS), pg-1 and pg-2 (PostgreSQL 15 under Patroni, "
        f"synchronous_mode, ttl {dcs['ttl']} s, loop_wait {dcs['loop_wait']} s, "
        f"retry_timeout {dcs['retry_timeout']} s, "
        "pg_rewind, WAL archived by pgBackRest), dbproxy (HAProxy finding the primary through Patroni's REST API), "
        "pgbouncer on dbproxy, app-1/2/3 (the API under granian) behind HAProxy, Redis cache shards, a Celery worker"
    )


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.ha", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("FC_CLUSTER_DIR", DEFAULT_STATE_DIR)),
        help="the cluster's state dir (default .data/cluster, or FC_CLUSTER_DIR)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="sync-cost: seconds of load per setting")
    parser.add_argument("--payers", type=int, default=8, help="paying threads (drills and sync-cost)")
    add_report_option(parser, ROOT / "RELIABILITY.md")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    cluster = Cluster(args.state_dir)
    try:
        from deploy.ha.drill import failover_drill, partition_drill, sync_cost

        if not cluster.is_up():
            print(f"no running cluster in {cluster.state_dir}: `make cluster` first", file=sys.stderr)
            return 1
        if args.command == "sync-cost":
            sync_cost(cluster, seconds=args.seconds, payers=args.payers)
            return 0
        started = time.monotonic()
        drill = failover_drill if args.command == "failover-drill" else partition_drill
        report = drill(cluster, payers=args.payers)
        print("\n".join(report.lines()), flush=True)
        if args.report is not None:
            from deploy.ha.report import render_section, write_section

            section = render_section(
                report.scenarios,
                ok=report.ok,
                checks=(report.checks.passed, report.checks.failed),
                topology=topology(cluster),
                command=f"python -m deploy.ha {args.command} --payers {args.payers}",
                when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                seconds=time.monotonic() - started,
            )
            write_section(args.report, section)
            print(f"wrote the drill's section of {args.report}", flush=True)
        return 0 if report.ok else 1
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
