#!/bin/sh
# Install the Debian packages ember needs to build and test, only those missing.
# Idempotent; runs as root directly or through sudo otherwise.
# Usage: scripts/setup.sh [extra-package ...]
set -eu

PKGS="build-essential pkg-config meson ninja-build git curl python3
libuv1-dev libcjson-dev libhttp-parser-dev libprotobuf-c-dev protobuf-c-compiler
libsodium-dev libssl-dev libsystemd-dev libjpeg62-turbo-dev libpng-dev check
prometheus systemd openssl"

missing=""
for p in $PKGS "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "setup: need root or sudo to install:$missing" >&2
    exit 1
fi

echo "setup: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
