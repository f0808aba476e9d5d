#!/bin/bash
# emberd's resident memory with its TLS listener: idle without a listener, idle with one, and
# per idle connection (each made one request, then stays open), over TLS and over the Unix
# socket. Certificates are made with the openssl CLI; the clients are Python's ssl and socket
# modules (Debian's /usr/bin/python3). VmRSS is read from /proc, as daemon_bench.sh does.
#
# Usage: tests/bench/tls_idle.sh [EMBERD] [CONNECTIONS]   (defaults: build/daemon/emberd, 1000)
set -eu
emberd=$(realpath "${1:-build/daemon/emberd}")
n=${2:-1000}
ulimit -n $((n + 256))
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-tlsbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout ca.key -out ca.crt -subj /CN=bench-ca 2>/dev/null
echo 'subjectAltName=IP:127.0.0.1' >san.ext
for c in server app; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $c.key -out $c.csr \
        -subj /CN=$c 2>/dev/null
    openssl x509 -req -in $c.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile san.ext -out $c.crt 2>/dev/null
done
chmod 600 ./*.key
printf '{"tls_listen": "127.0.0.1:0", "tls_cert": "server.crt", "tls_key": "server.key",
  "tls_client_ca": "ca.crt", "tls_roles": {"read": ["cn:app"]}}' >tls.json

/usr/bin/python3 - "$emberd" "$n" <<'PY'
import os, re, socket, ssl, subprocess, sys, time
emberd, n = sys.argv[1], int(sys.argv[2])
REQ = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"

def run(name, args, connect):
    log = open(name + ".log", "w+")
    p = subprocess.Popen([emberd, "--socket", os.path.abspath(name + ".sock"),
                          "--log-level", "warn"] + args, stderr=log)
    try:
        port = None
        for _ in range(200):
            time.sleep(0.05)
            text = open(name + ".log").read()
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", text)
            port = int(m.group(1)) if m else None
            if "listening on" in text and (port or not args):
                break
        time.sleep(1)
        rss = lambda: int(re.search(r"VmRSS:\s+(\d+)",
                                    open("/proc/%d/status" % p.pid).read()).group(1))
        idle = rss()
        conns = []
        if connect:
            for _ in range(n):
                s = connect(name, port)
                s.sendall(REQ)
                s.recv(4096)
                conns.append(s)
            time.sleep(0.5)
            per = (rss() - idle) / n
            print("%-34s idle %6d kB, %.1f kB per idle connection (%d)" % (name, idle, per, n))
        else:
            print("%-34s idle %6d kB" % (name, idle))
        for s in conns:
            s.close()
    finally:
        p.terminate()
        p.wait()

ctx = ssl.create_default_context(cafile="ca.crt")
ctx.load_cert_chain("app.crt", "app.key")
def tls(name, port):
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                           server_hostname="127.0.0.1")
def unix(name, port):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.abspath(name + ".sock"))
    return s
run("unix-socket-only", [], unix)
run("with-tls-listener", ["--config", "tls.json"], tls)
PY
