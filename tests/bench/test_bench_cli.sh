#!/bin/sh
# Checks the contract of `emberctl bench` that tests/bench/compare.sh relies on: --help exits
# 0, a model that cannot be loaded exits 2, and --format csv prints exactly the header
# model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb and one row of six fields, five numeric.
#
# Usage: test_bench_cli.sh EMBERCTL SOURCE_ROOT
set -u

emberctl=$1
# A cross build (make check-arm64) runs the foreign binary through meson's exe wrapper (qemu):
# "$emberctl" then names this function.
emberctl_bin=$1
wrapped_emberctl() { $MESON_EXE_WRAPPER "$emberctl_bin" "$@"; }
[ -z "${MESON_EXE_WRAPPER:-}" ] || emberctl=wrapped_emberctl
root=$2
model=$root/models/digits/1/model.onnx
failed=0

fail() {
    echo "FAIL: $*" >&2
    failed=1
}

if ! "$emberctl" bench --help >/dev/null; then
    fail "emberctl bench --help did not exit 0"
fi

"$emberctl" bench "$root/no/such/model.onnx" --iters 1 >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a missing model exited $rc, not 2"

"$emberctl" bench "$model" --iters 0 >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--iters 0 exited $rc, not 2"

out=$("$emberctl" bench "$model" --iters 5 --format csv)
rc=$?
if [ "$rc" -ne 0 ]; then
    fail "emberctl bench $model --iters 5 --format csv exited $rc"
else
    printf '%s\n' "$out" | awk -F, -v model="$model" '
        NR == 1 && $0 != "model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb" {
            print "FAIL: header is \"" $0 "\"" > "/dev/stderr"; bad = 1
        }
        NR == 2 {
            if (NF != 6) { print "FAIL: row has " NF " fields: " $0 > "/dev/stderr"; bad = 1 }
            if ($1 != model) { print "FAIL: row names model \"" $1 "\"" > "/dev/stderr"; bad = 1 }
            for (i = 2; i <= 6; i++)
                if ($i !~ /^[0-9]+(\.[0-9]+)?$/) {
                    print "FAIL: field " i " is not a number: \"" $i "\"" > "/dev/stderr"; bad = 1
                }
            if ($2 != 1) { print "FAIL: threads is " $2 ", not 1" > "/dev/stderr"; bad = 1 }
            if ($5 + 0 > $3 + 0 || $3 + 0 > $4 + 0) {
                print "FAIL: not min <= p50 <= p90: " $0 > "/dev/stderr"; bad = 1
            }
        }
        END {
            if (NR != 2) { print "FAIL: " NR " lines, not 2" > "/dev/stderr"; bad = 1 }
            exit bad
        }' || failed=1
fi

out=$("$emberctl" bench "$model" --iters 2 --warmup 0 --threads 4 --format csv 2>/dev/null)
rc=$?
if [ "$rc" -ne 0 ]; then
    fail "--threads 4 exited $rc"
else
    threads=$(printf '%s\n' "$out" | awk -F, 'NR == 2 { print $2 }')
    [ "$threads" = 1 ] || fail "--threads 4 reported $threads threads; only 1 runs today"
fi

[ "$failed" -eq 0 ] && echo "ok: emberctl bench keeps its contract"
exit "$failed"
