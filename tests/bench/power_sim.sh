#!/bin/sh
# Prints `emberctl power-sim`'s table for the four traces in power/traces (steady, bursty,
# diurnal, wakeword) on each device profile, and for the bursty trace the issue's targets:
# ember's energy against performance (>= 30 % less) and ondemand (>= 15 % less), its p99
# against the deadline and its misses against ondemand's. Run by hand; not part of make check.
#
# Usage: tests/bench/power_sim.sh [EMBERCTL] [PROFILE...]   (default build/clients/emberctl,
#        profiles rpi4 and x86-epyc)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
emberctl=${1:-$root/build/clients/emberctl}
[ $# -gt 0 ] && shift
profiles=${*:-rpi4 x86-epyc}

for profile in $profiles; do
    for trace in steady bursty diurnal wakeword; do
        echo "== $trace on $profile"
        "$emberctl" power-sim --trace "$root/power/traces/$trace.csv" --profile "$profile"
        echo
    done
    # The deadline that p99 speaks for: the most common model's (each request's own deadline
    # is what the misses column counts).
    deadline=$(awk -F, 'NR > 1 { n[$4]++ } END { for (d in n) if (n[d] > best) { best = n[d]; m = d }
        print m }' "$root/power/traces/bursty.csv")
    "$emberctl" power-sim --trace "$root/power/traces/bursty.csv" --profile "$profile" \
        --format csv | awk -F, -v profile="$profile" -v deadline="$deadline" '
        NR > 1 { e[$1] = $2; p99[$1] = $5; miss[$1] = $6 }
        END {
            vs_perf = 100 * (1 - e["ember"] / e["performance"])
            vs_od = 100 * (1 - e["ember"] / e["ondemand"])
            printf "bursty targets on %s:\n", profile
            printf("  ember vs performance: %.1f %% less energy (target >= 30): %s\n", vs_perf,
                (vs_perf >= 30) ? "met" : "NOT met")
            printf("  ember vs ondemand:    %.1f %% less energy (target >= 15): %s\n", vs_od,
                (vs_od >= 15) ? "met" : "NOT met")
            printf("  ember p99 %.2f ms vs the main model deadline %s ms: %s\n", p99["ember"], deadline,
                (p99["ember"] + 0 <= deadline + 0) ? "met" : "NOT met")
            printf("  ember misses %d vs ondemand %d: %s\n", miss["ember"], miss["ondemand"],
                (miss["ember"] + 0 <= miss["ondemand"] + 0) ? "met" : "NOT met")
            print ""
        }'
done
