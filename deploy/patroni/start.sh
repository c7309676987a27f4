#!/usr/bin/env bash
# A Patroni node. Patroni takes the settings shared by every node from deploy/patroni/patroni.yml
# (mounted) and the node's own from PATRONI_* variables, but it has no variable for a postgresql
# parameter, pg_hba or the bootstrap script: those go into a second file, and Patroni (3.0 reads a
# directory of YAML files, merged in name order) is started on both. pgBackRest's configuration is
# the deploy/backup/pgbackrest.conf template (mounted) filled for this node. Secrets come from the
# environment only, into files under /tmp: never in the image or a volume.
set -euo pipefail
: "${PATRONI_NAME:?set PATRONI_NAME}" "${PATRONI_POSTGRESQL_DATA_DIR:?set PATRONI_POSTGRESQL_DATA_DIR}"
: "${PATRONI_POSTGRESQL_LISTEN:?set PATRONI_POSTGRESQL_LISTEN}"
: "${PATRONI_REPLICATION_USERNAME:?set PATRONI_REPLICATION_USERNAME}"

# Where the image and compose put things (deploy/patroni/Dockerfile, docker-compose.yml).
shared=${SHARED_CONFIG:-/etc/patroni/patroni.yml}
template=${BACKUP_CONFIG_TEMPLATE:-/etc/pgbackrest/pgbackrest.conf.template}
repo=${BACKUP_REPO:-/var/lib/pgbackrest}  # a volume shared by the nodes: whichever is primary archives
socket_dir=/run/postgresql
tmp=${TMPDIR:-/tmp}
# pgBackRest reads both from its environment: post-bootstrap's stanza-create, an operator's `pgbackrest
# info` in this container. The archive_command below names them too, as PostgreSQL runs it.
export PGBACKREST_CONFIG=${PGBACKREST_CONFIG:-/etc/pgbackrest/pgbackrest.conf} PGBACKREST_STANZA=fintech

umask 077
# Logs, locks and the spool are this node's own (the repository alone is shared).
mkdir -p "$tmp/pgbackrest/log" "$tmp/pgbackrest/lock" "$tmp/pgbackrest/spool" "$tmp/patroni"
# Only the template's placeholders are replaced (envsubst would empty any other dollar sign).
# shellcheck disable=SC2016
REPO_PATH=$repo LOG_PATH=$tmp/pgbackrest/log LOCK_PATH=$tmp/pgbackrest/lock SPOOL_PATH=$tmp/pgbackrest/spool \
  STANZA=$PGBACKREST_STANZA PG_DATA=$PATRONI_POSTGRESQL_DATA_DIR PG_PORT=${PATRONI_POSTGRESQL_LISTEN##*:} \
  PG_SOCKET_DIR=$socket_dir \
  envsubst '${REPO_PATH} ${LOG_PATH} ${LOCK_PATH} ${SPOOL_PATH} ${STANZA} ${PG_DATA} ${PG_PORT} ${PG_SOCKET_DIR}' \
  < "$template" > "$PGBACKREST_CONFIG"

# A link, not a copy: Patroni rereads the shared file on a reload (SIGHUP, `patronictl reload`).
ln -sfn "$shared" "$tmp/patroni/00-shared.yml"
cat > "$tmp/patroni/10-node.yml" <<YAML
bootstrap:
  # Once, on the node that runs initdb: the app's role, database and extensions, and the backup stanza.
  post_bootstrap: bash /usr/local/bin/post-bootstrap
postgresql:
  # Patroni and pgBackRest reach their own server on the socket, as postgres (peer): no password.
  use_unix_socket: true
  parameters:
    unix_socket_directories: '$socket_dir'
    # Only a primary archives (archive_mode on, not always): after a failover, the new one.
    archive_command: 'pgbackrest --config=$PGBACKREST_CONFIG --stanza=$PGBACKREST_STANZA archive-push %p'
  # Patroni writes pg_hba.conf from this list. Passwords (SCRAM) over TCP: compose's network is private.
  pg_hba:
    - local all all peer
    - host all all 0.0.0.0/0 scram-sha-256
    - host replication $PATRONI_REPLICATION_USERNAME 0.0.0.0/0 scram-sha-256
YAML

exec patroni "$tmp/patroni"
