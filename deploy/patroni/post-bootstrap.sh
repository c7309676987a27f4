#!/usr/bin/env bash
# Patroni's bootstrap.post_bootstrap (start.sh): run once per cluster, on the node that ran initdb, with
# PostgreSQL up and before the node takes the leader key ($1: the superuser's connection string). A
# failure fails the bootstrap: Patroni removes the data directory and tries again, so no cluster ever
# runs without the app's database or without WAL archiving.
#
# The stanza is created here rather than by a one-shot service (stanza-create needs the primary's data
# directory, which no other container has) or by a leader-watching loop in start.sh: this is the one
# moment the primary is known to be this node, and a standby cloned later shares its system id, so the
# stanza stays valid across failovers. A backup-repo volume kept from an earlier cluster (another system
# id) makes stanza-create fail: remove it together with the nodes' data volumes.
set -euo pipefail
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"

# The password is read by psql from the environment (\getenv), never put on a command line.
psql "$1" --no-psqlrc -v ON_ERROR_STOP=1 <<'SQL'
\getenv app_password APP_DB_PASSWORD
CREATE ROLE fintech WITH LOGIN PASSWORD :'app_password';
ALTER ROLE fintech SET timezone = 'UTC';
CREATE DATABASE fintech OWNER fintech;
\connect fintech
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL

# PGBACKREST_CONFIG and PGBACKREST_STANZA come from start.sh through Patroni's environment.
pgbackrest stanza-create
