"""Backups and point-in-time recovery with pgBackRest: WAL archiving, full and incremental backups,
restores into a scratch cluster, and the restore drill (`python -m deploy.backup`, docs/operations.md)."""
