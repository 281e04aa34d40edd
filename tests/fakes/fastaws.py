"""fastaws: the server behind the AWS fakes' --count-only mode (benchmarks
of the exporters), Python 3 standard library only.

The normal mode (sigv4.serve: http.server threads, email header parsing,
botocore as the signature referee) costs the fake a few hundred
microseconds of CPU per request, which is what a benchmark of a fast
exporter would end up measuring. With --count-only the same fake runs here:

  - a plain HTTP/1.1 keep-alive loop over raw sockets (epoll, one thread),
    pipelining, Expect: 100-continue, chunked bodies and Connection: close
    handled as http.server does;
  - in --workers processes (default 2) forked after the listening socket is
    bound; a new connection goes to the worker that has fewest;
  - every request still goes through sigv4.Verifier (the same checks in the
    same order with the same error types and words; the signature itself
    computed by sigv4.FastSigner, or by botocore for the rare request whose
    URL it would normalise) and then through the receiver's own handle()
    (xray_api.XRay, cloudwatch_logs.Logs), whose count-only paths check
    each request's limits, count documents and events, and store nothing.

Shared between the workers, in an anonymous shared mapping made before the
fork:
  - each worker's counters (marshal), published after every request and
    before its answer is sent, and added up by whichever worker serves
    /_fake/stats or /_fake/stat/K;
  - a reset generation: /_fake/reset bumps it; a worker that sees it moved
    forgets its own counters, and those it has not yet forgotten are left
    out of the sums (as in the normal mode, the signature-check counters
    survive a reset);
  - a small JSON document under a lockf lock: the clock skew, credentials
    added or expired by /_fake/credentials, and what the receiver shares
    (CloudWatch's groups, streams and retention, so that a stream created
    through one connection exists for all). Operations that change it run
    holding the lock; a worker reads it again when its version moves.

/_fake/stats adds worker_requests: the service requests each worker
served since the last reset. Not available in this mode (400):
/_fake/faults and /_fake/poison.
"""

import errno
import fcntl
import http
import json
import marshal
import mmap
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
import uuid
from email.utils import formatdate

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402

MAX_WORKERS = 16
MAX_HEAD = 256 * 1024              # a request's head; larger: 431
MAX_BODY = 64 * 1024 * 1024        # larger: 413 and the connection closed
RECV = 256 * 1024
U64 = struct.Struct("<Q")

# The shared mapping: a header page, the config document, one slot a worker.
HDR_RESET = 0                      # reset generation
HDR_CONFIG_VER = 8                 # config document version
HDR_CONFIG_LEN = 16
HDR_CONNS = 64                     # + 8 * worker: open connections
CONFIG_AT = 4096
CONFIG_SIZE = 1 << 20
SLOTS_AT = CONFIG_AT + CONFIG_SIZE
SLOT_SIZE = 1 << 18                # seq, length, marshal'd counters


def add_args(ap, what):
    """--count-only and --workers, for a fake that serves through here."""
    ap.add_argument("--count-only", action="store_true",
                    help="benchmarks: check signatures and request limits, count %s, store nothing "
                         "(a lean server, see fastaws.py)" % what)
    ap.add_argument("--workers", type=int, default=2,
                    help="with --count-only: worker processes (default 2, at most %d)" % MAX_WORKERS)


