#!/bin/sh
# Checks that tests/bench/footprint.sh runs end to end and keeps its output format, on the
# small digits model with one round (so quickly; the numbers themselves are not checked):
# the engine's stripped size, compile, load, compile + load, and the sealed load, each a
# `footprint:` line with the fields the README quotes.
#
# Usage: test_footprint.sh BUILD_DIR SOURCE_ROOT
set -u

build=$1
root=$2
out=$("$root/tests/bench/footprint.sh" --build "$build" --rounds 1 --sealed \
    --model "$root/models/digits/1/model.onnx" 2>&1)
rc=$?
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}
[ $rc -eq 0 ] || fail "footprint.sh exited $rc"
ms='[0-9]+\.[0-9]{2}'
for re in \
    "^footprint: engine_stripped_bytes=[0-9]+ text=[0-9]+ data=[0-9]+ bss=[0-9]+ target_bytes=2097152\$" \
    "^footprint: compile model=model rounds=1 median_ms=$ms min_ms=$ms median_cpu_ms=$ms min_cpu_ms=$ms\$" \
    "^footprint: load model=model rounds=1 median_ms=$ms min_ms=$ms median_cpu_ms=$ms min_cpu_ms=$ms\$" \
    "^footprint: compile_and_load model=model median_ms=$ms median_cpu_ms=$ms target_ms=30\$" \
    "^footprint: sealed_load model=model rounds=1 median_ms=$ms min_ms=$ms median_cpu_ms=$ms min_cpu_ms=$ms locked_kib=[0-9]+\$"; do
    echo "$out" | grep -Eq "$re" || fail "no line matching $re"
done
[ $failed -eq 0 ] || echo "$out" >&2
exit $failed
