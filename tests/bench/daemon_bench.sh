#!/bin/sh
# daemon_bench.sh: emberd's speed and footprint against the targets of the daemon issue.
#
# Compiles the hey_jarvis head of ../shared into a temporary model directory, starts emberd
# from a build dir on a temporary socket, and measures with tests/bench/loadgen (libuv):
#   (a) daemon overhead per request: end-to-end p50 over the socket on one keep-alive
#       connection, minus the engine's own p50 for the same model and input
#       (`emberctl bench`), with a JSON body and with a binary tensor extension body;
#   (b) throughput with 16 keep-alive connections, and errors;
#   (c) 1,000 idle connections held at once (does the daemon keep them, does it still answer,
#       what /metrics counts), and emberd's RSS idle with only its built-in model.
# Prints a table of targets and measured values. Run by hand; not part of the test command.
# With --callgrind N it instead counts emberd's instructions per request under callgrind
# (runs of N and 2N requests on one connection, subtracted), and the engine's share of them.
# With --strace N it counts emberd's system calls per request (strace -c -f, every thread)
# over N requests on 1 and on 16 connections.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
duration=5
idle_conns=1000
callgrind=0
strace_n=0
model=$root/../shared/models/audio/hey_jarvis_v0.1.onnx

usage() {
    cat <<EOF
Usage: tests/bench/daemon_bench.sh [--build DIR] [--duration SECONDS] [--idle N] [--model ONNX]

  --build DIR         build directory holding daemon/emberd, clients/emberctl and
                      tests/bench/loadgen (default: $root/build)
  --duration SECONDS  length of each timed load run (default 5)
  --idle N            idle connections to hold for (c) (default 1000)
  --model ONNX        model to serve (default ../shared/models/audio/hey_jarvis_v0.1.onnx);
                      its NAME.ref/input_0.npy (FP32) is the request's input
  --callgrind N       count instructions per request under valgrind instead of timing
  --strace N          count system calls per request under strace instead of timing
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --idle) idle_conns=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --callgrind) callgrind=$2; shift 2 ;;
    --strace) strace_n=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

emberd=$build/daemon/emberd
emberctl=$build/clients/emberctl
loadgen=$build/tests/bench/loadgen
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"
bench_setup daemon_bench "$model" "$emberd" "$emberctl" "$loadgen"

