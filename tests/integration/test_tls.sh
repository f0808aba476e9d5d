#!/bin/bash
# emberd's TLS listener, end to end: a CA, a server certificate and client certificates are
# made here with the openssl CLI, emberd listens on an ephemeral TCP port (it names the port
# in its log), and curl and openssl s_client talk to it. Proves: health and inference over
# TLS; admin endpoints refused (403 JSON) without a certificate and with one mapped to infer,
# allowed with one mapped to admin; a certificate from another CA refused at the handshake;
# TLS 1.2 refused; plaintext HTTP gets no HTTP answer; a stalled handshake is closed by the
# header timeout; the body limit, max_connections and idle_timeout_ms hold over TLS;
# tls_anonymous grants what it says; the daemon keeps serving after each of these,
# and the Unix socket works alongside. Bad settings (key readable by group, key not matching,
# missing file, roles without a CA, anonymous admin) are named by --check-config and stop a
# start. A daemon without a listener never maps libcrypto; one with a listener does.
# Skips (exit 77) with a reason when a tool is missing.
#
# Usage: test_tls.sh EMBERD SOURCE_ROOT
set -u

emberd=$(realpath "$1")
root=$(realpath "$2")
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}

if [ -n "${MESON_EXE_WRAPPER:-}" ]; then
    echo "SKIP: a cross build's emberd is run through an emulator this script does not drive"
    exit 77
fi
for tool in openssl curl timeout; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (Debian packages openssl, curl, coreutils)"
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-tls.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1

# ---- certificates: a CA, the server (for 127.0.0.1), three clients, and a rogue CA ----
quiet() { "$@" >/dev/null 2>&1 || { echo "FAIL: $*" >&2; exit 1; }; }
newkey() { quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { # NAME: a self-signed CA NAME.crt with key NAME.key
    newkey "$1.key"
    quiet openssl req -x509 -new -key "$1.key" -out "$1.crt" -subj "/CN=$1" -days 2
}
cert() { # NAME CA SUBJECT [EXTFILE]: NAME.crt signed by CA, key NAME.key (0600)
    newkey "$1.key"
    quiet openssl req -new -key "$1.key" -out "$1.csr" -subj "$3"
    quiet openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
        -out "$1.crt" -days 2 ${4:+-extfile "$4"}
    chmod 600 "$1.key"
}
ca ca
ca rogue
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
cert server ca /CN=localhost server.ext
cert ops ca "/O=Acme/CN=ops"         # admin, by common name
cert app ca "/O=Acme/CN=app"         # infer, by whole subject
cert visitor ca "/O=Acme/CN=visitor" # verified, but mapped to nothing
cert fake rogue "/O=Acme/CN=ops"     # claims to be ops, signed by the wrong CA

cat >emberd.json <<'EOF'
{
  // TCP with TLS beside the Unix socket; port 0: any free port, named in the log.
  "tls_listen": "127.0.0.1:0",
  "tls_cert": "server.crt",
  "tls_key": "server.key",
  "tls_client_ca": "ca.crt",
  "tls_roles": {"admin": ["cn:ops"], "infer": ["subject:CN=app,O=Acme"]},
  "header_timeout_ms": 1000
}
EOF

# ---- bad settings ----
# check SUBSTRING ARGS...: --check-config fails (status 2) naming SUBSTRING, and a start
# with the same settings fails too.
check_bad() {
    want=$1
    shift
    out=$("$emberd" --config emberd.json --socket "$tmp/bad.sock" --check-config "$@" 2>&1)
    rc=$?
    [ $rc -eq 2 ] || fail "--check-config $* exited $rc, not 2"
    case $out in *"$want"*) ;; *) fail "--check-config $*: '$out' does not say '$want'" ;; esac
    out=$(timeout 20 "$emberd" --config emberd.json --socket "$tmp/bad.sock" "$@" 2>&1)
    rc=$?
    [ $rc -eq 1 ] || [ $rc -eq 2 ] || fail "emberd $* started (exit $rc) with bad TLS settings"
    case $out in *"$want"*) ;; *) fail "emberd $*: '$out' does not say '$want'" ;; esac
}
out=$("$emberd" --config emberd.json --check-config 2>&1) || fail "good settings: $out"
chmod 640 server.key
check_bad "chmod 600 server.key"
chmod 600 server.key
check_bad "does not match the certificate" --tls-key app.key
check_bad "cannot open missing.crt" --tls-cert missing.crt
printf '{}' >empty.json
check_bad "tls_listen needs tls_cert and tls_key" --config empty.json --tls-listen 127.0.0.1:0
check_bad "is not HOST:PORT" --tls-listen localhost
printf '{"tls_anonymous": "admin"}' >anon.json
check_bad "admin always takes a client certificate" --config anon.json
printf '{"tls_roles": {"admin": ["cn:x"]}, "tls_listen": "127.0.0.1:0",
  "tls_cert": "server.crt", "tls_key": "server.key"}' >noca.json
