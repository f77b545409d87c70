#!/usr/bin/env bash
# Make sure a headless Chromium is there for the report's browser tests.
#
# - $CHROMIUM names an executable, or `chromium` / `chromium-browser` is on PATH: nothing to do.
# - Otherwise, on Debian/Ubuntu as root: install Debian's `chromium` package with apt-get.
# - Otherwise: stop with a message naming the command that installs one.
#
# Playwright drives this browser; it never downloads one of its own.
#
# Environment:
#   CHROMIUM          a Chromium executable to use instead of looking on PATH
#   BROWSER_APT_LOG   apt-get's log (default /var/log/tastematch-apt.log)
set -euo pipefail

apt_log=${BROWSER_APT_LOG:-/var/log/tastematch-apt.log}

say() { printf '[browser] %s\n' "$*"; }
die() {
    printf '[browser] ERROR: %s\n' "$*" >&2
    exit 1
}

# Prints the Chromium to use, or nothing.
find_chromium() {
    if [[ -n ${CHROMIUM:-} ]]; then
        [[ -f $CHROMIUM && -x $CHROMIUM ]] || die "CHROMIUM=${CHROMIUM} is not an executable file"
        echo "$CHROMIUM"
        return 0
    fi
    command -v chromium || command -v chromium-browser || true
}

# Exits when a Chromium is found; returns when there is none.
use_found_chromium() {
    local executable version
    executable=$(find_chromium)
    [[ -n $executable ]] || return 0
    version=$("$executable" --version 2>/dev/null | head -n 1) || version="its --version failed"
    say "headless Chromium: ${executable} (${version}); nothing to do"
    exit 0
}

how_to_get_chromium() {
    local line
    # Builtins only: this branch must speak even where PATH holds nothing useful.
    while IFS= read -r line; do printf '%s\n' "$line" >&2; done <<'MSG'
[browser] No Chromium found (looked at $CHROMIUM, chromium and chromium-browser on PATH),
[browser] and this script installs one only as root on Debian/Ubuntu. Get one, then run `make browser` again:
[browser]   - Debian/Ubuntu: `sudo make browser`, or `sudo apt-get install chromium`;
[browser]   - elsewhere: install Chromium (or Chrome) and export CHROMIUM=/path/to/its/executable.
MSG
    exit 1
}

use_found_chromium

is_debian_like() { [[ -r /etc/os-release ]] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }

if ((EUID != 0)) || ! is_debian_like || ! command -v apt-get >/dev/null 2>&1; then
    how_to_get_chromium
fi

say "installing chromium with apt-get (log: ${apt_log})"
export DEBIAN_FRONTEND=noninteractive
{
    apt-get update
    apt-get install -y chromium
} >>"$apt_log" 2>&1 || die "apt-get install chromium failed; see ${apt_log} (or export CHROMIUM=/path/to/chromium)"

use_found_chromium
die "apt-get installed chromium, but no chromium is on PATH; export CHROMIUM=/path/to/chromium"
