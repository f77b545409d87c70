#!/bin/sh
# Write pgbouncer.ini with the pool size of TASTEMATCH_PGBOUNCER_POOL_SIZE, then run
# PgBouncer in the foreground (its log goes to stderr).
set -eu
size=${TASTEMATCH_PGBOUNCER_POOL_SIZE:-8}
case "$size" in
    '' | *[!0-9]*)
        echo "TASTEMATCH_PGBOUNCER_POOL_SIZE must be a positive whole number, not '${size}'" >&2
        exit 2
        ;;
esac
if [ "$size" -lt 1 ]; then
    echo "TASTEMATCH_PGBOUNCER_POOL_SIZE must be at least 1, not '${size}'" >&2
    exit 2
fi
conf=/run/tastematch-pgbouncer/pgbouncer.ini
sed "s/@POOL_SIZE@/${size}/g" /etc/tastematch/pgbouncer.ini > "$conf"
echo "starting PgBouncer: transaction pooling, at most ${size} Postgres connections"
exec pgbouncer "$conf"
