# Sourced by the scripts that start servers, VMs or namespaces, so that
# SIGINT or SIGTERM at any point leaves nothing running:
#
# - bash runs a trap only once its foreground command has ended, which
#   for a VM or a build can be minutes; `fg_run CMD...` runs CMD in the
#   background and waits for it, and a wait is interrupted at once;
# - on either signal the script exits (130 or 143), so its EXIT trap runs;
#   that trap calls `kill_descendants` before its own cleanup, which stops
#   every process the script started, however deep (a shell function run
#   with `&` forks a subshell whose children would outlive it).
_fg_pid=
fg_run() {
    "$@" &
    _fg_pid=$!
    local status=0
    wait "$_fg_pid" || status=$?
    _fg_pid=
    return "$status"
}

_on_signal() {
    [ -z "$_fg_pid" ] || kill -TERM "$_fg_pid" 2>/dev/null || true
    exit "$1"
}
trap '_on_signal 130' INT
trap '_on_signal 143' TERM

_descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        _descendants "$c"
    done
}

# TERM to every descendant of this script, then KILL to what is left
# after a moment.
kill_descendants() {
    local pids
    pids=$(_descendants $$)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 0.5
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}
