#!/bin/sh
# Run every test suite of one build directory and end with one summary line that adds up
# the Check unit tests, the integration tests and the conformance runner:
#   "check: N passed, M failed"  (the exit status is meson's: non-zero on any failure)
set -u
build=${1:-build}
meson test -C "$build" --print-errorlogs --num-processes 2
status=$?
log="$build/meson-logs/testlog.json"
if [ -f "$log" ]; then
    python3 - "$log" <<'PY'
import json, re, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout") or ""
    checks = re.findall(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)", out)
    conf = re.findall(r"^(\d+) passed, (\d+) failed$", out, re.M)
    if t["result"] == "SKIP":
        skipped += 1
        reason = out.strip().splitlines()[-1] if out.strip() else "no reason printed"
        print(f"skipped: {t['name']}: {reason}")
    elif checks:
        for n, f, e in checks:
            failed += int(f) + int(e)
            passed += int(n) - int(f) - int(e)
    elif conf:
        passed += int(conf[-1][0])
        failed += int(conf[-1][1]) if t["result"] != "OK" else 0
    elif t["result"] == "OK":
        passed += 1
    else:
        failed += 1
print(f"check: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
fi
exit $status
