#!/bin/sh
# Prints `emberctl power-sim`'s table for the four traces in power/traces (steady, bursty,
# diurnal, wakeword) on each device profile, and for the bursty trace the issue's targets:
# ember's energy against performance (>= 30 % less) and ondemand (>= 15 % less), its p99
# against the deadline and its misses against ondemand's, next to the floor no policy can go
# under on that device model: every core in its deepest idle state at the lowest clock for the
# whole window, plus each request's work at the clock where it costs least over that floor.
# Run by hand; not part of make check.
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
    # The floor, from the profile: idle_w at the lowest clock less, when the cores have a
    # deep idle state, shallow_w per core; and per ms of work (service at the highest clock)
    # the least, over the clocks, of its stretched time x what a busy core adds over that floor
    # (busy_w, its share of the idle power's rise, shallow_w when deep idle exists).
    floor=$(awk -v trace="$root/power/traces/bursty.csv" '
        { sub(/#.*/, "") }
        $1 == "cores" { cores = $2 } $1 == "shallow_w" { shallow = $2 }
        $1 == "mem_frac" { m = $2 } $1 == "deep_idle_ms" { deep = ($2 != "none") }
        $1 == "freq" { n++; f[n] = $2; idle[n] = $3; busy[n] = $4 }
        END {
            base = idle[1] - (deep ? cores * shallow : 0)
            best = -1
            for (i = 1; i <= n; i++) {
                x = ((1 - m) * f[n] / f[i] + m) * (busy[i] + (idle[i] - idle[1]) / cores + (deep ? shallow : 0))
                if (best < 0 || x < best) best = x
            }
            while ((getline line < trace) > 0)
                if (split(line, c, ",") == 4 && c[3] + 0 > 0) work += c[3]
            printf "%.6f %.6f\n", base, best * work / 1000
        }' "$root/power/profiles/$profile.profile")
    "$emberctl" power-sim --trace "$root/power/traces/bursty.csv" --profile "$profile" \
        --format csv | awk -F, -v profile="$profile" -v deadline="$deadline" -v floor="$floor" '
        NR > 1 { e[$1] = $2; p99[$1] = $5; miss[$1] = $6; window = $2 / $3 }
        END {
            split(floor, fl, " ")
            idle_j = fl[1] * window
            min_j = idle_j + fl[2]
            printf "bursty floor on %s: %.3f W x %.1f s = %.2f J idle + %.2f J of work = %.2f J\n",
                profile, fl[1], window, idle_j, fl[2], min_j
            printf "  best any policy could save: %.1f %% vs performance, %.1f %% vs ondemand\n",
                100 * (1 - min_j / e["performance"]), 100 * (1 - min_j / e["ondemand"])
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
