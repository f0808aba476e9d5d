#!/bin/sh
# emberd under systemd, as far as a container allows: `systemd-socket-activate` plays the
# socket unit (it binds the socket and execs emberd with LISTEN_FDS), and emberd must serve
# health and an inference through that inherited socket, stop cleanly on SIGTERM (exit 0) and
# leave the socket file, which is systemd's, in place. READY=1, STATUS=, WATCHDOG=1 and
# STOPPING=1 reach a stand-in $NOTIFY_SOCKET. Then `systemd-analyze verify` checks
# emberd.service and emberd.socket (with ExecStart pointed at the built emberd).
# Skips (exit 77) with a reason when a tool is missing or cannot run here.
#
# Usage: test_systemd.sh EMBERD SERVICE_FILE SOURCE_ROOT
set -u

emberd=$(realpath "$1")
service=$(realpath "$2")
root=$(realpath "$3")
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}

if [ -n "${MESON_EXE_WRAPPER:-}" ]; then
    echo "SKIP: a cross build's emberd cannot be exec'd by systemd-socket-activate"
    exit 77
fi
for tool in systemd-socket-activate curl; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (Debian packages systemd, curl)"
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-sd.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/emberd.sock

systemd-socket-activate -l "$sock" "$emberd" --log-level info >"$tmp/log" 2>&1 &
pid=$!
i=0
while [ ! -S "$sock" ] && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
[ -S "$sock" ] || fail "systemd-socket-activate did not create $sock"

live=$(curl -s --max-time 20 --unix-socket "$sock" http://localhost/v2/health/live)
[ "$live" = '{"live":true}' ] || fail "health through the inherited socket: '$live'"
answer=$(curl -s --max-time 20 --unix-socket "$sock" -H 'Content-Type: application/json' \
    -d @"$root/models/digits/sample.json" http://localhost/v2/models/digits/infer)
case $answer in
*'"model_name":"digits"'*'"probabilities"'*) ;;
*) fail "inference through the inherited socket: '$answer'" ;;
esac
grep -q "listening on $sock (socket from systemd)" "$tmp/log" ||
    fail "emberd did not say it took the socket from systemd"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "emberd exited $rc after SIGTERM, not 0"
[ -S "$sock" ] || fail "emberd removed the socket file that systemd owns"
[ $failed -eq 0 ] || cat "$tmp/log" >&2

# Type=notify and the watchdog: a datagram socket stands in for systemd's $NOTIFY_SOCKET;
# emberd must say READY=1 with a STATUS= line, send WATCHDOG=1 at half of WATCHDOG_USEC
# (200 ms here), and STOPPING=1 on SIGTERM.
if command -v python3 >/dev/null 2>&1; then
    python3 - "$emberd" "$tmp" <<'PY' || fail "sd_notify messages (see above)"
import os, signal, socket, subprocess, sys, time
emberd, tmp = sys.argv[1], sys.argv[2]
path = os.path.join(tmp, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
p = subprocess.Popen([emberd, "--socket", os.path.join(tmp, "n.sock"), "--log-level", "warn"],
                     env=env)
got = []
def wait_for(prefix):
    while True:
        msg = s.recv(4096).decode()
        got.append(msg)
        if msg.startswith(prefix):
            return msg
ok = True
try:
    ready = wait_for("READY=1")
    if "\nSTATUS=serving 1 model version(s) on " not in ready:
        print("READY=1 without the expected STATUS= line: %r" % ready); ok = False
    wait_for("WATCHDOG=1")
    wait_for("WATCHDOG=1")
    p.send_signal(signal.SIGTERM)
    wait_for("STOPPING=1")
except socket.timeout:
    print("no message within 20 s; got %r" % got); ok = False
if p.wait(timeout=20) != 0:
    print("emberd exited %d" % p.returncode); ok = False
sys.exit(0 if ok else 1)
PY
fi

# The units. systemd-analyze verify needs ExecStart to name an existing program.
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s|^ExecStart=.*|ExecStart=$emberd --config $tmp/emberd.json|" "$service" \
        >"$tmp/emberd.service"
    cp "$root/systemd/emberd.socket" "$tmp/"
    if ! out=$(systemd-analyze verify "$tmp/emberd.service" "$tmp/emberd.socket" 2>&1); then
        fail "systemd-analyze verify: $out"
    elif [ -n "$out" ]; then
        fail "systemd-analyze verify warned: $out"
    fi
    # Its model directory exists only once installed: check the rest against an empty one.
    "$emberd" --config "$root/systemd/emberd.json" --models "$tmp" --check-config >/dev/null ||
        fail "the packaged systemd/emberd.json does not pass --check-config"
else
    echo "note: systemd-analyze is missing; the units were not verified"
fi

exit $failed
