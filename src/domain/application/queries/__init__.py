"""The read side as ports: read models (DTOs) and the query protocols the API calls; adapters/queries
implements them on SQL.

A row of a page that the API renders by hand (credits, a schedule, work lists, transactions) is a
named tuple: built at a tuple's cost, where a frozen dataclass assigns each field through
object.__setattr__ (1.7 µs against 0.5 for a 14-field row, a fifth of a 20-row page's rows). Read
models that Ninja validates through `api.http.read_models.schema_of` stay dataclasses."""