# Holding N idle connections needs N descriptors in loadgen and in emberd. (dash and bash
# both have ulimit -n and -H, which POSIX leaves out.)
# shellcheck disable=SC3045
ulimit -n $((idle_conns + 256)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

name=hey_jarvis
ref=${model%.onnx}.ref/input_0.npy
mkdir -p "$tmp/models/$name/1"
"$emberctl" compile "$model" -o "$tmp/models/$name/1/model.ember" >/dev/null

# The request bodies, from the reference input.
python3 - "$tmp" "$ref" <<'EOF'
import ast, json, struct, sys
tmp, ref = sys.argv[1], sys.argv[2]
b = open(ref, 'rb').read()
if b[:6] != b'\x93NUMPY':
    sys.exit('daemon_bench: %s is not .npy' % ref)
hl, off = (struct.unpack('<H', b[8:10])[0], 10) if b[6] == 1 else (struct.unpack('<I', b[8:12])[0], 12)
hdr = ast.literal_eval(b[off:off + hl].decode('latin1'))
assert hdr['descr'] == '<f4' and not hdr['fortran_order'], hdr
data = b[off + hl:]
vals = struct.unpack('<%df' % (len(data) // 4), data)
io = json.load(open(ref.rsplit('/', 1)[0] + '/io.json'))
name, shape = io['inputs'][0]['name'], list(hdr['shape'])
with open(tmp + '/req.json', 'w') as f:
    f.write('{"inputs":[{"name":"%s","datatype":"FP32","shape":%s,"data":[%s]}]}' %
            (name, json.dumps(shape).replace(' ', ''), ','.join('%.9g' % v for v in vals)))
h = json.dumps({"inputs": [{"name": name, "datatype": "FP32", "shape": shape,
                            "parameters": {"binary_data_size": len(data)}}],
                "parameters": {"binary_data_output": True}}, separators=(',', ':')).encode()
open(tmp + '/req.bin', 'wb').write(h + data)
open(tmp + '/req.bin.hlen', 'w').write(str(len(h)))
EOF
hlen=$(cat "$tmp/req.bin.hlen")
infer=/v2/models/$name/infer

# emberd's CPU time so far (user + system, every thread) in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
# CPU microseconds per request sent (warm-up included) between two cpu_ticks readings.
cpu_per_req() {
    awk -v a="$1" -v b="$2" -v n="$(field "$3" sent)" -v hz="$hz" \
        'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / hz / n }'
}
status_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$pid/status"; }
# key=value from loadgen's RESULT line
field() { sed -n 's/^RESULT //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
metric() {
    curl -s --unix-socket "$tmp/sock" http://localhost/metrics | sed -n "s/^$1 //p" | head -n 1
}

# Instructions (Ir) of emberd under callgrind serving $1 requests of body $2 (extra loadgen
# arguments after), and of ember_session_run within them, as "TOTAL ENGINE".
callgrind_run() {
    n=$1 body=$2
    shift 2
    out=$tmp/cg.$n.out
    : >"$tmp/emberd.log"
    # Under valgrind (on a busy machine) a run takes 100 to 1000 times as long: the inline
    # limit (infer.h) is raised to match, so the path counted is the one taken natively.
    valgrind --tool=callgrind --callgrind-out-file="$out" "$emberd" --socket "$tmp/sock" \
        --dev --models "$tmp/models" --workers 1 --inline-max-us 1000000 --log-level warn \
        2>"$tmp/emberd.log" &
    pid=$!
    i=0
    until grep -q 'listening on' "$tmp/emberd.log"; do
        i=$((i + 1))
        [ $i -gt 600 ] && { echo "daemon_bench: emberd did not start under valgrind" >&2; exit 1; }
        sleep 0.1
    done
    "$loadgen" --socket "$tmp/sock" --path "$infer" --body "$body" --connections 1 \
        --warmup 0 --requests "$n" "$@" >/dev/null
    kill -INT "$pid"
    wait "$pid" || true
    pid=
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null | awk '
        /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
        /:ember_session_run / { gsub(",", "", $1); engine = $1 }
        END { print total, engine }'
}
if [ "$callgrind" -gt 0 ]; then
    command -v valgrind >/dev/null || { echo "daemon_bench: valgrind is not installed" >&2; exit 77; }
    printf '%-8s %-22s %-22s %s\n' body "instructions/request" "engine's share" "emberd's own"
    for k in json bin; do
        set --
        [ $k = bin ] && set -- --header "Inference-Header-Content-Length: $hlen"
        a=$(callgrind_run "$callgrind" "$tmp/req.$k" "$@")
        b=$(callgrind_run $((2 * callgrind)) "$tmp/req.$k" "$@")
        echo "$a $b" | awk -v n="$callgrind" -v k="$k" '{
            t = ($3 - $1) / n; e = ($4 - $2) / n
            printf "%-8s %-22.0f %-22.0f %.0f\n", k, t, e, t - e }'
    done
    exit 0
fi

if [ "$strace_n" -gt 0 ]; then
    command -v strace >/dev/null || { echo "daemon_bench: strace is not installed" >&2; exit 77; }
    start_emberd --dev --models "$tmp/models"
    printf '%-8s %-12s %-16s %s\n' body connections "syscalls/request" "by call (per request)"
    for k in json bin; do
        set --
        [ $k = bin ] && set -- --header "Inference-Header-Content-Length: $hlen"
        for conns in 1 16; do
            # Warm up (the model's first run is measured on a worker), then count.
            "$loadgen" --socket "$tmp/sock" --path "$infer" --body "$tmp/req.$k" \
                --connections "$conns" --warmup 0 --requests 200 "$@" >/dev/null
            strace -c -f -p "$pid" -o "$tmp/strace.out" 2>/dev/null &
            st=$!
            sleep 1
            "$loadgen" --socket "$tmp/sock" --path "$infer" --body "$tmp/req.$k" \
                --connections "$conns" --warmup 0 --requests "$strace_n" "$@" >/dev/null
            kill -INT "$st"
            wait "$st" || true
            awk -v n="$strace_n" -v k="$k" -v c="$conns" '
                $NF != "total" && $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ {
                    all += $4; by = by sprintf(" %s %.2f", $NF, $4 / n) }
                END { printf "%-8s %-12s %-16.2f%s\n", k, c, all / n, by }' "$tmp/strace.out"
        done
    done
    exit 0
fi

echo "daemon_bench: $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "daemon_bench: model $model, request input ${ref}"
echo "daemon_bench: JSON body $(wc -c <"$tmp/req.json") bytes, binary body $(wc -c <"$tmp/req.bin") bytes"

# (c, part 1) RSS idle with the built-in model only.
start_emberd
sleep 0.3
rss_idle=$(status_kb VmRSS)
hwm_idle=$(status_kb VmHWM)
stop_emberd

# The engine alone.
"$emberctl" bench "$tmp/models/$name/1/model.ember" -i "$ref" --warmup 200 --iters 5000 \
    --format csv >"$tmp/engine.csv"
engine_p50_us=$(tail -n 1 "$tmp/engine.csv" | awk -F, '{ printf "%.1f", $3 * 1000 }')

start_emberd --dev --models "$tmp/models"
rss_model=$(status_kb VmRSS)

# (a) one connection, back to back; emberd's CPU time is read around each run.
c0=$(cpu_ticks)
"$loadgen" --socket "$tmp/sock" --path "$infer" --body "$tmp/req.json" --connections 1 \
    --warmup 200 --duration "$duration" >"$tmp/json1.out" || true
c1=$(cpu_ticks)
"$loadgen" --socket "$tmp/sock" --path "$infer" --body "$tmp/req.bin" \
    --header "Inference-Header-Content-Length: $hlen" --connections 1 \
    --warmup 200 --duration "$duration" >"$tmp/bin1.out" || true
c2=$(cpu_ticks)
json_cpu=$(cpu_per_req "$c0" "$c1" "$tmp/json1.out")
bin_cpu=$(cpu_per_req "$c1" "$c2" "$tmp/bin1.out")

# (b) 16 connections, binary and JSON.
"$loadgen" --socket "$tmp/sock" --path "$infer" --body "$tmp/req.bin" \
    --header "Inference-Header-Content-Length: $hlen" --connections 16 \
    --warmup 20 --duration "$duration" >"$tmp/bin16.out" || true
"$loadgen" --socket "$tmp/sock" --path "$infer" --body "$tmp/req.json" --connections 16 \
    --warmup 20 --duration "$duration" >"$tmp/json16.out" || true

# (c, part 2) idle connections: hold them for 3 s; meanwhile a fresh client asks for
# readiness and /metrics; then every held connection still open asks once.
"$loadgen" --socket "$tmp/sock" --connections "$idle_conns" --hold 3 >"$tmp/idle.out" 2>&1 &
lg=$!
sleep 2
ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$tmp/sock" \
    http://localhost/v2/health/ready) || true
conns_metric=$(metric emberd_connections)
rss_conns=$(status_kb VmRSS)
wait $lg || true
hwm_all=$(status_kb VmHWM)
stop_emberd

over() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
json_p50=$(field "$tmp/json1.out" p50_us)
bin_p50=$(field "$tmp/bin1.out" p50_us)
json_over=$(over "$json_p50" "$engine_p50_us")
bin_over=$(over "$bin_p50" "$engine_p50_us")
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
    if (v == "") { print "-"; exit }
    ok = op == "<=" ? v + 0 <= t + 0 : v + 0 >= t + 0; print ok ? "met" : "MISSED" }'; }
num() { v=$(field "$1" "$2"); echo "${v:-0}"; }
errs() { echo $(($(num "$1" non2xx) + $(num "$1" conn_errors) + $(num "$1" connect_failed))); }
held=$(($(num "$tmp/idle.out" connected) - $(num "$tmp/idle.out" peer_closed)))
idle_ok=$(field "$tmp/idle.out" ok)

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-52s %-14s %s\n' "measure" "target" "measured"
printf '%-52s %-14s %s\n' "engine alone p50 (emberctl bench)" "-" "$engine_p50_us us"
for k in json bin; do
    f=$tmp/${k}1.out
    printf '%-52s %-14s %s us (p90 %s, p99 %s)\n' "end-to-end p50, 1 connection, $k" "-" \
        "$(field "$f" p50_us)" "$(field "$f" p90_us)" "$(field "$f" p99_us)"
done
printf '%-52s %-14s %s us JSON, %s us binary\n' "emberd CPU time per request, 1 connection" "-" \
    "$json_cpu" "$bin_cpu"
printf '%-52s %-14s %s us  %s\n' "(a) daemon overhead per request, JSON" "<= 50 us" \
    "$json_over" "$(verdict "$json_over" 50 '<=')"
printf '%-52s %-14s %s us  %s\n' "(a) daemon overhead per request, binary" "<= 25 us" \
    "$bin_over" "$(verdict "$bin_over" 25 '<=')"
for k in bin json; do
    f=$tmp/${k}16.out
    e=$(errs "$f")
    v=$(verdict "$(field "$f" rps)" 20000 '>=')
    [ "$e" -ne 0 ] && v=MISSED
    printf '%-52s %-14s %s req/s, %s errors, p50 %s us, p99 %s us  %s\n' \
        "(b) throughput, 16 connections, $k" ">= 20000, 0 err" "$(field "$f" rps)" "$e" \
        "$(field "$f" p50_us)" "$(field "$f" p99_us)" "$v"
done
printf '%-52s %-14s %s held, %s closed by emberd, %s of them answered  %s\n' \
    "(c) idle connections held" "$idle_conns" "$held" "$(field "$tmp/idle.out" peer_closed)" \
    "$idle_ok" "$(verdict "$held" "$idle_conns" '>=')"
printf '%-52s %-14s %s; /metrics emberd_connections %s\n' \
    "(c) a new client while they are held: ready" "200" "$ready" \
    "${conns_metric:-not answered}"
printf '%-52s %-14s %s kB (VmHWM %s kB)  %s\n' "(c) emberd RSS idle, built-in model only" \
    "<= 5120 kB" "$rss_idle" "$hwm_idle" "$(verdict "$rss_idle" 5120 '<=')"
printf '%-52s %-14s %s kB\n' "emberd RSS with $name loaded, idle" "-" "$rss_model"
printf '%-52s %-14s %s kB (VmHWM over the whole run %s kB)\n' \
    "emberd RSS holding the idle connections" "-" "$rss_conns" "$hwm_all"
