"""A client for emberd over its Unix socket, standard library only (Python 3.7+).

    from ember_client import Client
    with Client("run/emberd.sock") as c:
        a = c.infer_media("digits", open("models/digits/sample.png", "rb").read(),
                          "image/png", id="cam1", classification=3)
        for k in a["probabilities"].classes():
            print(k.index, k.label, k.score)

Client keeps one HTTP/1.1 connection (keep-alive) and reconnects when emberd has closed
it. infer() sends a KServe v2 JSON request; infer_media() a raw JPEG, PNG or WAV body
with id, timeout_ms, priority and classification in the query string (docs/api.md). Both
return an Answer whose outputs hold flat row-major data: numbers for numeric datatypes,
bytes for BYTES (the classification extension's "score:index:label" strings), read from
JSON or from the binary tensor data extension alike. An answer other than 200 raises
EmberError with emberd's status and message; a malformed answer raises ValueError.
"""

import http.client
import json
import os
import socket
import struct
import urllib.parse

DEFAULT_SOCKET = "/run/emberd/emberd.sock"

# Binary element formats (little-endian) of the numeric datatypes emberd answers with.
_BINARY = {"FP32": "<f", "INT64": "<q", "INT32": "<i", "INT8": "<b", "UINT8": "<B", "BOOL": "<?"}


class EmberError(Exception):
    """emberd answered with an HTTP error; status and message are its own."""

    def __init__(self, status, message):
        super().__init__("emberd answered %d: %s" % (status, message))
        self.status = status
        self.message = message


class Class:
    """One classification element: score, index and label ("" when the model has none)."""

    def __init__(self, score, index, label):
        self.score, self.index, self.label = score, index, label

    def __repr__(self):
        return "Class(%r, %r, %r)" % (self.score, self.index, self.label)


class Output:
    def __init__(self, name, datatype, shape, data):
        self.name, self.datatype, self.shape, self.data = name, datatype, shape, data

    def strings(self, encoding="utf-8"):
        """A BYTES output's elements as text."""
        if self.datatype != "BYTES":
            raise ValueError("output %r is %s, not BYTES" % (self.name, self.datatype))
        return [b.decode(encoding) for b in self.data]

    def classes(self):
        """A classification output's elements, each "score:index[:label]", split."""
        out = []
        for s in self.strings():
            parts = s.split(":", 2)
            try:
                out.append(Class(float(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else ""))
            except (IndexError, ValueError):
                raise ValueError("output %r: %r is not score:index[:label]" % (self.name, s))
        return out


class Answer:
    def __init__(self, model_name, model_version, id, outputs):
        self.model_name, self.model_version, self.id = model_name, model_version, id
        self.outputs = outputs

    def __getitem__(self, name):
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)


def _flatten(data, out):
    if isinstance(data, list):
        for d in data:
            _flatten(d, out)
    else:
        out.append(data)


def _binary(name, datatype, count, raw):
    if datatype == "BYTES":
        vals, at = [], 0
        for i in range(count):
            if len(raw) - at < 4:
                raise ValueError("output %r: binary data ends before element %d's length" % (name, i))
            (n,) = struct.unpack_from("<I", raw, at)
            at += 4
            if n > len(raw) - at:
                raise ValueError("output %r: element %d claims %d bytes, %d remain"
                                 % (name, i, n, len(raw) - at))
            vals.append(bytes(raw[at:at + n]))
            at += n
        if at != len(raw):
            raise ValueError("output %r: %d bytes of binary data after its %d elements"
                             % (name, len(raw) - at, count))
        return vals
    fmt = _BINARY[datatype]
    size = struct.calcsize(fmt)
    if len(raw) != count * size:
        raise ValueError("output %r: binary_data_size %d is not %d elements of %d bytes"
                         % (name, len(raw), count, size))
    return [v for (v,) in struct.iter_unpack(fmt, raw)]


