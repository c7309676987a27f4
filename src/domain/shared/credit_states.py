"""Which credit states are open: money may move (payments, fees, waivers, adjustments) only on
an open credit, and only open credits count as owing.

The one statement for `domain.credits.model.CreditState.is_open`, for analytics (which reads states
as strings and does not import the credits context) and for the SQL fragment
`adapters.sql.rules.OPEN_STATES_SQL`. `CreditState` turns each value into a member when it is
imported, so a value that names no state fails at once.
"""

from __future__ import annotations

# In the order of `CreditState`'s members (the SQL reads the same whatever the process).
OPEN_STATE_VALUES: tuple[str, ...] = ("active", "defaulted")
