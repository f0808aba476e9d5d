"""clients/python/ember_client.py against emberd serving the checkout's models/ repository:
classification strings read alike from JSON and from binary answers and split into score,
index and label in the order of the numeric probabilities; numeric outputs equal from JSON
and binary; a raw PNG with id, classification, timeout_ms and priority in the query string;
emberd's errors raised as EmberError with its status and words; malformed answers refused
with ValueError. Usage: test_python_client.py EMBERD SOURCE_ROOT (standard library only)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

emberd, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "clients", "python"))
from ember_client import Client, EmberError, parse_answer  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def raises(exc, words, fn, *args):
    try:
        fn(*args)
    except exc as e:
        check(words in str(e), "%s: want %r in %r" % (exc.__name__, words, str(e)))
        return e
    check(False, "no %s (want %r)" % (exc.__name__, words))


tmp = tempfile.mkdtemp(prefix="ember-py.")
sock = os.path.join(tmp, "emberd.sock")
# A cross build (make check-arm64) runs emberd through meson's exe wrapper (qemu-user).
wrapper = os.environ.get("MESON_EXE_WRAPPER", "").split()
proc = subprocess.Popen(wrapper + [emberd, "--dev", "--models", os.path.join(root, "models"),
                                   "--socket", sock, "--workers", "1"])
try:
    c = Client(sock, timeout=30)
    for _ in range(500):
        try:
            if c.live():
                break
        except OSError:
            time.sleep(0.02)
    else:
        sys.exit("emberd did not answer on %s" % sock)

    sample = json.load(open(os.path.join(root, "models", "digits", "sample.json")))
    inputs = sample["inputs"]
    expected = int(open(os.path.join(root, "models", "digits", "sample.expected")).read())

    num = c.infer("digits", inputs, outputs=["probabilities"], id="n1")
    probs = num["probabilities"].data
    check(num.id == "n1" and num.model_name == "digits", "id and model name: %r" % vars(num))
    check(len(probs) == 10 and num["probabilities"].shape == [1, 10], "numeric shape")
    nb = c.infer("digits", inputs,
                 outputs=[{"name": "probabilities", "parameters": {"binary_data": True}}])
    check(all(abs(a - b) <= 1e-7 * abs(a) for a, b in zip(nb["probabilities"].data, probs)),
          "binary FP32 equals JSON: %r %r" % (nb["probabilities"].data, probs))

    order = sorted(range(10), key=lambda i: -probs[i])
    for binary in (False, True):
        params = {"classification": 3}
        if binary:
            params["binary_data"] = True
        a = c.infer("digits", inputs, outputs=[{"name": "probabilities", "parameters": params}])
        o = a["probabilities"]
        check(o.datatype == "BYTES" and o.shape == [1, 3], "BYTES [1,3]: %s %r" % (o.datatype, o.shape))
        ks = o.classes()
        check([k.index for k in ks] == order[:3], "binary=%s order %r, want %r"
              % (binary, [k.index for k in ks], order[:3]))
        for k in ks:
            check(abs(k.score - probs[k.index]) <= 1e-5 * probs[k.index] and k.label == str(k.index),
                  "class %r against %r" % (k, probs[k.index]))
        if binary:
            check(o.data == json_bytes, "binary strings %r equal JSON ones %r" % (o.data, json_bytes))
        else:
            json_bytes = o.data

    png = open(os.path.join(root, "models", "digits", "sample.png"), "rb").read()
    a = c.infer_media("digits", png, "image/png", id="cam 1/ä", classification=1, timeout_ms=60000,
                      priority="high")
    check(a.id == "cam 1/ä", "raw id %r" % a.id)
    top = a["probabilities"].classes()[0]
    check(top.index == expected and top.score > 0.99, "sample.png: %r, want %d" % (top, expected))

    e = raises(EmberError, "deadline", c.infer_media, "digits", png, "image/png", None, 0)
    check(e is not None and e.status == 504, "timeout_ms=0 is 504")
    e = raises(EmberError, "priority wants high, normal or low", c.infer_media, "digits", png,
               "image/png", None, None, "urgent")
    check(e is not None and e.status == 400, "bad priority is 400")
    e = raises(EmberError, "unknown model", c.infer, "nosuch", inputs)
    check(e is not None and e.status == 404, "unknown model is 404")
    check(c.live(), "still serving")

    head = b'{"model_name":"m","outputs":[{"name":"y","datatype":"BYTES","shape":[1],' \
           b'"parameters":{"binary_data_size":8}}]}'
    hl = {"Inference-Header-Content-Length": str(len(head))}
    raises(ValueError, "element 0 claims 5 bytes, 4 remain", parse_answer, 200, hl,
           head + b"\x05\0\0\0abcd")
    raises(ValueError, "binary_data_size is not within", parse_answer, 200, hl, head + b"\x01\0\0")
    raises(ValueError, "2 bytes of binary data after", parse_answer, 200, hl,
           head + b"\x02\0\0\0ab\0\0")
    raises(ValueError, "not within the body", parse_answer, 200,
           {"Inference-Header-Content-Length": "999"}, head)
    raises(ValueError, "holds 1 elements, its shape 2", parse_answer, 200, {},
           b'{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[1]}]}')
    raises(ValueError, "not score:index", lambda: parse_answer(200, {}, (
        b'{"model_name":"m","outputs":[{"name":"y","datatype":"BYTES","shape":[1],'
        b'"data":["0.5:x"]}]}'))["y"].classes())
    c.close()
finally:
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    check(rc == 0, "emberd exited %d after SIGTERM" % rc)
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    sys.exit("%d failures" % len(failures))
print("ok")
