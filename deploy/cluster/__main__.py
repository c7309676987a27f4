"""`python -m deploy.cluster [--state-dir DIR] up|down|status` (what `make cluster`, `make cluster-stop`
and `make cluster-status` run).

Exit status: 0 done (`up` on a running cluster and `down` with nothing running included); 1 a failure
(`up` has then torn down what it started and named the node and its log); for `status`, 1 when a
node is not running or not ready and 3 when no cluster is running.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from deploy.cluster.core import DEFAULT_STATE_DIR, Cluster, ClusterError
from deploy.cluster.net import leftovers


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # As Ctrl-C does: `up` then tears down what it started instead of leaving it half-built.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("FC_CLUSTER_DIR", DEFAULT_STATE_DIR)),
        help="where the cluster keeps its state, data and logs (default .data/cluster, or FC_CLUSTER_DIR); "
        "names and addresses derive from this path",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    cluster = Cluster(args.state_dir)
    try:
        if args.command == "up":
            cluster.up()
            print("\n".join(cluster.summary()), flush=True)
        elif args.command == "down":
            cluster.down()
        else:
            if not cluster.state:
                print(f"no cluster is running (no {cluster.state_file})")
                left = leftovers(cluster.prefix)
                if left:
                    print(f"but a previous one left {', '.join(left)}: `make cluster-stop` removes them")
                return 3
            rows = cluster.status()
            widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
            print("  ".join(key.ljust(widths[key]) for key in widths))
            for row in rows:
                print("  ".join(row[key].ljust(widths[key]) for key in widths))
            print(f"balancer {cluster.balancer_url}  stats {cluster.stats_url}  logs {cluster.logs_dir}/")
            return 0 if all(row["state"].startswith("running, ok") for row in rows) else 1
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
