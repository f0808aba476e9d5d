#!/usr/bin/env bash
# compare.sh: time ember and ONNX Runtime 1.30 side by side on the same models and inputs.
#
# For each model, R rounds alternate `emberctl bench` and ort_bench.js (each a separate
# process, so peak RSS is per model and per runtime; the order flips every round so neither
# always runs on a warmer machine), both single-threaded (or both on --threads N) on the
# model's NAME.ref/input_K.npy.
# The table gives the median of the per-round p50s, their ratio (ember/ORT: above 1 means
# ember is slower) and the largest peak RSS seen. ONNX Runtime comes from npm
# (onnxruntime-node, installed with --ignore-scripts into a scratch folder outside the
# repository); if it cannot be installed or loaded the script says why and reports ember alone.
# A model ember cannot run is listed with the engine's error, not left out.
set -u

usage() {
    cat <<'EOF'
Usage: tests/bench/compare.sh [--iters N] [--warmup N] [--rounds R] [--threads N]
                              [--csv FILE] [--emberctl PATH] [--no-ort] [MODEL.onnx ...]

Time every MODEL (default: every .onnx under ../shared/models, found from the repository
root) with ember ('emberctl bench') and with ONNX Runtime 1.30 (tests/bench/ort_bench.js),
single-threaded (unless --threads), on the same inputs: the model's NAME.ref/input_K.npy
files. A model with no NAME.ref directory is timed by ember alone, on generated inputs.

Options:
  --iters N        timed runs per process (default 50)
  --warmup N       untimed runs per process before timing (default 5)
  --rounds R       ember/ORT alternations per model (default 3); the table reports the
                   median of the R per-round p50s and the largest peak RSS
  --threads N      threads for one run in both runtimes (default 1): emberctl bench
                   --threads N and ONNX Runtime's intraOpNumThreads N
  --csv FILE       also write the table as CSV to FILE
  --emberctl PATH  the emberctl to time (default: $EMBERCTL, else build/clients/emberctl,
                   else build-*/clients/emberctl, newest first, else emberctl on PATH)
  --no-ort         time ember alone
  -h, --help       show this help and exit

Environment:
  EMBER_BENCH_CACHE  scratch folder for onnxruntime-node (default
                     ${XDG_CACHE_HOME:-$HOME/.cache}/ember-bench); never inside the repository
  EMBERCTL           as --emberctl

Output: one line per model with ember p50 ms, ORT p50 ms, ember/ORT, and peak RSS in MB of
each process (ORT's includes Node.js, whose own baseline is printed under the table).
Times from different runs of this script are not comparable on a shared machine; compare
ratios from one run. Exit status: 0 when the table was printed (even if some models failed),
2 for a usage error or when emberctl is missing.
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
iters=50
warmup=5
rounds=3
threads=1
csv_out=
emberctl=${EMBERCTL:-}
use_ort=1
models=()

is_count() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ]; }

while [ $# -gt 0 ]; do
    case $1 in
    --iters) is_count "${2:-}" 1 || die "--iters wants a number >= 1"; iters=$2; shift 2 ;;
    --warmup) is_count "${2:-}" 0 || die "--warmup wants a number >= 0"; warmup=$2; shift 2 ;;
    --rounds) is_count "${2:-}" 1 || die "--rounds wants a number >= 1"; rounds=$2; shift 2 ;;
    --threads) is_count "${2:-}" 1 || die "--threads wants a number >= 1"; threads=$2; shift 2 ;;
    --csv) [ $# -ge 2 ] || die "--csv wants a file"; csv_out=$2; shift 2 ;;
    --emberctl) [ $# -ge 2 ] || die "--emberctl wants a path"; emberctl=$2; shift 2 ;;
    --no-ort) use_ort=0; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; models+=("$@"); break ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) models+=("$1"); shift ;;
    esac
done

if [ -z "$emberctl" ]; then
    if [ -x "$root/build/clients/emberctl" ]; then
        emberctl=$root/build/clients/emberctl
    else
        # shellcheck disable=SC2012 # build dir names are ours; ls -t sorts by age
        emberctl=$(ls -t "$root"/build-*/clients/emberctl 2>/dev/null | head -n 1)
        [ -n "$emberctl" ] || emberctl=$(command -v emberctl || true)
    fi
fi
if [ -z "$emberctl" ] || [ ! -x "$emberctl" ]; then
    die "no emberctl found; build it (meson setup build && ninja -C build) or pass --emberctl"