class Shared:
    """The mapping and the lock the workers share (made before the fork)."""

    def __init__(self, workers):
        self.workers = workers
        self.mm = mmap.mmap(-1, SLOTS_AT + SLOT_SIZE * workers)
        self.lockfile = tempfile.TemporaryFile()    # lockf: per process, so it excludes the others

    def get(self, off):
        return U64.unpack_from(self.mm, off)[0]

    def put(self, off, v):
        U64.pack_into(self.mm, off, v)

    # -- the config document, under the lock
    def lock(self, exclusive=True):
        fcntl.lockf(self.lockfile, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)

    def unlock(self):
        fcntl.lockf(self.lockfile, fcntl.LOCK_UN)

    def config_unlocked(self):
        n = self.get(HDR_CONFIG_LEN)
        return json.loads(bytes(self.mm[CONFIG_AT:CONFIG_AT + n])) if n else {}

    def set_config_unlocked(self, doc):
        data = json.dumps(doc, separators=(",", ":")).encode()
        if len(data) > CONFIG_SIZE:
            raise ValueError("fastaws: the shared state outgrew %d bytes" % CONFIG_SIZE)
        self.mm[CONFIG_AT:CONFIG_AT + len(data)] = data
        self.put(HDR_CONFIG_LEN, len(data))
        self.put(HDR_CONFIG_VER, self.get(HDR_CONFIG_VER) + 1)

    # -- the workers' counters: a sequence lock a slot (odd: being written)
    def publish(self, i, data):
        off = SLOTS_AT + i * SLOT_SIZE
        if len(data) > SLOT_SIZE - 16:
            raise ValueError("fastaws: a worker's counters outgrew their slot")
        seq = self.get(off)
        self.put(off, seq + 1)
        self.put(off + 8, len(data))
        self.mm[off + 16:off + 16 + len(data)] = data
        self.put(off, seq + 2)

    def read_slot(self, i):
        off = SLOTS_AT + i * SLOT_SIZE
        for spin in range(100000):
            s1 = self.get(off)
            n = self.get(off + 8)
            if s1 & 1 or n > SLOT_SIZE - 16:
                time.sleep(0)
                continue
            data = bytes(self.mm[off + 16:off + 16 + n])
            if self.get(off) == s1:
                return marshal.loads(data) if n else None
        raise RuntimeError("fastaws: worker %d never finished publishing" % i)


class Headers:
    """What the verifier and receivers ask of http.server's headers:
    get (the first value) and get_all, names in any case."""
    __slots__ = ("d",)

    def __init__(self, d):
        self.d = d          # lower-case name -> [values]

    def get(self, name, default=None):
        v = self.d.get(name.lower())
        return v[0] if v else default

    def get_all(self, name, failobj=None):
        v = self.d.get(name.lower())
        return list(v) if v else failobj

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name):
        return name.lower() in self.d


class Request:
    """One request, standing in for http.server's handler: command, path,
    headers; send_json records a control answer."""
    __slots__ = ("command", "path", "headers", "answer")

    def __init__(self, command, path, headers):
        self.command = command
        self.path = path
        self.headers = headers
        self.answer = None

    def send_json(self, status, body, headers=None, content_type="application/json"):
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        self.answer = sigv4.Answer(status, None, headers, content_type=content_type, raw=data)


class Server:
    """What receivers and the verifier reach through receiver.server."""

    def __init__(self, name, args, creds, receiver):
        self.name = name
        self.verbose = args.verbose
        self.creds = creds
        self.initial_skew = args.clock_skew
        self.skew = args.clock_skew
        self.state = sigv4.AwsState(receiver)
        self.receiver = receiver
        self.verifier = sigv4.Verifier(args.service, args.region, creds, self.clock,
                                       args.allow_missing_signed_headers, self.state.deviate,
                                       fast=sigv4.FastSigner(args.service, args.region))

    def clock(self):
        return time.time() + self.skew


class Conn:
    __slots__ = ("sock", "fd", "buf", "pos", "out", "head", "closing", "continued", "mask")

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = bytearray()
        self.pos = 0            # buf[:pos] is consumed
        self.out = bytearray()
        self.head = None        # (method, path, version, headers, close) once parsed
        self.closing = False    # close once out is sent
        self.continued = False  # 100 Continue sent for this request
        self.mask = select.EPOLLIN


