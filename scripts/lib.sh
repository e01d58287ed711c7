# Shared helpers for scripts/setup, scripts/test and .ci/run. Source it; it defines
# functions only and changes no state, so tests can source it and call one function.
# shellcheck shell=bash

SHIPYARD_TAG=${SHIPYARD_TAG:-setup}

# The ordinary user that scripts/test runs the `not root` tier as, and that user's venv:
# Debian's python with the project's requirements, in a folder every user can read (the
# project's .venv may use a python that only root can reach, such as a pyenv under /root).
# shellcheck disable=SC2034 # used by the scripts that source this file
TEST_USER=shipyard-test
# shellcheck disable=SC2034
TEST_VENV=/opt/shipyard/venv-unprivileged

say() { printf '%s: %s\n' "$SHIPYARD_TAG" "$*"; }

die() {
    printf '%s: ERROR: %s\n' "$SHIPYARD_TAG" "$*" >&2
    exit 1
}

# die with the last lines of a log file appended, so the failure is actionable in CI output.
die_with_log() {
    local log=$1
    shift
    printf '%s: ERROR: %s\n' "$SHIPYARD_TAG" "$*" >&2
    if [[ -s $log ]]; then
        printf '%s: last lines of %s:\n' "$SHIPYARD_TAG" "$log" >&2
        tail -n 25 "$log" | sed 's/^/    /' >&2
    fi
    exit 1
}

# pkg_installed NAME: true when dpkg has NAME fully installed.
pkg_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

# debian_mirror [APT_DIR] [CODENAME]: the first archive URI that apt uses for CODENAME
# (not -security/-updates), from one-line sources.list files and deb822 *.sources files.
# Prints nothing when none is found. Files apt ignores (other suffixes) are ignored too.
debian_mirror() {
    _apt_uri_for_suite "${1:-/etc/apt}" "${2:-bookworm}"
}

# debian_security_mirror [APT_DIR] [CODENAME]: the URI apt uses for CODENAME-security.
debian_security_mirror() {
    _apt_uri_for_suite "${1:-/etc/apt}" "${2:-bookworm}-security"
}

_apt_uri_for_suite() {
    local apt_dir=$1 suite=$2 files=()
    [[ -f $apt_dir/sources.list ]] && files+=("$apt_dir/sources.list")
    local f
    for f in "$apt_dir"/sources.list.d/*.list "$apt_dir"/sources.list.d/*.sources; do
        [[ -f $f ]] && files+=("$f")
    done
    ((${#files[@]})) || return 0
    awk -v want="$suite" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled != "no" && !found) {
                n = split(suites, s, " ")
                for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, " "); print u[1]; found = 1 }
            }
            types = uris = suites = enabled = ""
        }
        FNR == 1 { flush() }
        /^[ \t]*#/ { next }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            key = tolower($1); sub(/:$/, "", key)
            val = $0; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "enabled") enabled = tolower(val)
            next
        }
        $1 == "deb" && !found {
            line = $0; sub(/\[[^]]*\]/, "", line); split(line, w, " ")
            if (w[3] == want) { print w[2]; found = 1 }
        }
        END { flush() }
    ' "${files[@]}" | head -n 1 | sed 's:/*$::'
}
