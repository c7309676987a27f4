#!/usr/bin/env bash
# The template (mounted at /etc/pgbouncer/pgbouncer.ini.template) filled from the environment, and the
# app role's password in the auth file; secrets stay in the container's tmpfs, never in the image.
set -euo pipefail
: "${PGBOUNCER_USER:?set PGBOUNCER_USER}" "${PGBOUNCER_PASSWORD:?set PGBOUNCER_PASSWORD}"
umask 077
export PGBOUNCER_AUTH_FILE=/tmp/userlist.txt PGBOUNCER_ADMIN_USER="$PGBOUNCER_USER"
printf '"%s" "%s"\n' "$PGBOUNCER_USER" "$PGBOUNCER_PASSWORD" > "$PGBOUNCER_AUTH_FILE"
envsubst < /etc/pgbouncer/pgbouncer.ini.template > /tmp/pgbouncer.ini
exec pgbouncer /tmp/pgbouncer.ini
