# lib.sh: sourced by the benchmark scripts here (daemon_bench.sh, footprint.sh), not run.

# bench_setup TAG MODEL FILE...: exits 2 when a FILE of the build ($build) is missing and 77
# when MODEL (from ../shared) is; then makes the scratch directory $tmp, removed (and a
# running emberd stopped) when the script ends.
bench_setup() {
    tag=$1
    mdl=$2
    shift 2
    for f in "$@"; do
        [ -e "$f" ] || { echo "$tag: $f is missing: build first (ninja -C $build)" >&2; exit 2; }
    done
    if [ ! -f "$mdl" ]; then
        echo "$tag: $mdl is absent (../shared not mounted?)" >&2
        exit 77
    fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-$tag.XXXXXX")
    pid=
    trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}

# start_emberd ARGS...: starts emberd ($emberd) on $tmp/sock with ARGS, its log in
# $tmp/emberd.log at $emberd_log_level (default warn), and waits until it listens (at most
# 20 s); stop_emberd stops it. $pid is the running daemon's, empty when none.

start_emberd() {
    : >"$tmp/emberd.log"
    "$emberd" --socket "$tmp/sock" --log-level "${emberd_log_level:-warn}" "$@" \
        2>"$tmp/emberd.log" &
    pid=$!
    i=0
    until grep -q 'listening on' "$tmp/emberd.log"; do
        i=$((i + 1))
        if [ $i -gt 400 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "$(basename "$0"): emberd did not start:" >&2
            cat "$tmp/emberd.log" >&2
            exit 1
        fi
        sleep 0.05
    done
}

stop_emberd() {
    kill "$pid"
    wait "$pid" || true
    pid=
}