check_bad "tls_roles needs tls_client_ca" --config noca.json
printf '{"tls_roles": {"admin": ["ops"]}}' >badrole.json
check_bad "is not cn:NAME or subject:SUBJECT" --config badrole.json
printf 'not a certificate\n' >junk.crt
check_bad "no PEM certificate" --tls-client-ca junk.crt

# ---- a daemon without the listener does not map libcrypto ----
"$emberd" --socket "$tmp/plain.sock" --log-level warn 2>plain.log &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' plain.log && break; sleep 0.05; done
grep -q 'listening on' plain.log || fail "emberd without TLS did not start: $(cat plain.log)"
if grep -q libcrypto "/proc/$pid/maps"; then
    fail "emberd without a TLS listener or PEM key mapped libcrypto"
fi
kill -TERM "$pid"
wait "$pid"
pid=

# start_emberd LOG ARGS...: emberd in the background ($pid), logging at debug to LOG; $port
# is the TLS port it reports.
start_emberd() {
    local log=$1
    shift
    "$emberd" "$@" --log-level debug 2>"$log" &
    pid=$!
    port=
    for _ in $(seq 200); do
        port=$(sed -n 's|^emberd: listening on https://127\.0\.0\.1:\([0-9]*\) (TLS 1\.3)$|\1|p' "$log")
        [ -n "$port" ] && return
        sleep 0.05
    done
    echo "FAIL: emberd did not report its TLS port:" >&2
    cat "$log" >&2
    exit 1
}

# stop_emberd LOG: SIGTERM, exit status 0, and LOG shown when something failed.
stop_emberd() {
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    pid=
    [ "$rc" -eq 0 ] || fail "emberd exited $rc after SIGTERM, not 0"
    [ $failed -eq 0 ] || cat "$1" >&2
}

# ---- the daemon with the listener ----
sock=$tmp/emberd.sock
start_emberd emberd.log --config emberd.json --socket "$sock"
grep -q libcrypto "/proc/$pid/maps" || fail "emberd serves TLS without libcrypto mapped?"
url=https://127.0.0.1:$port

# req NAME [CURL ARGS...] PATH: "STATUS BODY" of a request over TLS; NAME is a client
# certificate or "-" for none. A connection that fails gives "000 ".
req() {
    local who=$1
    shift
    local id=()
    [ "$who" != - ] && id=(--cert "$who.crt" --key "$who.key")
    local body
    body=$(curl -s --max-time 20 --cacert ca.crt "${id[@]}" -o body.out -w '%{http_code}' "$@")
    echo "$body $(cat body.out 2>/dev/null)"
    rm -f body.out
}
# expect WANT GOT WHAT
expect() {
    case $2 in $1) ;; *) fail "$3: got '$2'" ;; esac
}
infer=(-H 'Content-Type: application/json' -d @"$root/models/digits/sample.json")
unload=(-X POST -H 'Content-Length: 0')

expect '403 {"error":"forbidden: a TLS client without a certificate has the role '"'none'"'*' \
    "$(req - "$url/v2/health/live")" "health without a certificate (tls_anonymous defaults to none)"
expect '200 {"live":true}' "$(req app "$url/v2/health/live")" "health with the infer certificate"
expect '200 *"model_name":"digits"*"probabilities"*' \
    "$(req app "${infer[@]}" "$url/v2/models/digits/infer")" "inference with the infer certificate"
expect '200 *"model_name":"digits"*' "$(req ops "${infer[@]}" "$url/v2/models/digits/infer")" \
    "inference with the admin certificate"
expect "403 *certificate 'CN=visitor,O=Acme' has the role 'none'*" \
    "$(req visitor "$url/v2/health/live")" "a verified certificate mapped to no role"
expect '403 {"error":"forbidden: *'"needs 'admin'"'*' \
    "$(req - "${unload[@]}" "$url/v2/repository/models/digits/unload")" "unload without a certificate"
expect "403 *certificate 'CN=app,O=Acme' has the role 'infer'; this needs 'admin'*" \
    "$(req app "${unload[@]}" "$url/v2/repository/models/digits/unload")" \
    "unload with the infer certificate"
expect "403 *this needs 'admin'*" \
    "$(req app -X PUT -d '{"policy":"powersave"}' "$url/v2/power")" "PUT /v2/power with infer"

