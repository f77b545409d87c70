#!/bin/sh
# Start PostgreSQL with the configuration chosen by TASTEMATCH_PG_TUNING (tuned | untuned).
# A choice written to $PGDATA/tastematch-tuning wins over the environment: it lets a
# running container switch configuration with a restart, keeping its data.
set -eu
tuning=${TASTEMATCH_PG_TUNING:-tuned}
if [ -s "$PGDATA/tastematch-tuning" ]; then
    tuning=$(cat "$PGDATA/tastematch-tuning")
fi
case "$tuning" in
    tuned) conf=/etc/tastematch/tuned.conf ;;
    untuned) conf=/etc/tastematch/untuned.conf ;;
    *)
        echo "PostgreSQL tuning must be 'tuned' or 'untuned', not '${tuning}'" >&2
        exit 2
        ;;
esac
echo "starting PostgreSQL with ${conf}"
exec postgres -D "$PGDATA" -c config_file="$conf" "$@"
