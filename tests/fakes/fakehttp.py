"""fakehttp: what the protocol fakes share (Python 3 standard library only).

A threaded HTTP/1.1 server on loopback (keep-alive, like the real services),
a control API under /_fake/ that tests drive with curl, a queue of faults
each data request consumes in turn, and counters the tests read back:

  POST /_fake/faults   a JSON list of faults to queue (or one object):
      {"kind": "status", "status": 503, "retry_after": "1", "times": 2}
      {"kind": "hang", "seconds": 10}     read the request, answer nothing, then close
      {"kind": "reset"}                   read the request, then reset the connection
      {"kind": "delay", "seconds": 5}     accept the request, answer only after a while
      plus the kinds a receiver adds (partial success, rate limit ...)
  POST /_fake/poison   {"match": "text"}: records containing it are refused for good
  GET  /_fake/stats    counters (JSON)
  GET  /_fake/stat/K   counter K alone, as text
  GET  /_fake/records  the keys of every record accepted, in order (JSON list)
  POST /_fake/reset    forget everything

The server writes the port it listens on to --port-file once it is ready,
so tests can use port 0 and never race for a port.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Answer:
    """What a data handler decided: status, headers, JSON body."""

    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.faults = []
        self.poison = []
        self.requests = 0
        self.statuses = {}
        self.faults_served = 0
        self.gzip_requests = 0
        self.accepted = []          # record keys, in the order accepted
        self.seen = {}              # key -> times accepted
        self.rejected_records = 0
        self.deviations = []
        self.extra = {}

    def next_fault(self):
        with self.lock:
            if not self.faults:
                return None
            f = self.faults[0]
            times = f.get("times", 1)
            if times <= 1:
                self.faults.pop(0)
            else:
                f["times"] = times - 1
            self.faults_served += 1
            return dict(f)

    def accept(self, keys):
        with self.lock:
            for k in keys:
                self.accepted.append(k)
                self.seen[k] = self.seen.get(k, 0) + 1

    def deviate(self, text):
        with self.lock:
            if len(self.deviations) < 200:
                self.deviations.append(text)

    def stats(self):
        with self.lock:
            dup = sum(n - 1 for n in self.seen.values() if n > 1)
            s = {
                "requests": self.requests,
                "statuses": dict(self.statuses),
                "faults_served": self.faults_served,
                "faults_pending": len(self.faults),
                "gzip_requests": self.gzip_requests,
                "accepted": len(self.accepted),
                "unique": len(self.seen),
                "duplicates": dup,
                "rejected_records": self.rejected_records,
                "deviations": len(self.deviations),
                "deviation_samples": self.deviations[:20],
            }
            s.update(self.extra)
            return s


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake"
    sys_version = ""
    # One write per answer, sent at once: headers and body in separate
    # segments would meet the client's delayed ACK (40 ms an answer).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def handle_expect_100(self):
        # The interim answer must leave now, not wait in the write buffer
        # until the final one: the client holds the body back meanwhile.
        ok = BaseHTTPRequestHandler.handle_expect_100(self)
        self.wfile.flush()
        return ok

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.server.name, fmt % args))

    # -- plumbing ---------------------------------------------------------
    def send_json(self, status, body, headers=None, content_type="application/json"):
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self.read_chunked()
            return None
        n = int(n)
        return self.rfile.read(n) if n > 0 else b""

    def read_chunked(self):
        out = b""
        while True:
            line = self.rfile.readline().strip()
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def reset_connection(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def transport_fault(self, fault):
        """Acts out a fault that leaves no HTTP answer: "hang" (wait, then
        drop the connection) or "reset" (drop it at once). True when it did."""
        kind = fault.get("kind")
        if kind == "hang":
            time.sleep(float(fault.get("seconds", 30)))
        elif kind != "reset":
            return False
        self.reset_connection()
        return True

    # -- control ------------------------------------------------------------
    def control(self, method):
        st = self.server.state
        path = self.path.split("?")[0]
        if method == "GET" and path == "/_fake/stats":
            return self.send_json(200, st.stats())
        if method == "GET" and path.startswith("/_fake/stat/"):
            # one counter as plain text, for shell tests
            v = st.stats().get(path[len("/_fake/stat/"):], 0)
            text = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)
            data = (text + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return
        if method == "GET" and path == "/_fake/records":
            with st.lock:
                return self.send_json(200, list(st.accepted))
        if method == "GET" and path == "/_fake/deviations":
            with st.lock:
                return self.send_json(200, list(st.deviations))
        if method == "POST":
            raw = self.read_body() or b"null"
            try:
                arg = json.loads(raw)
            except ValueError:
                return self.send_json(400, {"error": "control body must be JSON"})
            if path == "/_fake/faults":
                with st.lock:
                    st.faults.extend(arg if isinstance(arg, list) else [arg])
                return self.send_json(200, {"queued": len(st.faults)})
            if path == "/_fake/poison":
                with st.lock:
                    st.poison.append(arg["match"])
                return self.send_json(200, {"poison": st.poison})
            if path == "/_fake/reset":
                with st.lock:
                    st.reset()
                return self.send_json(200, {})
        return self.send_json(404, {"error": "no such control endpoint"})

    # -- data -----------------------------------------------------------------
    def handle_any(self, method):
        if self.path.startswith("/_fake/"):
            return self.control(method)
        st = self.server.state
        with st.lock:
            st.requests += 1
        body = self.read_body() if method in ("POST", "PUT") else b""
        if body is None:
            return self.finish_answer(Answer(411, self.server.receiver.error_body(411, "Content-Length required")))
        fault = st.next_fault() if self.server.receiver.is_data_path(self.path) else None
        if fault is not None:
            if self.transport_fault(fault):
                return
            kind = fault.get("kind")
            if kind == "status":
                code = int(fault.get("status", 503))
                headers = {}
                if "retry_after" in fault:
                    headers["Retry-After"] = fault["retry_after"]
                headers.update(fault.get("headers", {}))
                body_out = fault.get("body")
                if body_out is None:
                    body_out = self.server.receiver.error_body(code, fault.get("message", "injected fault"))
                return self.finish_answer(Answer(code, body_out, headers))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            with st.lock:
                st.gzip_requests += 1
        answer = self.server.receiver.handle(self, method, body, fault)
        if fault is not None and fault.get("kind") == "delay":
            time.sleep(float(fault.get("seconds", 5)))
        self.finish_answer(answer)

    def finish_answer(self, a):
        st = self.server.state
        with st.lock:
            st.statuses[str(a.status)] = st.statuses.get(str(a.status), 0) + 1
        try:
            self.send_json(a.status, a.body, a.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self):
        self.handle_any("POST")

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


def decode_body(handler, body, limit):
    """The request body after Content-Encoding, or an (status, message) error."""
    enc = handler.headers.get("Content-Encoding", "").strip().lower()
    if enc in ("", "identity"):
        data = body
    elif enc == "gzip":
        # The gzip trailer states the size (mod 2^32): refuse what would be
        # too large before inflating, then check again what came out.
        if len(body) >= 18 and struct.unpack("<I", body[-4:])[0] > limit:
            return None, (413, "request body too large after decompression")
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = d.decompress(body)
            if len(data) > limit:
                return None, (413, "request body too large after decompression")
            if not d.eof:
                return None, (400, "truncated gzip body")
        except zlib.error as e:
            return None, (400, "bad gzip body: %s" % e)
    else:
        return None, (415, "unsupported Content-Encoding: %s" % enc)
    if len(data) > limit:
        return None, (413, "request body too large")
    return data, None


def serve(name, receiver, argv=None, extra_args=None):
    ap = argparse.ArgumentParser(description="%s fake" % name)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    if extra_args:
        extra_args(ap)
    args = ap.parse_args(argv)
    receiver.configure(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State()
    server.receiver = receiver
    receiver.state = server.state
    server.verbose = args.verbose
    server.name = name
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
