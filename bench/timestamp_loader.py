"""What loading timestamps costs: Django's timestamptz loader (Python) against psycopg's C loader as
adapters.db.postgresql.base installs it, on the same 20 rows of two timestamps, in process.

    .venv/bin/python bench/timestamp_loader.py [--rounds 3]

Prints the median CPU µs to load the rows (batches of 500 loads) for each loader, alternated.
Needs only a PostgreSQL server (DATABASE_URL, as the app's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SQL = "SELECT now() - g * interval '1 hour', now() - g * interval '1 day' FROM generate_series(1, 20) g"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import django

    django.setup()
    import psycopg
    from django.db import connection
    from django.db.backends.postgresql.psycopg_any import get_adapters_template

    from adapters.db.postgresql.base import utc_adapters

    conninfo = connection.get_connection_params()
    conninfo.pop("context", None)
    conninfo.pop("prepare_threshold", None)
    loaders = {"django (Python)": get_adapters_template(True, UTC), "psycopg (C)": utc_adapters()}
    found: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(args.rounds):
        for name, adapters in loaders.items():
            with psycopg.connect(**conninfo, context=adapters, autocommit=True) as raw:
                raw.execute("SET TIME ZONE 'UTC'")
                cursor = raw.cursor()
                cursor.execute(SQL)
                result, tx = cursor.pgresult, cursor._tx
                batches = []
                for _ in range(20):
                    started = time.process_time()
                    for _ in range(500):
                        tx.set_pgresult(result)
                        tx.load_rows(0, 20, tuple)
                    batches.append((time.process_time() - started) / 500 * 1e6)
                found[name].append(statistics.median(batches))
    for name, medians in found.items():
        print(f"{name:16} {', '.join(f'{m:.1f}' for m in medians)} µs per 20 rows of two timestamps")


if __name__ == "__main__":
    main()
