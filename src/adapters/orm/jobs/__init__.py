"""Background jobs: their durable state (the `Job` row the API reads), the portfolio analysis that
walks the book by key, and the nightly delinquency run in set-based SQL."""
