#!/bin/sh
# Run every test suite in each given build directory (the plain build, then the sanitizer
# build) and end with one line that adds them all up: Check's unit-test cases, the
# integration cases, the conformance runner and the real-model checks:
#   "check: N passed, M failed"
# The exit status is non-zero when any suite failed in any build.
set -u
[ $# -gt 0 ] || set -- build
status=0
logs=""
for build in "$@"; do
    echo "== meson test -C $build"
    if ! meson test -C "$build" --print-errorlogs --num-processes 2; then
        status=1
    fi
    logs="$logs $build/meson-logs/testlog.json"
done
python3 - $logs <<'PY'
import json, re, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    build = path.split("/meson-logs/")[0]
    for line in open(path):
        t = json.loads(line)
        out = t.get("stdout") or ""
        name = f"{build}: {t['name']}"
        checks = re.findall(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", out)
        if t["result"] == "SKIP":
            skipped += 1
            reason = out.strip().splitlines()[-1] if out.strip() else "no reason printed"
            print(f"skipped {name}: {reason}")
        elif checks:
            # One Check summary per suite: count its cases.
            for n, f, e in checks:
                failed += int(f) + int(e)
                passed += int(n) - int(f) - int(e)
            if t["result"] != "OK" and not any(int(f) + int(e) for _, f, e in checks):
                failed += 1  # crashed, leaked or timed out outside a case
        elif t["result"] == "OK":
            passed += 1
        else:
            failed += 1
        conf = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
        if conf and build == path.split("/meson-logs/")[0] and not checks:
            print(f"{name}: {conf[-1][0]} passed, {conf[-1][1]} failed inside it")
print(f"check: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
