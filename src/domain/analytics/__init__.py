"""Analytics: read models (client summaries, portfolio KPIs and aging, collection lists, a
chunked portfolio analysis with progress) over plain rows from query ports.
"""
