#!/bin/sh
# Checks the contract of `emberctl bench` that tests/bench/compare.sh relies on: --help exits
# 0, a model that cannot be loaded exits 2, and --format csv prints exactly the header
# model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb and one row of six fields, five numeric;
# --threads reports the count applied (capped at the CPUs online); --profile lists the
# model's operator types with shares summing to 100 % and its slowest nodes.
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
    # The session runs on at most as many threads as there are CPUs online.
    cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
    want=$((cpus < 4 ? cpus : 4))
    threads=$(printf '%s\n' "$out" | awk -F, 'NR == 2 { print $2 }')
    [ "$threads" = "$want" ] || fail "--threads 4 reported $threads threads, not $want"
fi

# --profile: one line per operator type of the model (digits: Gemm, Softmax), shares that sum
# to about 100 %, and the slowest nodes by name; it refuses --format csv.
out=$("$emberctl" bench "$model" --iters 3 --warmup 1 --profile)
rc=$?
if [ "$rc" -ne 0 ]; then
    fail "--profile exited $rc"
else
    printf '%s\n' "$out" | awk '
        /^profile:/ { inops = 1; next }
        /^slowest nodes/ { inops = 0; innodes = 1; next }
        inops && $1 != "op" && NF == 4 { ops[$1] = 1; sum += $3 + 0 }
        innodes && NF == 4 { nodes[$4] = 1 }
        END {
            if (!ops["Gemm"] || !ops["Softmax"] || length(ops) != 2) {
                print "FAIL: profile op types are not Gemm and Softmax" > "/dev/stderr"; bad = 1
            }
            if (sum < 99.5 || sum > 100.5) {
                print "FAIL: profile shares sum to " sum > "/dev/stderr"; bad = 1
            }
            if (!nodes["fc1"] || !nodes["fc2"] || !nodes["softmax"]) {
                print "FAIL: profile does not list nodes fc1, fc2, softmax" > "/dev/stderr"; bad = 1
            }
            exit bad
        }' || { failed=1; printf '%s\n' "$out" >&2; }
fi
"$emberctl" bench "$model" --iters 1 --profile --format csv >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--profile --format csv exited $rc, not 2"

"$emberctl" bench "$model" --iters 1 --threads 0 >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "--threads 0 exited $rc, not 2"
"$emberctl" run "$model" -o /nonexistent --threads 0 >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "emberctl run --threads 0 exited $rc, not 2"

[ "$failed" -eq 0 ] && echo "ok: emberctl bench keeps its contract"
exit "$failed"
