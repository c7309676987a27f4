"""Ledger: Transaction with balanced double-entry postings, the chart of accounts, the bookings of
every money movement (`entries`), derived balances and the whole-book check (`book`).
It knows credits and payments only by id.
"""
