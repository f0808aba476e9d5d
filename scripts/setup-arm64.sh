#!/bin/sh
# Install what the arm64 cross build needs (make check-arm64): the aarch64 cross compiler,
# qemu's user-mode emulator to run the test programs, and the arm64 builds of the libraries
# through Debian multiarch. Build tools (meson, protoc-c, python3) stay native; only
# libraries are :arm64. Idempotent: installs only what is missing.
# Kept apart from scripts/setup.sh so the default path stays x86-only.
# Usage: scripts/setup-arm64.sh
set -eu

# Native: the compiler and the emulator. The native setup.sh installs meson, ninja,
# pkg-config and protobuf-c-compiler; it runs first (make check-arm64 depends on setup).
NATIVE="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"

# arm64 libraries: libc6:arm64, which qemu-aarch64 runs the programs with (the cross file
# says why not the toolchain's libc6-arm64-cross), then the set scripts/setup.sh installs
# natively, with two exceptions:
# - libhttp-parser-dev is not Multi-Arch: same, so its :arm64 build REPLACES the native one
#   (apt removes libhttp-parser-dev:amd64 and the native build loses -lhttp_parser). We take
#   only the arm64 runtime library (libhttp-parser2.9, Multi-Arch: same); the header is the
#   native package's arch-independent /usr/include/http_parser.h, and the link name comes
#   from the linker script cross/lib/libhttp_parser.so.
# - libsystemd-dev is left out: the systemd option is 'auto' and the cross build goes
#   without it (sd_notify is not what the emulated tests exercise).
ARM64="libc6:arm64 libuv1-dev:arm64 libcjson-dev:arm64 libhttp-parser2.9:arm64
libprotobuf-c-dev:arm64 libsodium-dev:arm64 libssl-dev:arm64 check:arm64
libjpeg62-turbo-dev:arm64 libpng-dev:arm64"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    SUDO="need-root"
fi

missing=""
for p in $NATIVE $ARM64; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$SUDO" = need-root ]; then
    echo "setup-arm64: need root or sudo to install:$missing" >&2
    exit 1
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup-arm64: adding the arm64 architecture to dpkg"
    $SUDO dpkg --add-architecture arm64
fi
echo "setup-arm64: installing$missing"
$SUDO apt-get update -q
# --no-remove: never let an arm64 package push out a native one (the build of every other
# colleague and of CI); abort instead.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends --no-remove \
    $missing
