#!/bin/sh
# Bad model files and inputs through emberctl's in-process commands (run, compile, inspect,
# bench): each must fail with exit status 2 and one clear line naming the problem, never a
# crash (a signal gives an exit status above 128, which fails here too).
# Usage: test_model_errors.sh EMBERCTL SOURCE_ROOT
set -u
emberctl=$1
# A cross build (make check-arm64) runs the foreign binary through meson's exe wrapper (qemu):
# "$emberctl" then names this function.
emberctl_bin=$1
wrapped_emberctl() { $MESON_EXE_WRAPPER "$emberctl_bin" "$@"; }
[ -z "${MESON_EXE_WRAPPER:-}" ] || emberctl=wrapped_emberctl
root=$2
model="$root/models/digits/1/model.onnx"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect_error DESCRIPTION PATTERN CMD...: exit status 2 and PATTERN on stderr.
expect_error() {
    what=$1
    pattern=$2
    shift 2
    "$@" >"$tmp/stdout" 2>"$tmp/err"
    status=$?
    if [ "$status" -eq 2 ] && grep -q -- "$pattern" "$tmp/err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $what: exit $status, stderr: $(head -c 400 "$tmp/err")"
    fi
}

# A valid .npy for the digits model: 1 x 64 float32.
python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
def npy(path, descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload)
npy(d + "/good.npy", "<f4", (1, 64), struct.pack("<64f", *([3.0] * 64)))
npy(d + "/wide.npy", "<f4", (1, 65), struct.pack("<65f", *([3.0] * 65)))
npy(d + "/int.npy", "<i8", (1, 64), struct.pack("<64q", *([3] * 64)))
npy(d + "/short.npy", "<f4", (1, 64), struct.pack("<10f", *([3.0] * 10)))
npy(d + "/f8.npy", "<f8", (1, 64), struct.pack("<64d", *([3.0] * 64)))
with open(d + "/badmagic.npy", "wb") as f:
    f.write(b"NOTNUMPY" + bytes(200))
with open(d + "/badheader.npy", "wb") as f:
    h = b"{'descr': '<f4', 'shape': oops }"
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h)
PY
# A truncated model, garbage, an empty file, and the digits graph with its Relu renamed
# (same length, so the protobuf stays valid) for an unknown operator.
head -c 3000 "$model" >"$tmp/truncated.onnx"
head -c 64 /dev/urandom >"$tmp/garbage.onnx"
: >"$tmp/empty.onnx"
sed 's/Relu/Rulu/' "$model" >"$tmp/unknown_op.onnx"

for cmd in run compile inspect bench; do
    case $cmd in
    run) args="-i $tmp/good.npy -o $tmp/out" ;;
    compile) args="-o $tmp/out.ember" ;;
    *) args="" ;;
    esac
    # shellcheck disable=SC2086
    expect_error "$cmd truncated" "truncated or corrupt" "$emberctl" $cmd "$tmp/truncated.onnx" $args
    # shellcheck disable=SC2086
    expect_error "$cmd garbage" "not a valid ONNX model\|corrupt" "$emberctl" $cmd "$tmp/garbage.onnx" $args
    # shellcheck disable=SC2086
    expect_error "$cmd empty" "empty" "$emberctl" $cmd "$tmp/empty.onnx" $args
    # shellcheck disable=SC2086
    expect_error "$cmd missing" "No such file" "$emberctl" $cmd "$tmp/missing.onnx" $args
    # shellcheck disable=SC2086
    expect_error "$cmd unknown op" "unsupported operator 'Rulu' in node 'relu1' (opset 13)" \
        "$emberctl" $cmd "$tmp/unknown_op.onnx" $args
done

expect_error "run wrong shape" "input 'image' dimension 1 must be 64, got 65" \
    "$emberctl" run "$model" -i "$tmp/wide.npy" -o "$tmp/out"
expect_error "run wrong type" "input 'image' must be float32, got int64" \
    "$emberctl" run "$model" -i "$tmp/int.npy" -o "$tmp/out"
expect_error "run short data" "data is" "$emberctl" run "$model" -i "$tmp/short.npy" -o "$tmp/out"
expect_error "run unsupported npy type" "'<f8' is not supported" \
    "$emberctl" run "$model" -i "$tmp/f8.npy" -o "$tmp/out"
expect_error "run bad magic" "bad magic" "$emberctl" run "$model" -i "$tmp/badmagic.npy" -o "$tmp/out"
expect_error "run bad header" "fortran_order\|Fortran\|shape" \
    "$emberctl" run "$model" -i "$tmp/badheader.npy" -o "$tmp/out"
expect_error "run missing input" "no file for input 'image'" "$emberctl" run "$model" -o "$tmp/out"
expect_error "run unknown input name" "no input named 'pixels'" \
    "$emberctl" run "$model" -i "pixels=$tmp/good.npy" -o "$tmp/out"

# And the good path still works, writing output_0.npy.
if "$emberctl" run "$model" -i "$tmp/good.npy" -o "$tmp/out" >"$tmp/out.txt" 2>&1 &&
    [ -s "$tmp/out/output_0.npy" ]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    echo "FAIL run on a good input: $(cat "$tmp/out.txt")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
