"""`python -m deploy.backup backup|info|restore|restore-stop|drill` (what `make backup`, `make restore`
and `make restore-stop` run), on the cluster of `--state-dir` (.data/cluster, or FC_CLUSTER_DIR).

    backup [--type incr|full|diff]      a backup of the cluster's primary (an incremental is made full
                                        when there is no full backup yet)
    info                                pgBackRest's account of the repository
    restore --target-time 'YYYY-MM-DD HH:MM:SS+00'
                                        restore into a scratch cluster on a free port and start it
    restore-stop                        stop the scratch cluster and remove it
    drill [--payments 1000 --more 100] [--report [FILE]]
                                        the restore drill on a primary of its own (deploy/backup/drill.py);
                                        --report writes its figures into RELIABILITY.md's section

Exit status: 0 done, 1 failed (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from deploy.backup.repo import BACKUP_TYPES, BackupError, say


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # as Ctrl-C: a restore or drill under way stops what it started


def main(argv: list[str] | None = None) -> int:
    from deploy.cluster.core import DEFAULT_STATE_DIR, ROOT, Cluster
    from deploy.ha.report import add_report_option

    parser = argparse.ArgumentParser(prog="python -m deploy.backup", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("backup", "info", "restore", "restore-stop", "drill"))
    parser.add_argument("--type", default="incr", choices=BACKUP_TYPES, help="backup: full, diff or incr")
    parser.add_argument("--target-time", default="", help="restore: 'YYYY-MM-DD HH:MM:SS+00'")
    parser.add_argument("--payments", type=int, default=1000, help="drill: payments before the target time")
    parser.add_argument("--more", type=int, default=100, help="drill: payments after it")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("FC_CLUSTER_DIR", DEFAULT_STATE_DIR)),
        help="the cluster's state dir (default .data/cluster, or FC_CLUSTER_DIR)",
    )
    add_report_option(parser, ROOT / "RELIABILITY.md")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        if args.command == "drill":
            from deploy.backup.drill import run_drill

            result = run_drill(payments=args.payments, more=args.more)
            print("\n".join(result.figures()), flush=True)
            if args.report is not None:
                from deploy.backup.report import render_section, write

                command = f"python -m deploy.backup drill --payments {args.payments} --more {args.more}"
                when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
                write(args.report, render_section(result, command=command, when=when))
                print(f"wrote the restore drill's section of {args.report}", flush=True)
            problems = result.problems()
            for problem in problems:
                print(f"FAILED: {problem}", file=sys.stderr, flush=True)
            return 1 if problems else 0

        from deploy.backup import ops

        cluster = Cluster(args.state_dir)
        if args.command == "backup":
            ops.backup(cluster, args.type)
        elif args.command == "info":
            print(ops.running_repo(cluster).run("info"), end="", flush=True)
        elif args.command == "restore":
            if not args.target_time:
                raise BackupError("which moment? make restore TARGET_TIME='YYYY-MM-DD HH:MM:SS+00'")
            root = ops.backup_root(cluster) if cluster.state else ops.root_of(args.state_dir)
            leader = cluster.leader() if cluster.state else None
            done = ops.restore(
                root,
                args.target_time,
                (lambda: cluster.connect(leader, "postgres", superuser=True)) if leader else None,
            )
            print("\n".join(ops.how_to_reach(done, cluster.state_dir)), flush=True)
        else:
            root = ops.backup_root(cluster) if cluster.state else ops.root_of(args.state_dir)
            if ops.restore_stop(root):
                say(f"the restored cluster in {root / ops.SCRATCH} is stopped and removed")
            else:
                say(f"no restored cluster in {root / ops.SCRATCH}; nothing to stop")
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
