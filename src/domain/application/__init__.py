"""Application services: the use cases, orchestrating the bounded contexts through their ports.

The contexts (credits, payments, ledger, analytics) never import each other; this package is the
one place that imports several of them, and none of them imports it. Each use case is a function
`use_case(ports, command..., actor)` that opens the unit of work, loads what it needs (locking
money rows with `for_update=True`), applies the contexts' rules, saves explicitly and commits.

- `ports.Ports`: every port a use case may need, plus the configurable `Policies`.
- `services`: open/activate/cancel credit, register/reverse payment, apply late fees, request/
  decide/grant fee waivers, adjust, write off, refinance, recompute delinquency, verify the book.
- `figures`: a credit's read-model row (`CreditFigures`) computed from the aggregate, the
  reference the SQL query adapters must agree with.
"""