fi
"$emberctl" bench --help >/dev/null 2>&1 || die "$emberctl has no 'bench' command; rebuild it"

shared_models=$root/../shared/models
[ -d "$shared_models" ] && shared_models=$(cd "$shared_models" && pwd)
if [ ${#models[@]} -eq 0 ]; then
    [ -d "$shared_models" ] || die "no models given and $shared_models does not exist"
    mapfile -t models < <(find "$shared_models" -name '*.onnx' | LC_ALL=C sort)
    [ ${#models[@]} -gt 0 ] || die "no .onnx files under $shared_models"
fi
for m in "${models[@]}"; do
    [ -r "$m" ] || die "cannot read model $m"
done

# ---- ONNX Runtime: install into the scratch folder once, then check it actually loads ----
ort_version=1.30.0
ort_status="not used (--no-ort)"
if [ "$use_ort" -eq 1 ]; then
    cache=${EMBER_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ember-bench}
    ort_dir=$cache/ort
    case "$ort_dir/" in
    "$root"/*) die "EMBER_BENCH_CACHE ($cache) is inside the repository; choose a scratch folder" ;;
    esac
    export NODE_PATH=$ort_dir/node_modules
    pkg=$ort_dir/node_modules/onnxruntime-node/package.json
    use_ort=0
    problem=
    if ! command -v node >/dev/null 2>&1; then
        problem="node is not installed"
    elif [ ! -f "$pkg" ] || ! grep -q "\"version\": \"$ort_version\"" "$pkg"; then
        if ! command -v npm >/dev/null 2>&1; then
            problem="npm is not installed"
        else
            echo "Installing onnxruntime-node@$ort_version into $ort_dir (--ignore-scripts) ..." >&2
            mkdir -p "$ort_dir" || die "cannot create $ort_dir"
            # --ignore-scripts skips only the postinstall, which fetches CUDA/TensorRT providers
            # from NuGet; the CPU binding and libonnxruntime ship inside the npm package.
            if ! npm install --prefix "$ort_dir" --ignore-scripts --no-audit --no-fund \
                "onnxruntime-node@$ort_version" >"$ort_dir/npm-install.log" 2>&1; then
                problem="npm install failed ($ort_dir/npm-install.log: $(tail -n 1 "$ort_dir/npm-install.log"))"
            fi
        fi
    fi
    if [ -z "$problem" ]; then
        if probe=$(node -e 'const o = require("onnxruntime-node"); console.log(o.env.versions.node)' 2>&1); then
            use_ort=1
            ort_status="onnxruntime-node $probe (CPU; prebuilt binding shipped in the npm package)"
        else
            problem="onnxruntime-node does not load: $(printf '%s\n' "$probe" | grep -m 1 -E '^[A-Za-z]*Error:' || printf '%s\n' "$probe" | head -n 1)"
        fi
    fi
    if [ -n "$problem" ]; then
        ort_status="UNAVAILABLE, $problem; timing ember alone"
        echo "compare.sh: ONNX Runtime cannot run: $problem; timing ember alone" >&2
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-bench.XXXXXX") || die "cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT

# Run one benchmark process; on success print its CSV row's numeric fields
# "p50 peak_rss_kb", else print nothing and leave the reason in $tmp/err.
run_one() {
    local out
    if out=$("$@" --iters "$iters" --warmup "$warmup" --threads "$threads" --format csv \
        2>"$tmp/err"); then
        printf '%s\n' "$out" | awk -F, 'NR == 2 { print $(NF - 3), $NF }'
    fi
}

# The last line of a failed run's stderr, without the tool's "name: " prefix.
reason() {
    local line
    line=$(tail -n 1 "$tmp/err")
    line=${line#emberctl: }
    line=${line#ort_bench: }
    printf '%s\n' "${line//"$1: "/}"
}

median() { tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.5f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maximum() { tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort -g | tail -n 1; }

node_rss_kb=
[ "$use_ort" -eq 1 ] && node_rss_kb=$(node -e 'console.log(process.resourceUsage().maxRSS)')

echo "ember vs ONNX Runtime, $threads thread(s), $iters timed runs after $warmup warm-up, median of $rounds rounds"
echo "emberctl: $emberctl"
echo "ORT:      $ort_status"
echo "machine:  $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) at start"
echo

rows=()
for m in "${models[@]}"; do
    # Models under ../shared/models go by their place there ("vision/mobilenet_v2").
    name=${m%.onnx}
    name=${name#"$shared_models"/}
    ref=${m%.onnx}.ref
    inputs=()
    if [ -d "$ref" ]; then
        k=0
        while [ -f "$ref/input_$k.npy" ]; do
            inputs+=(-i "$ref/input_$k.npy")
            k=$((k + 1))
        done
    fi
    e_p50s='' e_rss='' o_p50s='' o_rss='' e_err='' o_err=''
    ort_here=$use_ort
    if [ "$ort_here" -eq 1 ] && [ ${#inputs[@]} -eq 0 ]; then
        ort_here=0
        o_err="no $(basename "$ref") inputs"
    fi
    echo "  $name ..." >&2
    for ((r = 0; r < rounds; r++)); do
        # ember first on even rounds, ORT first on odd ones.
        for which in $([ $((r % 2)) -eq 0 ] && echo "ember ort" || echo "ort ember"); do
            if [ "$which" = ember ] && [ -z "$e_err" ]; then
                res=$(run_one "$emberctl" bench "$m" "${inputs[@]}")
                if [ -n "$res" ]; then
                    e_p50s+=" ${res% *}" e_rss+=" ${res#* }"
                else
                    e_err=$(reason "$m")
                    [ -n "$e_err" ] || e_err="emberctl failed"
                fi
            elif [ "$which" = ort ] && [ "$ort_here" -eq 1 ] && [ -z "$o_err" ]; then
                res=$(run_one node "$here/ort_bench.js" "$m" "${inputs[@]}")
                if [ -n "$res" ]; then
                    o_p50s+=" ${res% *}" o_rss+=" ${res#* }"
                else
                    o_err=$(reason "$m")
                    [ -n "$o_err" ] || o_err="ort_bench.js failed"
                fi
            fi
        done
    done
    e50=$(printf '%s' "$e_p50s" | median)
    o50=$(printf '%s' "$o_p50s" | median)
    erss=$(printf '%s' "$e_rss" | maximum)
    orss=$(printf '%s' "$o_rss" | maximum)
    ratio=
    [ -n "$e50" ] && [ -n "$o50" ] && ratio=$(awk -v a="$e50" -v b="$o50" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    note=
    [ -n "$e_err" ] && note="ember: $e_err"
    [ -n "$o_err" ] && note="${note:+$note; }ORT: $o_err"
    [ -z "$note" ] && [ "$use_ort" -eq 1 ] && [ ${#inputs[@]} -eq 0 ] && note="generated inputs"
    rows+=("$name|$e50|$o50|$ratio|$erss|$orss|$note")
done

mb() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
dash() { [ -n "$1" ] && printf '%s' "$1" || printf '%s' '-'; }

# Table: the first column as wide as the longest model name.
w=5
for row in "${rows[@]}"; do
    n=${row%%|*}
    [ "${#n}" -gt "$w" ] && w=${#n}
done
printf "%-${w}s  %12s  %10s  %9s  %13s  %11s  %s\n" model "ember p50 ms" "ORT p50 ms" ember/ORT \
    "ember RSS MB" "ORT RSS MB" note
for row in "${rows[@]}"; do
    IFS='|' read -r name e50 o50 ratio erss orss note <<<"$row"
    printf "%-${w}s  %12s  %10s  %9s  %13s  %11s  %s\n" "$name" "$(dash "$e50")" "$(dash "$o50")" \
        "$(dash "$ratio")" "$(dash "$(mb "$erss")")" "$(dash "$(mb "$orss")")" "$note"
done
[ -n "$node_rss_kb" ] && echo && echo "ORT RSS includes Node.js, whose own peak RSS here is $(mb "$node_rss_kb") MB."

if [ -n "$csv_out" ]; then
    {
        echo "model,ember_p50_ms,ort_p50_ms,ratio_ember_ort,ember_peak_rss_kb,ort_peak_rss_kb,note"
        for row in "${rows[@]}"; do
            IFS='|' read -r name e50 o50 ratio erss orss note <<<"$row"
            printf '%s,%s,%s,%s,%s,%s,"%s"\n' "$name" "$e50" "$o50" "$ratio" "$erss" "$orss" \
                "${note//\"/\"\"}"
        done
    } >"$csv_out" || die "cannot write $csv_out"
    echo "CSV written to $csv_out"
fi
exit 0
