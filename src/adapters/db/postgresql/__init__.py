"""Django's PostgreSQL backend with a health check that costs no round trip when nothing is wrong.

With CONN_HEALTH_CHECKS Django runs `SELECT 1` before the first query of every request on a
persistent connection: a whole round trip to the server per request, each costing more CPU here
than a hit of the read cache. A connection the server closed (restart, pg_terminate_backend, idle
timeout) has something to read: its termination notice, or the end of the stream. So a silent
socket is usable; a readable one gets Django's own check, which fails and reconnects if it is dead.
What this cannot see, a peer that vanished without a word (a cut cable), `SELECT 1` would only have
turned into a timeout; the request's own query fails instead and Django drops the connection after it.
psqlextra's backend (partitioning) builds on this one: POSTGRES_EXTRA_DB_BACKEND_BASE in settings.
"""
