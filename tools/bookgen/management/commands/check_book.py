"""`manage.py check_book [--sample N]`: verify the stored book against the domain's invariants
(see tools.bookgen.checks); exits non-zero with the first problems of each failed check."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tools.bookgen.checks import BookChecker


class Command(BaseCommand):
    help = "Check the whole book: ledger balanced, receivables = pending, flags, allocations, samples via the domain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=200, help="credits checked through the domain (0: none)")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        report = BookChecker(sample=options["sample"], say=self.stdout.write).run()
        elapsed = time.perf_counter() - started
        failed = [r for r in report.results if not r.ok]
        if failed:
            raise CommandError(
                f"The book has problems: {', '.join(f'{r.name} ({r.count})' for r in failed)}. "
                f"Checked in {elapsed:.1f} s."
            )
        self.stdout.write(
            self.style.SUCCESS(f"The book is consistent: {len(report.results)} checks in {elapsed:.1f} s.")
        )
