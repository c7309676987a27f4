#!/usr/bin/env bash
# A hot standby: clone the primary once with pg_basebackup, then follow it by streaming.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h db-primary -U replicator -D "$PGDATA" -R -X stream -P; do
    echo "waiting for the primary..."; sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on