class BadRequest(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


def parse_head(block):
    """(method, path, version, Headers, close) from a request head, as
    http.server reads it (ISO-8859-1, LF or CRLF line ends), or BadRequest."""
    lines = block.decode("iso-8859-1").split("\n")
    words = lines[0].rstrip("\r\n").split()
    if not words:
        raise BadRequest(400, "Bad request syntax ('')")
    version = "HTTP/0.9"
    close = True
    if len(words) >= 3:
        version = words[-1]
        try:
            if not version.startswith("HTTP/"):
                raise ValueError
            num = version.split("/", 1)[1].split(".")
            if len(num) != 2:
                raise ValueError
            num = int(num[0]), int(num[1])
        except (ValueError, IndexError):
            raise BadRequest(400, "Bad request version (%r)" % version)
        if num >= (2, 0):
            raise BadRequest(505, "Invalid HTTP version (%s)" % version[5:])
        close = num < (1, 1)
    if not 2 <= len(words) <= 3:
        raise BadRequest(400, "Bad request syntax (%r)" % lines[0].rstrip("\r\n"))
    if len(words) == 2:
        raise BadRequest(400, "Bad HTTP/0.9 request type (%r)" % words[0])
    method, path = words[0], words[1]
    if path.startswith("//"):
        path = "/" + path.lstrip("/")   # as http.server does (gh-87389)
    d = {}
    count = 0
    for line in lines[1:]:
        line = line.rstrip("\r\n")
        if not line:
            continue
        if line[0] in " \t":
            raise BadRequest(400, "Folded header lines are not supported")
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, "Bad header line (%r)" % line[:100])
        count += 1
        if count > 100 or len(line) > 65536:
            raise BadRequest(431, "Too many headers" if count > 100 else "Line too long")
        d.setdefault(name.strip().lower(), []).append(value.strip(" \t"))
    h = Headers(d)
    conn = h.get("Connection", "").lower()
    if conn == "close":
        close = True
    elif conn == "keep-alive":
        close = False
    return method, path, version, h, close


