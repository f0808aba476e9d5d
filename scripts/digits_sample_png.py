#!/usr/bin/python3
# Write models/digits/sample.png: the 8x8 digit of models/digits/sample.json as an 8-bit
# grayscale PNG, for trying raw image bodies (docs/api.md). Pixel values 0..16 become
# round(v * 255 / 16); models/digits/config.json's "scale" (16/255) maps them back. The PNG
# is written with zlib alone (no imaging library) and is byte-for-byte reproducible.
#
# Usage: /usr/bin/python3 scripts/digits_sample_png.py [--out FILE]

import argparse
import json
import os
import struct
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIDE = 8
PIXEL_MAX = 16


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "models/digits/sample.png"))
    args = ap.parse_args()
    with open(os.path.join(REPO, "models/digits/sample.json")) as f:
        values = json.load(f)["inputs"][0]["data"]
    if len(values) != SIDE * SIDE:
        raise SystemExit(f"digits_sample_png: sample.json has {len(values)} values, want 64")
    pixels = bytes(round(v * 255 / PIXEL_MAX) for v in values)
    # Each row: filter type 0 (none), then its pixels.
    raw = b"".join(b"\0" + pixels[r * SIDE:(r + 1) * SIDE] for r in range(SIDE))
    ihdr = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) +
           chunk(b"IEND", b""))
    with open(args.out, "wb") as f:
        f.write(png)
    print(f"digits_sample_png: wrote {args.out} ({len(png)} bytes)")


if __name__ == "__main__":
    main()
