#!/bin/sh
# cache_batch_bench.sh: what a model's response cache and dynamic batching do to emberd's
# throughput. Serves the digits model from a temporary repository three times, with no
# config.json, with {"cache": {"entries": 16}} and with {"max_batch": 16}, and drives each
# with tests/bench/loadgen (16 keep-alive connections, models/digits/sample.json every time,
# so with the cache all but the first few requests are hits). Prints requests/s and p50 per
# configuration, and from /metrics the runs the workers made and the mean rows per run.
# Run by hand; not part of the test command. Timings on a shared machine are noisy: compare
# the runs per request, which are not.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
duration=3
workers=2

usage() {
    cat <<EOF
Usage: tests/bench/cache_batch_bench.sh [--build DIR] [--duration SECONDS] [--workers N]

  --build DIR         build directory holding daemon/emberd and tests/bench/loadgen
                      (default: $root/build)
  --duration SECONDS  length of each load run (default 3)
  --workers N         emberd --workers (default 2)
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

emberd=$build/daemon/emberd
loadgen=$build/tests/bench/loadgen
for f in "$emberd" "$loadgen"; do
    [ -x "$f" ] || { echo "cache_batch_bench: $f is missing: build first (ninja -C $build)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-cbbench.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir -p "$tmp/models/digits/1"
cp "$root/models/digits/1/model.onnx" "$tmp/models/digits/1/"

# The value of the series named exactly $1 in /metrics (0 when absent).
metric() {
    curl -s --unix-socket "$tmp/sock" http://localhost/metrics |
        awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}

printf '%-28s %10s %9s %8s %12s\n' config requests/s p50_us runs runs/request
for config in '' '{"cache": {"entries": 16}}' '{"max_batch": 16}'; do
    if [ -n "$config" ]; then
        echo "$config" >"$tmp/models/digits/config.json"
    else
        rm -f "$tmp/models/digits/config.json"
    fi
    "$emberd" --dev --models "$tmp/models" --socket "$tmp/sock" --workers "$workers" \
        --log-level warn 2>"$tmp/emberd.log" &
    pid=$!
    i=0
    until curl -s --unix-socket "$tmp/sock" http://localhost/v2/health/ready >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "cache_batch_bench: emberd did not start:" >&2
            cat "$tmp/emberd.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    out=$("$loadgen" --socket "$tmp/sock" --path /v2/models/digits/infer \
        --body "$root/models/digits/sample.json" --connections 16 --duration "$duration" |
        grep '^RESULT')
    rps=$(echo "$out" | sed 's/.* rps=\([0-9.]*\).*/\1/')
    p50=$(echo "$out" | sed 's/.* p50_us=\([0-9.]*\).*/\1/')
    answered=$(metric 'emberd_infer_requests_total{model="digits",version="1",status="200"}')
    runs=$(metric 'emberd_batch_size_count{model="digits"}')
    [ "$runs" = 0 ] && runs=$(metric emberd_inferences_computed_total)
    printf '%-28s %10s %9s %8s %12s\n' "${config:-none}" "$rps" "$p50" "$runs" \
        "$(awk -v r="$runs" -v a="$answered" 'BEGIN { printf "%.3f", a ? r / a : 0 }')"
    kill "$pid"
    wait "$pid" || true
    pid=
done
