#!/usr/bin/env python3
"""fcgi_client: a tiny FastCGI client (the web server's side of the protocol),
so that tests can talk to cruddur-api without a web server in between.

    fcgi_client.py ADDRESS METHOD URI [BODY]      one request, prints the answer
    fcgi_client.py --term-during-body PID ADDRESS METHOD URI BODY
        sends the parameters and half the body, SIGTERMs PID, sends the rest,
        and prints the answer: the request in hand must still be answered.
    fcgi_client.py --hang-up-mid-body ADDRESS METHOD URI BODY
        sends the parameters and half the body, then closes the connection
        (a web server whose client went away).

ADDRESS is unix:/path or HOST:PORT. Prints the program's output (CGI-style
headers and body) and exits 0 when an END_REQUEST arrived, 1 otherwise.
Standard library only.
"""
import os
import signal
import socket
import struct
import sys
import time

FCGI_VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER = 1


def record(rtype, content, request_id=1):
    """One record, padded to a multiple of 8 bytes."""
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", FCGI_VERSION, rtype, request_id, len(content), pad, 0) + \
        content + b"\0" * pad


def stream(rtype, data):
    """A stream's records: data in pieces of at most 65535 bytes, then the
    empty record that ends the stream."""
    out = b""
    for i in range(0, len(data), 65535):
        out += record(rtype, data[i:i + 65535])
    return out + record(rtype, b"")


def name_value(name, value):
    def length(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


def connect(address, timeout=30.0):
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[5:])
    else:
        host, _, port = address.rpartition(":")
        s = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
    return s


def params_for(method, uri, body, extra=None):
    path, _, query = uri.partition("?")
    p = {
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "SCRIPT_NAME": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "CONTENT_TYPE": "application/json" if body else "",
    }
    p.update(extra or {})
    return p


def begin(sock, params):
    sock.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0)))
    sock.sendall(stream(PARAMS, b"".join(name_value(k, v) for k, v in params.items())))


def read_answer(sock):
    """Reads records until END_REQUEST. Returns (stdout, stderr, app_status),
    app_status None if the connection ended first."""
    out, err, buf = b"", b"", b""
    while True:
        while len(buf) < 8:
            chunk = sock.recv(65536)
            if not chunk:
                return out, err, None
            buf += chunk
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
        while len(buf) < 8 + clen + plen:
            chunk = sock.recv(65536)
            if not chunk:
                return out, err, None
            buf += chunk
        content, buf = buf[8:8 + clen], buf[8 + clen + plen:]
        if rtype == STDOUT:
            out += content
        elif rtype == STDERR:
            err += content
        elif rtype == END_REQUEST:
            return out, err, struct.unpack(">I", content[:4])[0]


def request(address, method, uri, body=b"", extra=None, timeout=30.0):
    """One request on a new connection; returns (stdout, stderr, app_status)."""
    with connect(address, timeout) as s:
        begin(s, params_for(method, uri, body, extra))
        s.sendall(stream(STDIN, body))
        return read_answer(s)


def request_term_during_body(pid, address, method, uri, body, pause=0.5):
    """Starts a request, and SIGTERMs pid while the worker waits for the
    second half of its body."""
    with connect(address) as s:
        begin(s, params_for(method, uri, body))
        half = len(body) // 2
        s.sendall(record(STDIN, body[:half]))
        time.sleep(pause)          # the worker has accepted and reads the body
        os.kill(pid, signal.SIGTERM)
        time.sleep(pause)          # the signal is pending; the request is in hand
        s.sendall(record(STDIN, body[half:]) + record(STDIN, b""))
        return read_answer(s)


def hang_up_mid_body(address, method, uri, body):
    with connect(address) as s:
        begin(s, params_for(method, uri, body))
        s.sendall(record(STDIN, body[:len(body) // 2]))
        time.sleep(0.2)


def main(argv):
    if len(argv) >= 2 and argv[1] == "--hang-up-mid-body":
        if len(argv) != 6:
            print(__doc__, file=sys.stderr)
            return 2
        hang_up_mid_body(argv[2], argv[3], argv[4], argv[5].encode())
        return 0
    if len(argv) >= 2 and argv[1] == "--term-during-body":
        if len(argv) != 7:
            print(__doc__, file=sys.stderr)
            return 2
        out, err, status = request_term_during_body(int(argv[2]), argv[3], argv[4], argv[5],
                                                    argv[6].encode())
    else:
        if len(argv) not in (4, 5):
            print(__doc__, file=sys.stderr)
            return 2
        body = argv[4].encode() if len(argv) == 5 else b""
        out, err, status = request(argv[1], argv[2], argv[3], body)
    sys.stdout.write(out.decode("utf-8", "replace"))
    if err:
        sys.stderr.write(err.decode("utf-8", "replace"))
    if status is None:
        print("\nfcgi_client: the connection ended without END_REQUEST", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
