"""`manage.py seed_data --level 1|2|3 [--scale F] [--seed N] [--truncate]`: a generated book at the
seed's volumes, written with COPY (see tools.bookgen). Refused in production."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tools.bookgen import ddl
from tools.bookgen.loader import Loader, SeedError, report_lines
from tools.bookgen.plan import SEED_PASSWORD


class Command(BaseCommand):
    help = "Generate users, catalogs and a whole credit book at the seed's volumes (COPY, indexes after)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--level", type=int, choices=[1, 2, 3], default=1)
        parser.add_argument("--scale", type=float, default=1.0, help="multiplies the level's volumes")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--truncate", action="store_true", help="replace the book and the generated users")
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="generator processes (default: one per core)"
        )
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="the business date the history ends on (default: today; never later): the same seed and date "
            "give the same book",
        )
        parser.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE after the load (not only ANALYZE)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
        parser.add_argument(
            "--rebuild-only",
            action="store_true",
            help="only recreate the indexes and foreign keys a failed load left dropped",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rebuild_only"]:
            definitions = ddl.definitions()
            missing = ddl.missing(definitions)
            ddl.restore(definitions)
            self.stdout.write(f"Recreated {len(missing)} index(es) and foreign key(s).")
            return
        try:
            loader = Loader(
                level=options["level"],
                scale=options["scale"],
                seed=options["seed"],
                truncate=bool(options["truncate"]),
                workers=options["workers"],
                progress=False if options["no_progress"] else None,
                vacuum=bool(options["vacuum"]),
                out=self.stdout,
                today=options["as_of"],
            )
            report = loader.run()
        except (SeedError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        report_lines(report, self.stdout.write)
        self.stdout.write(
            f"Generated users log in as seed_admin1, seed_agent1, seed_client1... with {SEED_PASSWORD!r}."
        )
