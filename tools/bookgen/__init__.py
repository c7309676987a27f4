"""The data generator behind `manage.py seed_data`: a whole book at the seed's volumes, written with COPY.

A Django app of its own (`apps.BookgenConfig`, no models) that brings the commands `seed_data`,
`check_book` and `load_demo`; it uses the application (`domain`, `adapters`), never the reverse.

- `plan`: the levels (the seed's table), the scale, the shapes (shares, price points, terms) and
  the batches the credits are generated in.
- `schedules`: schedule amounts from the domain's `generate_schedule` (cached per template) and
  due dates from the same rules, as integer minor units and day ordinals.
- `book`: one batch of credits simulated through the domain's rules in integer arithmetic —
  disbursement, late-fee runs, waivers, split payments, reversals, adjustments, write-offs and the
  delinquency run — written as COPY text rows for every table.
- `ddl`: secondary indexes and foreign keys dropped before the load and rebuilt from the models'
  definitions after it; sequences; ANALYZE.
- `loader`: catalogs, users, partitions, the batches on worker processes, progress bars, timings.
- `checks`: `manage.py check_book`, set-based SQL over the whole book plus domain samples.
- `management/commands`: `seed_data`, `check_book`, and `load_demo` (the demo book of `make run`,
  written through the use cases).
"""
