#!/bin/sh
# footprint.sh: ember's footprint against the targets of the fast-kernels issue.
#
#   (a) libember-engine's size as a stripped shared object. The build makes it a static
#       archive (PIC objects); the script links the whole archive into a temporary .so, as a
#       distribution would ship it, strips it and reports its size (target <= 2 MiB).
#   (b) compiling MODEL with `emberctl compile` and loading the result in a running emberd
#       (POST /v2/repository/models/NAME/load, which answers once the model serves), each
#       timed --rounds times, median and fastest, wall clock and CPU time (emberctl's
#       getrusage; emberd's threads' schedstat), the CPU time being what a busy machine
#       does not inflate; target for the two together <= 30 ms on mobilenet_v2. With --sealed the model is also sealed and the daemon
#       verifies and decrypts it on load (the deployed path), timed the same way.
#
# Prints one `footprint: KEY=VALUE ...` line per measurement (a test checks the format) and
# a closing table. Run by hand; the machine's other load makes timings noisy.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
model=$root/../shared/models/vision/mobilenet_v2.onnx
rounds=5
sealed=0

usage() {
    cat <<EOF
Usage: tests/bench/footprint.sh [--build DIR] [--model ONNX] [--rounds N] [--sealed]

  --build DIR   build directory holding engine/libember-engine.a, daemon/emberd and
                clients/emberctl (default: $root/build)
  --model ONNX  model to compile and load (default ../shared/models/vision/mobilenet_v2.onnx)
  --rounds N    timed compiles and loads (default 5)
  --sealed      also seal the model and time the daemon loading the sealed bundle
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --model) model=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --sealed) sealed=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

emberd=$build/daemon/emberd
emberctl=$build/clients/emberctl
archive=$build/engine/libember-engine.a
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"
bench_setup footprint "$model" "$emberd" "$emberctl" "$archive"

# ---- (a) the engine's stripped size ----
cc=${CC:-cc}
"$cc" -shared -o "$tmp/libember-engine.so" -Wl,--whole-archive "$archive" \
    -Wl,--no-whole-archive -lprotobuf-c -lm -lpthread
strip -o "$tmp/libember-engine.stripped.so" "$tmp/libember-engine.so"
bytes=$(wc -c <"$tmp/libember-engine.stripped.so")
set -- $(size "$tmp/libember-engine.stripped.so" | sed -n 2p)
echo "footprint: engine_stripped_bytes=$bytes text=$1 data=$2 bss=$3 target_bytes=2097152"