def parse_answer(status, headers, body):
    """An Answer from an infer response: its status, headers (a mapping with .get, names
    as emberd sends them) and body bytes."""
    hl = headers.get("Inference-Header-Content-Length")
    json_len = len(body)
    if hl is not None:
        if not hl.isdigit() or int(hl) > len(body):
            raise ValueError("Inference-Header-Content-Length %r is not within the body's %d bytes"
                             % (hl, len(body)))
        json_len = int(hl)
    try:
        root = json.loads(body[:json_len].decode("utf-8"))
    except ValueError:
        raise ValueError("the answer (status %d) is not JSON" % status)
    if status != 200:
        raise EmberError(status, root.get("error", "(no message)") if isinstance(root, dict) else "")
    if not isinstance(root, dict) or not isinstance(root.get("outputs"), list) \
            or not isinstance(root.get("model_name"), str):
        raise ValueError("the answer has no \"model_name\" or no \"outputs\" array")
    outputs, at = [], json_len
    for o in root["outputs"]:
        name, datatype, shape = o.get("name"), o.get("datatype"), o.get("shape")
        if not isinstance(name, str) or datatype not in _BINARY and datatype != "BYTES" \
                or not isinstance(shape, list) \
                or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError("output %r: bad or unknown name, datatype or shape" % (name,))
        count = 1
        for d in shape:
            count *= d
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or size > len(body) - at:
                raise ValueError("output %r: binary_data_size is not within the %d bytes left"
                                 % (name, len(body) - at))
            data = _binary(name, datatype, count, body[at:at + size])
            at += size
        elif "data" in o:
            data = []
            _flatten(o["data"], data)
            if len(data) != count:
                raise ValueError("output %r: \"data\" holds %d elements, its shape %d"
                                 % (name, len(data), count))
            if datatype == "BYTES":
                if not all(isinstance(d, str) for d in data):
                    raise ValueError("output %r: a BYTES element is not a string" % name)
                data = [d.encode("utf-8") for d in data]
        else:
            raise ValueError("output %r has neither \"data\" nor binary_data_size" % name)
        outputs.append(Output(name, datatype, shape, data))
    if at != len(body):
        raise ValueError("%d bytes after the JSON belong to no output" % (len(body) - at))
    return Answer(root["model_name"], root.get("model_version"), root.get("id"), outputs)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Client:
    def __init__(self, path=None, timeout=30.0):
        self.path = path or os.environ.get("EMBER_SOCKET") or DEFAULT_SOCKET
        self._conn = _UnixConnection(self.path, timeout)

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, target, body=None, headers=None):
        """(status, headers, body bytes) of one request; retried once on a fresh connection
        when emberd closed the kept-alive one (its requests have no side effects)."""
        for attempt in (0, 1):
            try:
                self._conn.request(method, target, body=body, headers=headers or {})
                r = self._conn.getresponse()
                return r.status, r.headers, r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._conn.close()
                if attempt:
                    raise
            except BaseException:
                self._conn.close()  # the next request starts on a fresh connection
                raise

    def _json(self, method, target):
        status, headers, body = self.request(method, target)
        root = json.loads(body.decode("utf-8"))
        if status != 200:
            raise EmberError(status, root.get("error", ""))
        return root

    def live(self):
        return self._json("GET", "/v2/health/live").get("live") is True

    def metadata(self, model, version=None):
        return self._json("GET", _model_path(model, version))

    def infer(self, model, inputs, outputs=None, id=None, parameters=None, version=None):
        """inputs: KServe input objects ({"name", "datatype", "shape", "data"}); outputs:
        names or output objects (e.g. {"name": "p", "parameters": {"classification": 3,
        "binary_data": True}}); parameters: the request's (priority, timeout_ms, ...)."""
        req = {"inputs": inputs}
        if id is not None:
            req["id"] = id
        if parameters:
            req["parameters"] = parameters
        if outputs is not None:
            req["outputs"] = [{"name": o} if isinstance(o, str) else o for o in outputs]
        body = json.dumps(req).encode("utf-8")
        return parse_answer(*self.request("POST", _model_path(model, version) + "/infer", body,
                                          {"Content-Type": "application/json"}))

    def infer_media(self, model, body, content_type, id=None, timeout_ms=None, priority=None,
                    classification=None, version=None):
        """A raw image or sound (content_type image/jpeg, image/png or audio/wav)."""
        query = [(k, v) for k, v in (("id", id), ("timeout_ms", timeout_ms),
                                     ("priority", priority), ("classification", classification))
                 if v is not None]
        target = _model_path(model, version) + "/infer"
        if query:
            target += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
        return parse_answer(*self.request("POST", target, body, {"Content-Type": content_type}))


def _model_path(model, version):
    path = "/v2/models/" + urllib.parse.quote(model, safe="")
    return path + "/versions/" + urllib.parse.quote(str(version), safe="") if version else path
