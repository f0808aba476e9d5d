#!/bin/sh
# Checks `emberctl power-sim`: --list-profiles prints the shipped profiles, name first; a run
# on a small trace prints exactly the CSV header policy,energy_j,mean_w,p50_ms,p99_ms,misses
# and one numeric row per policy, with performance the fastest and the most expensive and
# powersave the slowest; --policy selects one row; bad input exits 2 with a message.
#
# Usage: test_power_sim_cli.sh EMBERCTL SOURCE_ROOT
set -u

emberctl=$1
# A cross build (make check-arm64) runs the foreign binary through meson's exe wrapper (qemu):
# "$emberctl" then names this function.
emberctl_bin=$1
wrapped_emberctl() { $MESON_EXE_WRAPPER "$emberctl_bin" "$@"; }
[ -z "${MESON_EXE_WRAPPER:-}" ] || emberctl=wrapped_emberctl
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
    echo "FAIL: $*" >&2
    failed=1
}

"$emberctl" power-sim --help >/dev/null || fail "power-sim --help did not exit 0"

list=$("$emberctl" power-sim --list-profiles) || fail "--list-profiles exited $?"
printf '%s\n' "$list" | grep -q '^rpi4 ' || fail "--list-profiles lacks rpi4: $list"
printf '%s\n' "$list" | grep -q '^x86-epyc ' || fail "--list-profiles lacks x86-epyc: $list"

# A small bursty trace: 12 requests of 20 ms within 60 ms every second, for 5 s.
trace=$tmp/small.csv
echo "t_ms,model,service_ms,deadline_ms" >"$trace"
for b in 0 1 2 3 4; do
    for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
        echo "$((b * 1000 + i * 5)),detect,20,400" >>"$trace"
    done
done

out=$("$emberctl" power-sim --trace "$trace" --profile rpi4 --policy all --format csv)
rc=$?
if [ "$rc" -ne 0 ]; then
    fail "power-sim --format csv exited $rc"
else
    printf '%s\n' "$out" | awk -F, '
        NR == 1 && $0 != "policy,energy_j,mean_w,p50_ms,p99_ms,misses" {
            print "FAIL: header is \"" $0 "\"" > "/dev/stderr"; bad = 1
        }
        NR > 1 {
            if (NF != 6) { print "FAIL: row has " NF " fields: " $0 > "/dev/stderr"; bad = 1 }
            for (i = 2; i <= 5; i++)
                if ($i !~ /^[0-9]+\.[0-9]+$/) {
                    print "FAIL: field " i " is not a number: " $0 > "/dev/stderr"; bad = 1
                }
            if ($6 !~ /^[0-9]+$/) { print "FAIL: misses not a count: " $0 > "/dev/stderr"; bad = 1 }
            e[$1] = $2; p50[$1] = $4
        }
        END {
            if (NR != 5) { print "FAIL: " NR " lines, not 5" > "/dev/stderr"; bad = 1 }
            split("performance powersave ondemand ember", names, " ")
            for (k = 1; k <= 4; k++)
                if (!(names[k] in e)) { print "FAIL: no row for " names[k] > "/dev/stderr"; bad = 1 }
            if (!(e["performance"] > e["powersave"] && e["performance"] > e["ember"])) {
                print "FAIL: performance is not the most expensive" > "/dev/stderr"; bad = 1
            }
            if (!(p50["performance"] < p50["powersave"])) {
                print "FAIL: performance is not faster than powersave" > "/dev/stderr"; bad = 1
            }
            exit bad
        }' || failed=1
fi

n=$("$emberctl" power-sim -t "$trace" -p rpi4 -P ember -f csv | wc -l)
[ "$n" -eq 2 ] || fail "--policy ember printed $n lines, not 2"

table=$("$emberctl" power-sim --trace "$trace" --profile "$root/power/profiles/x86-epyc.profile")
printf '%s\n' "$table" | head -1 | grep -q '^policy  *energy_j  *mean_w  *p50_ms  *p99_ms  *misses$' ||
    fail "table header: $table"

expect_usage() {
    desc=$1
    shift
    err=$("$emberctl" power-sim "$@" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" -eq 2 ] || fail "$desc exited $rc, not 2"
    [ -n "$err" ] || fail "$desc printed no message"
}
expect_usage "no --trace" --profile rpi4
expect_usage "an unknown profile" --trace "$trace" --profile nosuch
expect_usage "an unknown policy" --trace "$trace" --profile rpi4 --policy turbo
expect_usage "a bad format" --trace "$trace" --profile rpi4 --format xml
expect_usage "a missing trace" --trace "$tmp/none.csv" --profile rpi4
echo "t,model" >"$tmp/bad.csv"
expect_usage "a bad trace header" --trace "$tmp/bad.csv" --profile rpi4
echo "t_ms,model,service_ms,deadline_ms" >"$tmp/empty.csv"
expect_usage "an empty trace" --trace "$tmp/empty.csv" --profile rpi4

exit $failed
