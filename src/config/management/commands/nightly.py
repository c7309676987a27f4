"""`python manage.py nightly [--as-of YYYY-MM-DD]`: the nightly delinquency run, by hand.

The same run the beat schedule starts at 02:00 (late fees, delinquency snapshot, default and cure
for the whole book), recorded as a job; idempotent for a date, so running it again is safe.
Pure wiring, so it lives in config and takes its dependencies from the bootstrap.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adapters.jobs.nightly import NightlyAlreadyRunning
from adapters.jobs.runners import run_nightly, upkeep_partitions
from config.bootstrap import shared_job_deps


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of must be a date like 2026-01-31, got {value!r}") from exc


class Command(BaseCommand):
    help = "Run the nightly delinquency job (late fees, flags, default/cure) for a business date."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=_date, default=None, help="Business date (default: today).")
        parser.add_argument(
            "--partitions",
            action="store_true",
            help="Also run the partition upkeep first: rows out of the DEFAULT partitions, months back to the "
            "oldest credit and 12 ahead.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        deps = shared_job_deps()
        if options["partitions"]:
            self.stdout.write(json.dumps({"partition_upkeep": upkeep_partitions(deps.store)}))
        try:
            result = run_nightly(deps.ports, options["as_of"], after_chunk=deps.invalidate_reads, store=deps.store)
        except NightlyAlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, indent=2))