# Refused at the handshake: no HTTP status at all.
expect '000 *' "$(req fake "$url/v2/health/live")" "a certificate from another CA"
grep -q "handshake failed: client certificate refused" emberd.log ||
    fail "the log does not say why the rogue certificate failed"
expect '000 *' "$(req app --tls-max 1.2 "$url/v2/health/live")" "a TLS 1.2 client"
grep -q "handshake failed: .*unsupported protocol" emberd.log ||
    fail "the log does not say TLS 1.2 was refused"
if openssl s_client -tls1_2 -connect "127.0.0.1:$port" </dev/null >s_client.out 2>&1; then
    fail "openssl s_client -tls1_2 connected"
fi
plain=$(curl -s --max-time 20 "http://127.0.0.1:$port/v2/health/live" -w ' %{http_code}')
case $plain in *HTTP* | *live* | *' 200' | *' 403') fail "plaintext HTTP got an answer: '$plain'" ;; esac
grep -q "handshake failed: .*http request" emberd.log || fail "the log does not name plaintext HTTP"

# A client that opens the port and says nothing is closed after header_timeout_ms (1 s).
start=$(date +%s)
timeout 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat <&3 >/dev/null" ||
    fail "a silent TLS client was not closed within 15 s"
[ $(($(date +%s) - start)) -lt 15 ] || fail "a silent TLS client stayed open"
grep -q "no TLS handshake within 1000 ms" emberd.log || fail "the log does not say why"

# The body limit holds over TLS: a Content-Length past 64 MiB is answered 413 at once.
printf 'POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n' |
    timeout 20 openssl s_client -quiet -connect "127.0.0.1:$port" -CAfile ca.crt -cert app.crt \
        -key app.key >big.out 2>/dev/null
grep -q '^HTTP/1.1 413' big.out || fail "an oversized body over TLS: '$(head -c 200 big.out)'"

# Still serving, on both listeners.
expect '200 {"live":true}' "$(req app "$url/v2/health/live")" "health after the refusals"
live=$(curl -s --max-time 20 --unix-socket "$sock" http://localhost/v2/health/live)
[ "$live" = '{"live":true}' ] || fail "the Unix socket alongside: '$live'"

# The admin certificate may unload: afterwards the model is gone for everyone.
expect '200 *' "$(req ops "${unload[@]}" "$url/v2/repository/models/digits/unload")" \
    "unload with the admin certificate"
expect '404 *' "$(req app "${infer[@]}" "$url/v2/models/digits/infer")" "inference after unload"
ready=$(curl -s --max-time 20 --unix-socket "$sock" -o /dev/null -w '%{http_code}' \
    http://localhost/v2/models/digits/ready)
[ "$ready" != 200 ] || fail "the model is still ready on the Unix socket after the unload"
stop_emberd emberd.log

# ---- connection limits over TLS: max_connections and idle_timeout_ms ----
cat >limits.json <<'EOF'
{"tls_listen": "127.0.0.1:0", "tls_cert": "server.crt", "tls_key": "server.key",
 "tls_client_ca": "ca.crt", "tls_anonymous": "read", "idle_timeout_ms": 3000}
EOF
start_emberd limits.log --config limits.json --socket "$tmp/limits.sock" --max-connections 1
url=https://127.0.0.1:$port
expect '200 {"live":true}' "$(req - "$url/v2/health/live")" "tls_anonymous read: health"
expect "403 *a TLS client without a certificate has the role 'read'; this needs 'infer'*" \
    "$(req - "${infer[@]}" "$url/v2/models/digits/infer")" "tls_anonymous read: infer"
# One client finishes its handshake and then says nothing: while it holds the only slot a
# second connection is closed at once, and it is closed itself after idle_timeout_ms.
connected() { grep -c "connected with the role" limits.log; }
n0=$(connected)
start=$(date +%s)
timeout 30 openssl s_client -quiet -connect "127.0.0.1:$port" -CAfile ca.crt \
    < <(sleep 30) >/dev/null 2>&1 &
holder=$!
for _ in $(seq 200); do [ "$(connected)" -gt "$n0" ] && break; sleep 0.05; done
[ "$(connected)" -gt "$n0" ] || fail "the idle TLS client did not connect"
expect '000 *' "$(req - "$url/v2/health/live")" "a connection beyond max_connections"
grep -q "more than 1 connections; closing a new one" limits.log ||
    fail "max_connections over TLS not logged"
wait $holder
[ $(($(date +%s) - start)) -lt 25 ] || fail "an idle TLS connection was not closed"
grep -q "closing a connection idle for 3000 ms" limits.log || fail "the idle close is not logged"
expect '200 {"live":true}' "$(req - "$url/v2/health/live")" "health once the slot is free"
stop_emberd limits.log
exit $failed
