#!/usr/bin/python3
"""xray_daemon: a fake AWS X-Ray daemon (its UDP side) for tests.

The daemon takes one segment document per UDP datagram, after a one-line
header (aws-xray-daemon, daemon.go / tracesegment.go):

    {"format": "json", "version": 1}\\n{...segment document...}

It splits the datagram at the first newline; a datagram without a body,
or whose header does not say format "json" (any case) and version 1, is
rejected. Its receive buffer is 64 KiB: a longer datagram is cut there
(and its document no longer parses). This fake counts each datagram as
valid or invalid (with the reason), checks each document as xray_api.py
does (the daemon itself does not, the X-Ray API would), and writes the
accepted documents to --out, one JSON document a line.

The UDP port goes to --port-file; a small HTTP control server (port in
--control-port-file) answers GET /_fake/stats, /_fake/stat/K,
/_fake/stored and POST /_fake/reset, like the other fakes.

Counters: datagrams, valid, invalid, reasons {bad_header, no_body,
too_large, not_json, invalid_segment}, error_codes (of invalid
segments), unique, duplicates (by trace_id:id, completed documents),
deviations.
"""

import argparse
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xray_api  # noqa: E402

BUFFER = 64 * 1024      # the daemon's Socket.BufferSizeKB


class Daemon:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.counts = {"datagrams": 0, "valid": 0, "invalid": 0}
            self.reasons = {}
            self.codes = {}
            self.seen = {}
            self.docs = []
            self.deviations = []
        if self.out:
            open(self.out, "w").close()

    def deviate(self, text):
        with self.lock:
            if len(self.deviations) < 200:
                self.deviations.append(text)

    def reject(self, reason, code=None):
        with self.lock:
            self.counts["invalid"] += 1
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
            if code:
                self.codes[code] = self.codes.get(code, 0) + 1

    def datagram(self, data):
        with self.lock:
            self.counts["datagrams"] += 1
        if len(data) > BUFFER:
            return self.reject("too_large")
        header, sep, body = data.partition(b"\n")
        if not sep or not body:
            return self.reject("no_body")
        try:
            h = json.loads(header)
        except ValueError:
            return self.reject("bad_header")
        if not isinstance(h, dict) or not isinstance(h.get("format"), str) or \
                h["format"].lower() != "json" or h.get("version") != 1 or isinstance(h.get("version"), bool):
            return self.reject("bad_header")
        if header.strip() != b'{"format":"json","version":1}' and header.strip() != b'{"format": "json", "version": 1}':
            self.deviate("header %r is not the SDKs' {\"format\":\"json\",\"version\":1}" % header[:80])
        try:
            text = body.decode("utf-8")
            json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return self.reject("not_json")
        ok, info = xray_api.check_document(text, self.deviate)
        if not ok:
            return self.reject("invalid_segment", info["ErrorCode"])
        doc, key, in_progress, kind, embedded = info
        with self.lock:
            self.counts["valid"] += 1
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.counts["embedded_subsegments"] = self.counts.get("embedded_subsegments", 0) + embedded
            if in_progress:
                self.counts["in_progress"] = self.counts.get("in_progress", 0) + 1
            else:
                self.seen[key] = self.seen.get(key, 0) + 1
            self.docs.append(doc)
            if self.out:
                with open(self.out, "a") as f:
                    f.write(json.dumps(doc, separators=(",", ":")) + "\n")

    def stats(self):
        with self.lock:
            s = dict(self.counts)
            s["reasons"] = dict(self.reasons)
            s["error_codes"] = dict(self.codes)
            s["unique"] = len(self.seen)
            s["duplicates"] = sum(n - 1 for n in self.seen.values() if n > 1)
            s["deviations"] = len(self.deviations)
            s["deviation_samples"] = self.deviations[:20]
            return s


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, text=False):
        data = (body if text else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        d = self.server.daemon
        path = self.path.split("?")[0]
        if path == "/_fake/stats":
            return self.reply(200, d.stats())
        if path.startswith("/_fake/stat/"):
            v = d.stats().get(path[len("/_fake/stat/"):], 0)
            return self.reply(200, (json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v))
                              + "\n", text=True)
        if path == "/_fake/stored":
            with d.lock:
                return self.reply(200, list(d.docs))
        return self.reply(404, {"error": "no such control endpoint"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path.split("?")[0] == "/_fake/reset":
            self.server.daemon.reset()
            return self.reply(200, {})
        return self.reply(404, {"error": "no such control endpoint"})


def write_port(path, port):
    if path:
        with open(path + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description="X-Ray daemon (UDP) fake")
    ap.add_argument("--port", type=int, default=0, help="UDP port (0: any)")
    ap.add_argument("--port-file", help="where to write the UDP port")
    ap.add_argument("--control-port-file", help="where to write the HTTP control port")
    ap.add_argument("--out", help="accepted documents, one a line")
    args = ap.parse_args()
    daemon = Daemon(args.out)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", args.port))
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    ctl.daemon_threads = True
    ctl.daemon = daemon
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    write_port(args.control_port_file, ctl.server_address[1])
    write_port(args.port_file, sock.getsockname()[1])
    try:
        while True:
            # One byte more than the daemon's buffer: a longer datagram is seen as such.
            data = sock.recv(BUFFER + 1)
            daemon.datagram(data)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