def chunked_body(buf, start, limit):
    """(body, end) of a complete chunked body in buf from start, None while
    incomplete, or BadRequest. Trailers are not expected (as fakehttp)."""
    out = []
    pos = start
    total = 0
    while True:
        eol = buf.find(b"\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).strip().split(b";")[0], 16)
        except ValueError:
            raise BadRequest(400, "Bad chunk size")
        pos = eol + 1
        if size == 0:
            eol = buf.find(b"\n", pos)
            if eol < 0:
                return None
            return b"".join(out), eol + 1
        total += size
        if total > limit:
            raise BadRequest(413, "Request body too large")
        if len(buf) < pos + size:
            return None
        out.append(bytes(buf[pos:pos + size]))
        pos += size
        eol = buf.find(b"\n", pos)
        if eol < 0:
            return None
        pos = eol + 1


class Worker:
    def __init__(self, index, lsock, shared, server, parent):
        self.i = index
        self.lsock = lsock
        self.shared = shared
        self.srv = server
        self.rc = server.receiver
        self.st = server.state
        self.parent = parent
        self.conns = {}
        self.reset_gen = shared.get(HDR_RESET)
        self.config_ver = -1
        self.dirty = True
        self.date_at = None
        self.date = ""
        self.accept_paused_at = None
        self.deferring_since = None
        self.shared_ops = getattr(self.rc, "shared_ops", ())
        self.shared_controls = getattr(self.rc, "shared_controls", ())

    # -- shared state ------------------------------------------------------------
    def sync(self):
        """Catch up with a reset and with the config document."""
        gen = self.shared.get(HDR_RESET)
        if gen != self.reset_gen:
            self.reset_local()
            self.reset_gen = gen
        if self.shared.get(HDR_CONFIG_VER) != self.config_ver:
            self.shared.lock(exclusive=False)
            try:
                self.config_ver = self.shared.get(HDR_CONFIG_VER)
                doc = self.shared.config_unlocked()
            finally:
                self.shared.unlock()
            self.apply_config(doc)

    def reset_local(self):
        with self.st.lock:
            self.st.reset()
        self.rc.reset()
        self.dirty = True

    def apply_config(self, doc):
        self.srv.skew = doc.get("skew", self.srv.initial_skew)
        creds = self.srv.creds
        with creds.lock:
            creds.expired_before = doc.get("expired_before", 0.0)
            creds.extra = {e["AccessKeyId"]: dict(e) for e in doc.get("extra_creds", [])}
        if "receiver" in doc and hasattr(self.rc, "load_shared"):
            self.rc.load_shared(doc["receiver"])
        self.dirty = True

    def transaction(self, change):
        """Runs change() holding the config lock, on the latest shared state,
        and shares what it left; returns what change() returned."""
        self.shared.lock()
        try:
            self.config_ver = self.shared.get(HDR_CONFIG_VER)
            doc = self.shared.config_unlocked()
            self.apply_config(doc)
            result = change(doc)
            doc["skew"] = self.srv.skew
            if hasattr(self.rc, "dump_shared"):
                doc["receiver"] = self.rc.dump_shared()
            self.shared.set_config_unlocked(doc)
            self.config_ver = self.shared.get(HDR_CONFIG_VER)
            return result
        finally:
            self.shared.unlock()

    def counters(self):
        st, v, rc = self.st, self.srv.verifier, self.rc
        with st.lock:
            mine = {
                "requests": st.requests, "statuses": dict(st.statuses),
                "faults_served": st.faults_served, "gzip_requests": st.gzip_requests,
                "accepted": list(st.accepted[:1000]), "seen": dict(list(st.seen.items())[:1000]),
                "rejected_records": st.rejected_records,
                "deviations": [d[:1000] for d in st.deviations[:20]], "ndev": len(st.deviations),
                "extra": dict(st.extra),
            }
        with rc.lock:
            mine["rc"] = dict(rc.counts)
        with v.lock:
            sticky = {"auth": dict(v.counts), "keys": dict(v.keys)}
        sticky["reloads"] = self.srv.creds.reloads
        return {"gen": self.reset_gen, "mine": mine, "sticky": sticky}

    def publish(self):
        if self.dirty:
            self.shared.publish(self.i, marshal.dumps(self.counters()))
            self.dirty = False

    def merged_stats(self):
        """/_fake/stats over all workers: their counters summed into this
        worker's objects for the time the normal code builds the answer."""
        self.sync()
        self.publish()
        gen = self.shared.get(HDR_RESET)
        tot = {"requests": 0, "statuses": {}, "faults_served": 0, "gzip_requests": 0, "accepted": [],
               "seen": {}, "rejected_records": 0, "deviations": [], "ndev": 0, "extra": {}, "rc": {}}
        auth, keys, reloads = {}, {}, 0
        per_worker = [0] * self.shared.workers
        for i in range(self.shared.workers):
            c = self.shared.read_slot(i)
            if c is None:
                continue
            s = c["sticky"]
            add_into(auth, s["auth"])
            add_into(keys, s["keys"])
            reloads = max(reloads, s["reloads"])
            if c["gen"] != gen:
                continue
            m = c["mine"]
            per_worker[i] = m["requests"]
            for k in ("requests", "faults_served", "gzip_requests", "rejected_records", "ndev"):
                tot[k] += m[k]
            for k in ("statuses", "seen", "extra", "rc"):
                add_into(tot[k], m[k])
            tot["accepted"] += m["accepted"]
            tot["deviations"] += m["deviations"]
        st, v, rc, creds = self.st, self.srv.verifier, self.rc, self.srv.creds
        saved = (st.requests, st.statuses, st.faults_served, st.gzip_requests, st.accepted, st.seen,
                 st.rejected_records, st.deviations, st.extra, rc.counts, v.counts, v.keys, creds.reloads)
        try:
            (st.requests, st.statuses, st.faults_served, st.gzip_requests, st.accepted, st.seen,
             st.rejected_records, st.extra) = (tot["requests"], tot["statuses"], tot["faults_served"],
                                               tot["gzip_requests"], tot["accepted"], tot["seen"],
                                               tot["rejected_records"], tot["extra"])
            # as many as the workers noted (at most 200, as State keeps), the samples first
            n = min(200, tot["ndev"])
            st.deviations = (tot["deviations"] + [""] * n)[:n]
            rc.counts, v.counts, v.keys, creds.reloads = tot["rc"], auth, keys, reloads
            out = st.stats()
            out["worker_requests"] = per_worker
            return out
        finally:
            (st.requests, st.statuses, st.faults_served, st.gzip_requests, st.accepted, st.seen,
             st.rejected_records, st.deviations, st.extra, rc.counts, v.counts, v.keys,
             creds.reloads) = saved

    # -- requests ----------------------------------------------------------------------
    def date_header(self):
        now = int(self.srv.clock())
        if now != self.date_at:
            self.date_at = now
            self.date = formatdate(now, usegmt=True)
        return self.date

    def answer(self, conn, a, close=False):
        """Queues an Answer (sigv4's) on conn."""
        if a.raw is not None:
            data = a.raw
        elif a.body is None:
            data = b""
        else:
            data = json.dumps(a.body, separators=(",", ":")).encode()
        head = ["HTTP/1.1 %d %s\r\nServer: Server\r\nDate: %s\r\nx-amzn-RequestId: %s\r\n"
                "Content-Type: %s\r\nContent-Length: %d\r\n"
                % (a.status, PHRASES.get(a.status, ""), self.date_header(), uuid.uuid4(),
                   getattr(a, "content_type", "application/json"), len(data))]
        for k, val in (a.headers or {}).items():
            head.append("%s: %s\r\n" % (k, val))
        if close:
            head.append("Connection: close\r\n")
            conn.closing = True
        head.append("\r\n")
        conn.out += "".join(head).encode("latin-1", "replace")
        conn.out += data

    def plain_error(self, conn, status, message):
        """A protocol error, as http.server's send_error; the connection closes."""
        body = ("<html><head><title>Error response</title></head><body><h1>Error response</h1>"
                "<p>Error code: %d</p><p>Message: %s.</p></body></html>\n" % (status, message)).encode()
        self.answer(conn, sigv4.Answer(status, None, content_type="text/html;charset=utf-8", raw=body),
                    close=True)

    def process(self, conn):
        """Handles every complete request in conn's buffer (from conn.pos:
        consumed bytes are skipped, not deleted, which would cost a copy of
        what follows them)."""
        while not conn.closing:
            buf = conn.buf
            pos = conn.pos
            if pos and pos == len(buf):
                conn.buf = buf = bytearray()
                conn.pos = pos = 0
            if conn.head is None:
                crlf = buf.find(b"\n\r\n", pos, pos + MAX_HEAD + 3)
                lf = buf.find(b"\n\n", pos, crlf + 2 if crlf >= 0 else pos + MAX_HEAD + 2)
                if crlf < 0 and lf < 0:
                    if len(buf) - pos > MAX_HEAD:
                        self.plain_error(conn, 431, "Request header fields too large")
                    return
                end = lf + 2 if lf >= 0 else crlf + 3
                try:
                    head = parse_head(bytes(buf[pos:end]))
                except BadRequest as e:
                    self.plain_error(conn, e.status, e.message)
                    return
                conn.pos = pos = end
                conn.head = head
                conn.continued = False
            method, path, version, h, close = conn.head
            n = h.get("Content-Length")
            body = b""
            if n is not None:
                try:
                    n = int(n)
                    if n < 0:
                        raise ValueError
                except ValueError:
                    self.plain_error(conn, 400, "Bad Content-Length")
                    return
                if n > MAX_BODY:
                    self.answer(conn, self.rc.error(413, "RequestEntityTooLargeException",
                                                    "Request entity too large"), close=True)
                    return
                if len(buf) - pos < n:
                    self.expect_continue(conn, version, h)
                    return
                body = bytes(memoryview(buf)[pos:pos + n])
                conn.pos = pos + n
            elif h.get("Transfer-Encoding", "").lower() == "chunked":
                try:
                    got = chunked_body(buf, pos, MAX_BODY)
                except BadRequest as e:
                    self.plain_error(conn, e.status, e.message)
                    return
                if got is None:
                    self.expect_continue(conn, version, h)
                    return
                body, conn.pos = got
            elif method in ("POST", "PUT"):
                body = None     # 411, and the connection closes: its body cannot be found
                close = True
            conn.head = None
            self.one(conn, method, path, h, body, close)

    def received(self, conn, data):
        """Appends data to conn's buffer, dropping what was consumed first
        when that is most of it."""
        if conn.pos and (conn.pos == len(conn.buf) or conn.pos >= 65536):
            conn.buf = bytearray(memoryview(conn.buf)[conn.pos:])
            conn.pos = 0
        conn.buf += data

    def expect_continue(self, conn, version, h):
        if not conn.continued and version >= "HTTP/1.1" and h.get("Expect", "").lower() == "100-continue":
            conn.out += b"HTTP/1.1 100 Continue\r\n\r\n"
            conn.continued = True

    def one(self, conn, method, path, h, body, close):
        if method not in ("GET", "POST", "PUT", "DELETE"):
            self.plain_error(conn, 501, "Unsupported method (%r)" % method)
            return
        req = Request(method, path, h)
        self.sync()
        try:
            if path.startswith("/_fake/"):
                a = self.control(req, method, body or b"")
            else:
                a = self.data(req, method, body if method in ("POST", "PUT") else b"")
        except Exception:
            # As http.server: the traceback on stderr, no answer, the connection closed.
            traceback.print_exc()
            conn.closing = True
            self.dirty = True
            return
        if self.srv.verbose:
            sys.stderr.write("%s[%d] %s %s %d\n" % (self.srv.name, self.i, method, path, a.status))
        self.answer(conn, a, close)

    def data(self, req, method, body):
        """A service request (AwsHandler.handle_any without faults): its answer."""
        a = self.service(req, method, body)
        with self.st.lock:
            self.st.statuses[str(a.status)] = self.st.statuses.get(str(a.status), 0) + 1
        return a

    def service(self, req, method, body):
        with self.st.lock:
            self.st.requests += 1
        self.dirty = True
        rc = self.rc
        if body is None:
            return rc.error(411, "LengthRequiredException", "Content-Length required")
        try:
            self.srv.verifier.verify(req, body)
        except sigv4.AuthError as e:
            return rc.error(e.status, e.etype, e.message, auth=True)
        op = rc.operation(req)
        if op in self.shared_ops:
            return self.transaction(lambda doc: rc.handle(req, method, body, op, None))
        return rc.handle(req, method, body, op, None)

    def control(self, req, method, raw):
        path = req.path.split("?")[0]
        rc = self.rc
        if method == "GET":
            if path == "/_fake/stats":
                return json_answer(200, self.merged_stats())
            if path.startswith("/_fake/stat/"):
                v = self.merged_stats().get(path[len("/_fake/stat/"):], 0)
                text = json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)
                return sigv4.Answer(200, None, content_type="text/plain", raw=(text + "\n").encode())
            if path == "/_fake/stored":
                return json_answer(200, rc.stored())
            if path == "/_fake/records":
                return json_answer(200, list(self.merged_stats_records()))
            if path == "/_fake/deviations":
                return json_answer(200, self.merged_deviations())
            return json_answer(404, {"error": "no such control endpoint"})
        if method != "POST":
            return json_answer(404, {"error": "no such control endpoint"})
        try:
            arg = json.loads(raw or b"null")
        except ValueError:
            return json_answer(400, {"error": "control body must be JSON"})
        if path in ("/_fake/faults", "/_fake/poison"):
            return json_answer(400, {"error": "%s is not available with --count-only" % path})
        if path == "/_fake/clock":
            def clock(doc):
                self.srv.skew = float((arg or {}).get("skew", 0))
                return json_answer(200, {"skew": self.srv.skew})
            return self.transaction(clock)
        if path == "/_fake/credentials":
            def credentials(doc):
                a = arg or {}
                if a.get("expire"):
                    doc["expired_before"] = time.time() + 1e-6
                if a.get("add"):
                    extra = {e["AccessKeyId"]: e for e in doc.get("extra_creds", [])}
                    for d in a["add"]:
                        e = sigv4.Credentials.entry(d)
                        extra[e["AccessKeyId"]] = e
                    doc["extra_creds"] = list(extra.values())
                self.apply_config(doc)
                return json_answer(200, {})
            return self.transaction(credentials)
        if path == "/_fake/reset":
            def reset(doc):
                self.shared.put(HDR_RESET, self.shared.get(HDR_RESET) + 1)
                self.reset_gen = self.shared.get(HDR_RESET)
                self.reset_local()
                self.srv.skew = self.srv.initial_skew
                return json_answer(200, {})
            return self.transaction(reset)
        if path in self.shared_controls or (path.startswith("/_fake/") and rc.has_control(path)):
            def ctl(doc):
                rc.control(req, path, arg)
                return req.answer
            return self.transaction(ctl)
        return json_answer(404, {"error": "no such control endpoint"})

    def merged_stats_records(self):
        self.sync()
        self.publish()
        out = []
        gen = self.shared.get(HDR_RESET)
        for i in range(self.shared.workers):
            c = self.shared.read_slot(i)
            if c is not None and c["gen"] == gen:
                out += c["mine"]["accepted"]
        return out

    def merged_deviations(self):
        """The samples the workers keep (20 each)."""
        self.sync()
        self.publish()
        out = []
        gen = self.shared.get(HDR_RESET)
        for i in range(self.shared.workers):
            c = self.shared.read_slot(i)
            if c is not None and c["gen"] == gen:
                out += c["mine"]["deviations"]
        return out[:200]

    # -- the loop --------------------------------------------------------------------
    def set_conns(self):
        self.shared.put(HDR_CONNS + 8 * self.i, len(self.conns))

    def fewest(self):
        """Whether this worker has no more connections than any other."""
        mine = len(self.conns)
        return all(self.shared.get(HDR_CONNS + 8 * j) >= mine for j in range(self.shared.workers))

    def accept(self, ep):
        now = time.monotonic()
        if not self.fewest():
            # Leave it to a worker with fewer connections, unless none takes
            # it within 50 ms (an older start: a connection another took).
            if self.deferring_since is None or now - self.deferring_since > 0.5:
                self.deferring_since = now
            if now - self.deferring_since < 0.05:
                ep.modify(self.lsock.fileno(), 0)
                self.accept_paused_at = now
                return
        self.deferring_since = None
        try:
            sock, _ = self.lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ECONNABORTED):
                return
            raise
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(sock)
        self.conns[c.fd] = c
        self.set_conns()
        ep.register(c.fd, select.EPOLLIN)

    def close(self, ep, c):
        try:
            ep.unregister(c.fd)
        except (OSError, ValueError):
            pass
        try:
            c.sock.close()
        except OSError:
            pass
        self.conns.pop(c.fd, None)
        self.set_conns()

    def flush(self, ep, c):
        """Sends what c has queued; False when c is gone."""
        if c.out:
            try:
                sent = c.sock.send(c.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close(ep, c)
                return False
            del c.out[:sent]
        if c.out:
            self.watch(ep, c, select.EPOLLOUT)  # no more reading until this is out
        elif c.closing:
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.close(ep, c)
            return False
        else:
            self.watch(ep, c, select.EPOLLIN)
        return True

    def watch(self, ep, c, mask):
        if c.mask != mask:
            ep.modify(c.fd, mask)
            c.mask = mask

    def run(self):
        ep = select.epoll()
        lfd = self.lsock.fileno()
        ep.register(lfd, select.EPOLLIN)
        self.sync()
        self.publish()
        self.set_conns()
        while True:
            timeout = 0.5
            if self.accept_paused_at is not None:
                timeout = 0.005
            events = ep.poll(timeout)
            if self.accept_paused_at is not None and time.monotonic() - self.accept_paused_at >= 0.005:
                self.accept_paused_at = None
                ep.modify(lfd, select.EPOLLIN)
            if not events and os.getppid() != self.parent:
                return      # the parent is gone (SIGKILL): so are we
            for fd, ev in events:
                if fd == lfd:
                    self.accept(ep)
                    continue
                c = self.conns.get(fd)
                if c is None:
                    continue
                if ev & select.EPOLLOUT:
                    if not self.flush(ep, c) or c.out:
                        continue
                    if len(c.buf) > c.pos:
                        self.process(c)     # pipelined requests waiting behind the answer
                        self.publish()
                        self.flush(ep, c)
                    continue
                try:
                    data = c.sock.recv(RECV)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.close(ep, c)
                    continue
                self.received(c, data)
                self.process(c)
                self.publish()      # before the answer goes out: a stats query after it sees it
                self.flush(ep, c)


PHRASES = {s.value: s.phrase for s in http.HTTPStatus}


def json_answer(status, body):
    return sigv4.Answer(status, body)


def add_into(tot, d):
    for k, v in d.items():
        if isinstance(v, dict):
            add_into(tot.setdefault(k, {}), v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            tot[k] = tot.get(k, 0) + v
        else:
            tot[k] = v


def keep_freed_memory():
    """Asks glibc's malloc to keep freed memory for reuse instead of giving
    it back: a request's body and answer (up to a megabyte) are otherwise
    mapped and unmapped anew each time, and fresh pages cost a page fault
    each, dear in a virtual machine (a quarter of the CPU of a 1 MB
    PutLogEvents here). Without ctypes or glibc: as it is."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 << 20)      # M_MMAP_THRESHOLD: heap, not mmap, up to 32 MB
        libc.mallopt(-1, 1 << 30)       # M_TRIM_THRESHOLD: keep the heap's top
        libc.mallopt(-2, 16 << 20)      # M_TOP_PAD: grow it 16 MB at a time
    except (ImportError, OSError, AttributeError):
        pass


def serve(name, receiver, args, creds, ap):
    """Runs the fake (sigv4.serve has parsed the arguments) until SIGTERM."""
    if not 1 <= args.workers <= MAX_WORKERS:
        ap.error("--workers: 1 to %d" % MAX_WORKERS)
    if getattr(args, "store", None):
        ap.error("--count-only stores nothing: no --store")
    keep_freed_memory()
    server = Server(name, args, creds, receiver)
    receiver.state = server.state
    receiver.server = server
    receiver.configure(args)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(128)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]
    shared = Shared(args.workers)
    doc = {"skew": server.skew, "expired_before": 0.0, "extra_creds": []}
    if hasattr(receiver, "dump_shared"):
        doc["receiver"] = receiver.dump_shared()
    shared.set_config_unlocked(doc)
    parent = os.getpid()
    children = []
    for i in range(args.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                Worker(i, lsock, shared, server, parent).run()
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    lsock.close()

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        if args.port_file:
            tmp = args.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % port)
            os.rename(tmp, args.port_file)
        pid, status = os.wait()
        sys.stderr.write("%s: worker %d ended (status %d); stopping\n" % (name, pid, status))
        children.remove(pid)
        code = 1
    except SystemExit:
        pass
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    sys.exit(code)
