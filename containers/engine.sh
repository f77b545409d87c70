#!/usr/bin/env bash
# Make sure a Docker engine answers.
#
# - An engine already answers: nothing to do.
# - Otherwise, on Debian/Ubuntu as root: install docker.io when dockerd is missing,
#   start dockerd in the background with the first storage driver that works here
#   (overlay2, then vfs) and wait until it answers.
# - Otherwise: stop with a message saying how to get an engine.
#
# Idempotent: never starts a second daemon (the daemon's pidfile is checked first).
#
# Environment:
#   DOCKERD_LOG               daemon log file (default /var/log/tastematch-dockerd.log)
#   DOCKER_STORAGE_DRIVERS    drivers to try, in order (default "overlay2 vfs")
#   DOCKER_START_TIMEOUT      seconds to wait for each attempt (default 60)
#   DOCKER_PIDFILE            pidfile of a running daemon (default /var/run/docker.pid)
set -euo pipefail

log_file=${DOCKERD_LOG:-/var/log/tastematch-dockerd.log}
drivers=${DOCKER_STORAGE_DRIVERS:-overlay2 vfs}
timeout_s=${DOCKER_START_TIMEOUT:-60}
pidfile=${DOCKER_PIDFILE:-/var/run/docker.pid}

say() { printf '[engine] %s\n' "$*"; }
die() {
    printf '[engine] ERROR: %s\n' "$*" >&2
    exit 1
}

# Bash evaluates what stands inside (( )) as code: a value such as 'a[$(cmd)]' would run
# cmd, as root. Only plain numbers reach arithmetic.
[[ $timeout_s =~ ^[0-9]{1,5}$ ]] && ((10#$timeout_s > 0)) ||
    die "DOCKER_START_TIMEOUT must be a whole number of seconds from 1 to 99999, not '${timeout_s}'"
timeout_s=$((10#$timeout_s))

engine_answers() { docker info >/dev/null 2>&1; }

# A daemon process that owns the pidfile and is still alive.
daemon_pid() {
    local pid
    [[ -r $pidfile ]] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] \
        && echo "$pid"
}

wait_for_engine() {
    local pid=$1 waited=0
    while ((waited < timeout_s)); do
        if engine_answers; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
        if ((waited % 10 == 0)); then
            say "still waiting for the engine (${waited}s of ${timeout_s}s)"
        fi
    done
    return 1
}

how_to_get_an_engine() {
    cat >&2 <<'EOF'
[engine] No Docker engine answers and this script cannot start one here.
[engine] Get an engine, then run `make engine` again:
[engine]   - Debian/Ubuntu: run `sudo make engine` (installs docker.io and starts dockerd), or
[engine]     `sudo apt-get install docker.io && sudo systemctl start docker`;
[engine]   - other Linux: install Docker Engine (https://docs.docker.com/engine/install/);
[engine]   - macOS/Windows: start Docker Desktop (or colima / Rancher Desktop);
[engine]   - remote engine: export DOCKER_HOST=tcp://host:2376 (or ssh://user@host).
[engine] Your user needs access to the engine's socket (e.g. membership of the `docker` group).
EOF
    exit 1
}

# Exits when an engine answers or a daemon already runs; returns when there is none.
use_running_engine() {
    local pid reason hint
    if engine_answers; then
        say "a Docker engine answers ($(docker info --format '{{.ServerVersion}}, storage driver {{.Driver}}' 2>/dev/null)); nothing to do"
        exit 0
    fi
    pid=$(daemon_pid) || return 0
    # A daemon is running but not answering yet (still starting, or the socket is not ours).
    say "dockerd is already running (pid $pid); waiting for it to answer, not starting another one"
    if wait_for_engine "$pid"; then
        say "the engine answers"
        exit 0
    fi
    reason=$(docker info 2>&1 >/dev/null | tail -n 1 || true)
    case $reason in
        *"permission denied"*) hint="add your user to the docker group (or use sudo)" ;;
        *) hint="see the daemon's log (${log_file} if this script started it)" ;;
    esac
    die "dockerd (pid $pid) runs but \`docker info\` fails: ${reason}; ${hint}"
}

use_running_engine

is_debian_like() { [[ -r /etc/os-release ]] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }

if [[ $(id -u) -ne 0 ]] || ! is_debian_like || ! command -v apt-get >/dev/null 2>&1; then
    how_to_get_an_engine
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    say "installing docker.io with apt-get (log: /var/log/tastematch-apt.log)"
    export DEBIAN_FRONTEND=noninteractive
    {
        apt-get update
        apt-get install -y --no-install-recommends docker.io iptables ca-certificates
    } >/var/log/tastematch-apt.log 2>&1 || die "apt-get install docker.io failed; see /var/log/tastematch-apt.log"
    # The package's own scripts may have started the daemon already.
    use_running_engine
fi

# A service manager may own dockerd (systemd on a normal machine): prefer it.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    say "starting docker with systemctl"
    if systemctl start docker >/dev/null 2>&1 && wait_for_engine ""; then
        say "the engine answers ($(docker info --format '{{.Driver}}' 2>/dev/null) storage driver)"
        exit 0
    fi
    say "systemctl could not start docker; starting dockerd directly"
fi

for driver in $drivers; do
    say "starting dockerd with the ${driver} storage driver (log: ${log_file})"
    echo "=== $(date -u +%FT%TZ) starting dockerd --storage-driver=${driver}" >>"$log_file"
    nohup dockerd --storage-driver="$driver" >>"$log_file" 2>&1 &
    pid=$!
    if wait_for_engine "$pid"; then
        actual=$(docker info --format '{{.Driver}}' 2>/dev/null || true)
        if [[ $actual == "$driver" ]]; then
            say "the engine answers (dockerd pid ${pid}, storage driver ${actual})"
            exit 0
        fi
        say "dockerd answers but reports storage driver '${actual}' instead of '${driver}'; trying the next one"
    else
        say "dockerd with ${driver} did not come up within ${timeout_s}s; last log lines:"
        tail -n 5 "$log_file" | sed 's/^/[engine]   /'
    fi
    kill "$pid" 2>/dev/null || true
    # Let the failed daemon release its pidfile and socket before the next attempt.
    for _ in $(seq 1 20); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
done

die "dockerd did not start with any of the storage drivers (${drivers}); see ${log_file}"