# ---- (b) compile, then load in emberd ----
now_us() { date +%s%6N; }
# median and minimum of the numbers on stdin, in ms with two decimals (input in us)
stats() {
    sort -n | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median_ms=%.2f min_ms=%.2f", m / 1000, v[1] / 1000 }'
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

name=$(basename "$model" .onnx | tr -c 'A-Za-z0-9_.\n-' '_')
mkdir -p "$tmp/models/$name/1" "$tmp/sealed/$name/1"
: >"$tmp/compile.us"
: >"$tmp/compile.cpu"
i=0
while [ $i -lt "$rounds" ]; do
    # bash's time keyword times emberctl alone (no interpreter start-up in the figure):
    # "wall user sys" in seconds with millisecond resolution, turned into microseconds
    bash -c 'TIMEFORMAT="%3R %3U %3S"; time "$@" >/dev/null' _ \
        "$emberctl" compile "$model" -o "$tmp/models/$name/1/model.ember" 2>"$tmp/compile.time"
    tail -n 1 "$tmp/compile.time" | awk '{ printf "%d\n", $1 * 1e6 }' >>"$tmp/compile.us"
    tail -n 1 "$tmp/compile.time" | awk '{ printf "%d\n", ($2 + $3) * 1e6 }' >>"$tmp/compile.cpu"
    i=$((i + 1))
done
compile=$(stats <"$tmp/compile.us")
compile_cpu=$(stats <"$tmp/compile.cpu" | sed 's/_ms=/_cpu_ms=/g')
echo "footprint: compile model=$name rounds=$rounds $compile $compile_cpu"

emberd_log_level=info # the "KiB locked in RAM" line
# emberd's CPU time so far, every thread, in microseconds (schedstat: nanoseconds on a CPU).
cpu_us() { cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s / 1000 }'; }
# Times `load` --rounds times (the first loads the model, the others swap in a fresh copy
# of the same version: the same work) and prints the stats, wall clock and emberd's CPU.
time_loads() {
    : >"$tmp/load.us"
    : >"$tmp/load.cpu"
    i=0
    while [ $i -lt "$rounds" ]; do
        c0=$(cpu_us)
        t0=$(now_us)
        code=$(curl -s -o "$tmp/load.out" -w '%{http_code}' --unix-socket "$tmp/sock" -d '' \
            "http://localhost/v2/repository/models/$name/load")
        t1=$(now_us)
        if [ "$code" != 200 ]; then
            echo "footprint: load answered $code: $(cat "$tmp/load.out")" >&2
            cat "$tmp/emberd.log" >&2
            exit 1
        fi
        echo $((t1 - t0)) >>"$tmp/load.us"
        echo $(($(cpu_us) - c0)) >>"$tmp/load.cpu"
        i=$((i + 1))
    done
    echo "$(stats <"$tmp/load.us") $(stats <"$tmp/load.cpu" | sed 's/_ms=/_cpu_ms=/g')"
}

# emberd's scan at start would load the model already; an empty directory is filled after.
mkdir -p "$tmp/serve"
start_emberd --dev --workers 1 --models "$tmp/serve"
cp -r "$tmp/models/$name" "$tmp/serve/"
load=$(time_loads)
stop_emberd
echo "footprint: load model=$name rounds=$rounds $load"
sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
total=$(sum "$(field "$compile" median_ms)" "$(field "$load" median_ms)")
total_cpu=$(sum "$(field "$compile_cpu" median_cpu_ms)" "$(field "$load" median_cpu_ms)")
echo "footprint: compile_and_load model=$name median_ms=$total median_cpu_ms=$total_cpu target_ms=30"

if [ $sealed = 1 ]; then
    mkdir -p "$tmp/keys" "$tmp/trust" "$tmp/state" "$tmp/serve-sealed"
    "$emberctl" keygen --signer signer -o "$tmp/keys" >/dev/null
    "$emberctl" keygen --device device -o "$tmp/keys" >/dev/null
    cp "$tmp/keys/signer.pub" "$tmp/trust/"
    "$emberctl" seal "$tmp/models/$name/1/model.ember" --name "$name" --version 1 \
        --sign "$tmp/keys/signer.key" --to "$tmp/keys/device.pub" \
        -o "$tmp/sealed/$name/1/model.ember" >/dev/null
    start_emberd --workers 1 --models "$tmp/serve-sealed" --trust "$tmp/trust" \
        --device-key "$tmp/keys/device.key" --state "$tmp/state"
    cp -r "$tmp/sealed/$name" "$tmp/serve-sealed/"
    sload=$(time_loads)
    locked=$(sed -n 's/.*(\([0-9]*\) KiB locked in RAM).*/\1/p' "$tmp/emberd.log" | tail -n 1)
    stop_emberd
    echo "footprint: sealed_load model=$name rounds=$rounds $sload locked_kib=$locked"
fi

echo
printf '%-34s %14s %14s %10s\n' measure "wall (median)" "CPU (median)" target
printf '%-34s %10s KiB %14s %6s KiB\n' "libember-engine, stripped .so" $((bytes / 1024)) "" 2048
printf '%-34s %11s ms %11s ms\n' "emberctl compile $name" "$(field "$compile" median_ms)" \
    "$(field "$compile_cpu" median_cpu_ms)"
printf '%-34s %11s ms %11s ms\n' "emberd load $name" "$(field "$load" median_ms)" \
    "$(field "$load" median_cpu_ms)"
printf '%-34s %11s ms %11s ms %7s ms\n' "compile + load" "$total" "$total_cpu" 30
if [ $sealed = 1 ]; then
    printf '%-34s %11s ms %11s ms\n' "emberd load $name, sealed" "$(field "$sload" median_ms)" \
        "$(field "$sload" median_cpu_ms)"
fi
exit 0
