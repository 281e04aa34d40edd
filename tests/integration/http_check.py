#!/usr/bin/env python3
"""http_check: drives a running Cruddur API through a web server and checks
every route and every error answer of the HTTP contract (API.md).

    http_check.py BASE_URL [--only read,bad,write] [--origin ORIGIN]

BASE_URL is like http://127.0.0.1:8080. The server must run with
FRONTEND_URL=ORIGIN (default http://localhost:3000) and the default body
limit (64 KiB), on a database made by `cruddur-api --init-db`.

Groups:
  read   every GET route on the seed data, HEAD, OPTIONS and CORS, 404, 405
  bad    bad input and rough clients; must change nothing in the database
  write  creates, then reads them back

Prints one line per check and ends with "http_check: N passed, M failed";
exits 1 if any check failed. Standard library only.
"""
import argparse
import datetime
import http.client
import json
import re
import socket
import sys
import time
import urllib.parse
import uuid as uuidlib

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
ACTIVITY_KEYS = {"uuid", "display_name", "handle", "message", "likes_count", "replies_count",
                 "reposts_count", "created_at", "expires_at", "replies"}
REPLY_KEYS = {"uuid", "display_name", "handle", "message", "likes_count", "replies_count",
              "reposts_count", "created_at", "reply_to_activity_uuid"}
MESSAGE_KEYS = {"uuid", "display_name", "handle", "message", "created_at"}
JSON_TYPE = "application/json; charset=utf-8"
BODY_LIMIT = 65536
REFUSED_ORIGIN = "http://evil.example"
CLOUD_UUID = "68f126b0-1ceb-4a33-88be-d90fa7109eee"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # list of (name, value)
        self.body = body
        self.json = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            pass

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "%s %r" % (self.status, self.body[:200])


def parse_raw(data):
    """Status, headers and body of a raw HTTP/1.x answer (no chunked body)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return status, headers, body


def iso(s):
    return datetime.datetime.fromisoformat(s)


class Checker:
    def __init__(self, base, origin):
        u = urllib.parse.urlsplit(base)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.origin = origin
        self.passed = 0
        self.failed = 0

    # ---- reporting -------------------------------------------------------

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % name)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + str(detail)[:600]) if detail else ""))
        sys.stdout.flush()
        return bool(cond)

    # ---- transport -------------------------------------------------------

    def req(self, method, path, body=None, headers=None, json_body=None):
        """One request on its own connection."""
        h = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if body is not None and "Content-Length" not in h:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            data = r.read()
            return Resp(r.status, r.getheaders(), data)
        finally:
            conn.close()

    def raw(self, data, read=True, timeout=30):
        """Sends bytes as they are; returns the whole answer (the server
        closes: the request says Connection: close)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(data)
            if not read:
                return b""
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out

    def chunked(self, method, path, body, content_type="application/json", piece=8192):
        """A request whose body is sent chunked (no Content-Length)."""
        head = ("%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                % (method, path, self.host, self.port, content_type)).encode()
        data = head
        for i in range(0, len(body), piece):
            part = body[i:i + piece]
            data += b"%x\r\n" % len(part) + part + b"\r\n"
        data += b"0\r\n\r\n"
        status, headers, rest = parse_raw(self.raw(data))
        te = [v for k, v in headers if k.lower() == "transfer-encoding"]
        if te and "chunked" in te[0].lower():
            rest = dechunk(rest)
        return Resp(status, headers, rest)

    # ---- helpers ---------------------------------------------------------

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, obj, **kw):
        return self.req("POST", path, json_body=obj, **kw)

    def is_json_answer(self, name, r, status):
        ok = self.check("%s: status %d" % (name, status), r.status == status, r)
        ct = r.header("Content-Type") or ""
        self.check("%s: JSON content type" % name, ct.replace(" ", "").lower() ==
                   JSON_TYPE.replace(" ", ""), ct)
        return ok

    def expect_error(self, name, r, status, code, lenient=False):
        """An error answer {"error": code, "message": ...}. lenient: the web
        server may refuse the request itself (its own error page)."""
        if lenient and not (isinstance(r.json, dict) and "error" in r.json):
            self.check("%s: status %d (web server's own answer)" % (name, status),
                       r.status == status, r)
            return
        self.is_json_answer(name, r, status)
        self.check("%s: error %s" % (name, code),
                   isinstance(r.json, dict) and r.json.get("error") == code and
                   isinstance(r.json.get("message"), str) and r.json.get("message") != "", r)

    def expect_codes(self, name, r, codes):
        self.is_json_answer(name, r, 422)
        self.check("%s: codes %s" % (name, codes), r.json == codes, r)

    def healthy(self, name):
        r = self.get("/api/health-check")
        self.check("%s: health-check still 200" % name,
                   r.status == 200 and r.json == {"success": True}, r)

    def check_activity(self, name, a, reply=False):
        keys = REPLY_KEYS if reply else ACTIVITY_KEYS
        ok = isinstance(a, dict) and set(a) >= keys
        if not self.check("%s: has the keys of %s" % (name, "a Reply" if reply else "an Activity"),
                          ok, a if not ok else ""):
            return False
        if reply:
            self.check("%s: a Reply has no expires_at or replies" % name,
                       "expires_at" not in a and "replies" not in a, sorted(a))
        good = (UUID_RE.match(a["uuid"]) and TIME_RE.match(a["created_at"]) and
                (reply or TIME_RE.match(a["expires_at"])) and
                all(isinstance(a[k], int) and not isinstance(a[k], bool)
                    for k in ("likes_count", "replies_count", "reposts_count")) and
                isinstance(a["message"], str) and isinstance(a["handle"], str) and
                isinstance(a["display_name"], str) and
                (reply or isinstance(a["replies"], list)))
        self.check("%s: field types and formats" % name, good, a)
        if not reply and isinstance(a.get("replies"), list):
            for i, rep in enumerate(a["replies"]):
                self.check_activity("%s reply %d" % (name, i), rep, reply=True)
        return True

    def check_list(self, name, r, newest_first=True):
        """A JSON array of Activities; returns it ([] on failure)."""
        self.is_json_answer(name, r, 200)
        if not self.check("%s: an array" % name, isinstance(r.json, list), r):
            return []
        ok = True
        for i, a in enumerate(r.json):
            ok = self.check_activity("%s[%d]" % (name, i), a) and ok
        if ok and newest_first:
            times = [iso(a["created_at"]) for a in r.json]
            self.check("%s: newest first" % name, times == sorted(times, reverse=True), times)
        return r.json if ok else []


def dechunk(data):
    out = b""
    while data:
        line, _, data = data.partition(b"\r\n")
        n = int(line.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2:]
    return out


# ---- read: every GET route on the seed data ---------------------------------

def read_checks(c):
    r = c.get("/api/health-check")
    c.is_json_answer("health-check", r, 200)
    c.check("health-check: {\"success\": true}", r.json == {"success": True}, r)

    home = c.check_list("home", c.get("/api/activities/home"))
    msgs = [a["message"] for a in home]
    for m in ("Cloud is fun!", "I am out of prune juice",
              "My dear doctor, I am just simple tailor", "@andrewbrown I am a white unicorn"):
        c.check("home: has %r" % m, m in msgs, msgs)
    c.check("home: replies are not top-level", "This post has no honor!" not in msgs, msgs)
    cloud = [a for a in home if a["uuid"] == CLOUD_UUID]
    if c.check("home: the seed activity %s" % CLOUD_UUID, len(cloud) == 1, msgs):
        a = cloud[0]
        c.check("home: Cloud is fun! by Andrew Brown, 5 likes, 1 reply",
                (a["handle"], a["display_name"], a["likes_count"], a["replies_count"]) ==
                ("andrewbrown", "Andrew Brown", 5, 1), a)
        c.check("home: with Worf's reply", len(a["replies"]) == 1 and
                a["replies"][0]["message"] == "This post has no honor!" and
                a["replies"][0]["handle"] == "worf" and
                a["replies"][0].get("reply_to_activity_uuid") == CLOUD_UUID, a["replies"])
        c.check("home: expires after it was created",
                iso(a["expires_at"]) > iso(a["created_at"]), a)
    r = c.get("/api/activities/home?limit=1")
    c.check("home?limit=1: one activity", r.status == 200 and isinstance(r.json, list) and
            len(r.json) == 1, r)
    r = c.get("/api/activities/home?limit=100")
    c.check("home?limit=100: 200", r.status == 200 and isinstance(r.json, list), r)

    notes = c.check_list("notifications", c.get("/api/activities/notifications"))
    c.check("notifications: coco's mention",
            any(a["handle"] == "coco" and a["message"] == "@andrewbrown I am a white unicorn"
                for a in notes), [a["message"] for a in notes])

    mine = c.check_list("@andrewbrown", c.get("/api/activities/@andrewbrown"))
    c.check("@andrewbrown: only andrewbrown's", mine and
            all(a["handle"] == "andrewbrown" for a in mine), mine)
    c.check("@andrewbrown: has Cloud is fun!", any(a["message"] == "Cloud is fun!"
                                                   for a in mine), mine)
    worf = c.check_list("@worf", c.get("/api/activities/@worf"))
    c.check("@worf: has the prune juice", any(a["message"] == "I am out of prune juice"
                                              for a in worf), worf)
    c.expect_error("@nosuchuser", c.get("/api/activities/@nosuchuser"), 404, "not_found")
    c.expect_codes("@ (blank handle)", c.get("/api/activities/@"), ["blank_user_handle"])

    found = c.check_list("search prune", c.get("/api/activities/search?term=prune"),
                         newest_first=False)
    c.check("search prune: finds the prune juice",
            [a["message"] for a in found] == ["I am out of prune juice"], found)
    found = c.check_list("search #cloud", c.get("/api/activities/search?term=%23cloud"),
                         newest_first=False)
    c.check("search #cloud: finds Cloud is fun!",
            any(a["message"] == "Cloud is fun!" for a in found), found)
    found = c.check_list("search @andrewbrown",
                         c.get("/api/activities/search?term=%40andrewbrown"), newest_first=False)
    c.check("search @andrewbrown: finds coco's mention",
            any(a["handle"] == "coco" for a in found), found)
    r = c.get("/api/activities/search?term=%22unbalanced%20AND%20(%20*%20NEAR")
    c.check("search with query syntax characters: 200 array",
            r.status == 200 and isinstance(r.json, list), r)
    c.expect_codes("search, empty term", c.get("/api/activities/search?term="),
                   ["search_term_blank"])
    c.expect_codes("search, no term", c.get("/api/activities/search"), ["search_term_blank"])

    r = c.get("/api/activities/" + CLOUD_UUID)
    c.is_json_answer("show", r, 200)
    if c.check_activity("show", r.json):
        c.check("show: the activity with its reply", r.json["uuid"] == CLOUD_UUID and
                r.json["message"] == "Cloud is fun!" and len(r.json["replies"]) == 1, r)
    c.expect_error("show unknown uuid", c.get("/api/activities/" + UNKNOWN_UUID), 404, "not_found")

    r = c.get("/api/message_groups")
    c.is_json_answer("message_groups", r, 200)
    groups = r.json if isinstance(r.json, list) else []
    c.check("message_groups: MessageGroups", groups and all(
        isinstance(g, dict) and set(g) >= MESSAGE_KEYS and UUID_RE.match(g["uuid"]) and
        TIME_RE.match(g["created_at"]) for g in groups), r)
    handles = [g.get("handle") for g in groups if isinstance(g, dict)]
    c.check("message_groups: with worf and bayko", {"worf", "bayko"} <= set(handles), handles)
    if groups and all(isinstance(g, dict) and "created_at" in g for g in groups):
        times = [iso(g["created_at"]) for g in groups]
        c.check("message_groups: latest first", times == sorted(times, reverse=True), times)

    for who in ("worf", "bayko"):
        r = c.get("/api/messages/@" + who)
        c.is_json_answer("messages @" + who, r, 200)
        ms = r.json if isinstance(r.json, list) else []
        c.check("messages @%s: Messages" % who, ms and all(
            isinstance(m, dict) and set(m) >= MESSAGE_KEYS and UUID_RE.match(m["uuid"]) and
            TIME_RE.match(m["created_at"]) and m["handle"] in (who, "andrewbrown")
            for m in ms), r)
        if ms and all(isinstance(m, dict) and "created_at" in m for m in ms):
            times = [iso(m["created_at"]) for m in ms]
            c.check("messages @%s: oldest first" % who, times == sorted(times), times)
    c.expect_error("messages @nosuchuser", c.get("/api/messages/@nosuchuser"), 404, "not_found")

    r = c.get("/rollbar/test")
    c.check("rollbar/test: 200 Hello World!", r.status == 200 and r.body == b"Hello World!", r)

    # HEAD: the headers of GET, no body (read off the wire).
    for path in ("/api/activities/home", "/api/health-check"):
        data = c.raw(("HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        status, headers, body = parse_raw(data)
        ct = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        c.check("HEAD %s: 200 with JSON content type" % path,
                status == 200 and ct.replace(" ", "").lower() == JSON_TYPE.replace(" ", ""),
                data[:300])
        c.check("HEAD %s: no body" % path, body == b"", body[:100])

    # CORS
    pre = {"Origin": c.origin, "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    r = c.req("OPTIONS", "/api/activities", headers=pre)
    c.check("preflight: 2xx", 200 <= r.status < 300, r)
    c.check("preflight: allows the origin", r.header("Access-Control-Allow-Origin") == c.origin,
            r.headers)
    methods = (r.header("Access-Control-Allow-Methods") or "").replace(" ", "").upper().split(",")
    c.check("preflight: allows OPTIONS, GET, HEAD, POST",
            {"OPTIONS", "GET", "HEAD", "POST"} <= set(methods), methods)
    allowed = (r.header("Access-Control-Allow-Headers") or "").replace(" ", "").lower().split(",")
    c.check("preflight: allows content-type, if-modified-since, traceparent, tracestate",
            {"content-type", "if-modified-since", "traceparent", "tracestate"} <= set(allowed),
            allowed)
    r = c.req("OPTIONS", "/api/activities/home", headers=dict(pre, **{
        "Access-Control-Request-Method": "GET"}))
    c.check("preflight GET route: 2xx with the origin", 200 <= r.status < 300 and
            r.header("Access-Control-Allow-Origin") == c.origin, r)
    for bad in (REFUSED_ORIGIN, c.origin + "/", c.origin.replace("http:", "https:")):
        r = c.req("OPTIONS", "/api/activities", headers=dict(pre, Origin=bad))
        c.check("preflight from %s: no CORS headers" % bad,
                r.header("Access-Control-Allow-Origin") is None, r.headers)
    r = c.get("/api/activities/home", headers={"Origin": c.origin})
    c.check("GET with allowed origin: Access-Control-Allow-Origin",
            r.status == 200 and r.header("Access-Control-Allow-Origin") == c.origin, r.headers)
    exposed = (r.header("Access-Control-Expose-Headers") or "").replace(" ", "").lower().split(",")
    c.check("GET with allowed origin: exposes location, link",
            {"location", "link"} <= set(exposed), r.headers)
    r = c.get("/api/activities/home", headers={"Origin": REFUSED_ORIGIN})
    c.check("GET with refused origin: 200, no CORS headers",
            r.status == 200 and r.header("Access-Control-Allow-Origin") is None, r.headers)
    r = c.get("/api/nosuchroute", headers={"Origin": c.origin})
    c.expect_error("404 unknown route", r, 404, "not_found")
    c.check("404 with allowed origin: CORS headers",
            r.header("Access-Control-Allow-Origin") == c.origin, r.headers)
    r = c.get("/api/activities/search?term=", headers={"Origin": c.origin})
    c.check("422 with allowed origin: CORS headers", r.status == 422 and
            r.header("Access-Control-Allow-Origin") == c.origin, r.headers)
    r = c.req("DELETE", "/api/activities/home", headers={"Origin": c.origin})
    c.check("405 with allowed origin: CORS headers", r.status == 405 and
            r.header("Access-Control-Allow-Origin") == c.origin, r.headers)

    # 405 and Allow
    for method, path, allow in (("DELETE", "/api/activities/home", "GET, HEAD, OPTIONS"),
                                ("POST", "/api/activities/home", "GET, HEAD, OPTIONS"),
                                ("GET", "/api/activities", "POST, OPTIONS"),
                                ("PUT", "/api/messages", "POST, OPTIONS"),
                                ("PATCH", "/api/activities/%s/reply" % CLOUD_UUID,
                                 "POST, OPTIONS"),
                                ("POST", "/api/health-check", "GET, HEAD, OPTIONS")):
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        hdrs = {"Content-Type": "application/json"} if body else None
        r = c.req(method, path, body=body, headers=hdrs)
        c.expect_error("%s %s" % (method, path), r, 405, "method_not_allowed")
        c.check("%s %s: Allow: %s" % (method, path, allow), r.header("Allow") == allow,
                r.header("Allow"))


# ---- bad: bad input and rough clients, no database change -------------------

def bad_checks(c):
    create = "/api/activities"
    reply_unknown = "/api/activities/%s/reply" % UNKNOWN_UUID
    ok_activity = {"message": "never stored", "ttl": "7-days"}

    # 413, with a Content-Length and chunked.
    big = json.dumps({"message": "x" * (BODY_LIMIT + 4000), "ttl": "7-days"}).encode()
    r = c.req("POST", create, body=big, headers={"Content-Type": "application/json"})
    c.expect_error("413 with Content-Length", r, 413, "payload_too_large")
    r = c.chunked("POST", create, big)
    c.expect_error("413 chunked (no Content-Length)", r, 413, "payload_too_large")
    # Exactly at the limit is read (and goes on to 404: the parent is unknown).
    pad = BODY_LIMIT - len(json.dumps({"message": "m", "pad": ""}))
    exact = json.dumps({"message": "m", "pad": "p" * pad}).encode()
    c.check("body of exactly the limit: %d bytes" % BODY_LIMIT, len(exact) == BODY_LIMIT,
            len(exact))
    r = c.req("POST", reply_unknown, body=exact, headers={"Content-Type": "application/json"})
    c.expect_error("body at the limit is read", r, 404, "not_found")
    over = json.dumps({"message": "m", "pad": "p" * (pad + 1)}).encode()
    r = c.req("POST", reply_unknown, body=over, headers={"Content-Type": "application/json"})
    c.expect_error("body one byte over the limit", r, 413, "payload_too_large")
    r = c.chunked("POST", reply_unknown, exact)
    c.expect_error("chunked body at the limit is read", r, 404, "not_found")

    # 415
    body = json.dumps(ok_activity).encode()
    r = c.req("POST", create, body=body)
    c.expect_error("415 no content type", r, 415, "unsupported_media_type")
    r = c.req("POST", create, body=body, headers={"Content-Type": "text/plain"})
    c.expect_error("415 text/plain", r, 415, "unsupported_media_type")
    r = c.req("POST", create, body=b"message=x&ttl=7-days",
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    c.expect_error("415 form", r, 415, "unsupported_media_type")

    # 400 malformed JSON
    for name, raw in (("truncated", b'{"message": "x", "ttl": '),
                      ("not JSON", b"hello"),
                      ("empty body", b""),
                      ("invalid UTF-8 in message", b'{"message": "caf\xe9 \xff\xfe", "ttl": "7-days"}'),
                      ("lone surrogate escape", b'{"message": "\\ud800", "ttl": "7-days"}')):
        r = c.req("POST", create, body=raw, headers={"Content-Type": "application/json"})
        c.expect_error("400 %s" % name, r, 400, "invalid_json")
    r = c.req("POST", "/api/messages", body=b'{"user_receiver_handle": "worf", "message": "\xc3"}',
              headers={"Content-Type": "application/json; charset=utf-8"})
    c.expect_error("400 invalid UTF-8 in a direct message", r, 400, "invalid_json")

    # 422: each rule, wrong JSON types, an array body
    for name, obj, codes in (
            ("create {}", {}, ["message_blank", "ttl_blank"]),
            ("create empty message", {"message": "", "ttl": "7-days"}, ["message_blank"]),
            ("create blank message", {"message": " \t\n ", "ttl": "7-days"}, ["message_blank"]),
            ("create no ttl", {"message": "hello"}, ["ttl_blank"]),
            ("create unknown ttl", {"message": "hello", "ttl": "2-days"}, ["ttl_blank"]),
            ("create 281 code points", {"message": "\u00e9" * 281, "ttl": "7-days"},
             ["message_exceed_max_chars"]),
            ("create 281 emoji", {"message": "\U0001F600" * 281, "ttl": "1-day"},
             ["message_exceed_max_chars"]),
            ("create too long, bad ttl", {"message": "a" * 281, "ttl": "forever"},
             ["message_exceed_max_chars", "ttl_blank"]),
            ("create message is a number", {"message": 5, "ttl": "7-days"}, ["message_blank"]),
            ("create message is null", {"message": None, "ttl": "7-days"}, ["message_blank"]),
            ("create ttl is a number", {"message": "hello", "ttl": 7}, ["ttl_blank"]),
            ("create message is an object", {"message": {"a": 1}, "ttl": "7-days"},
             ["message_blank"]),
            ("create array body", ["hello", "7-days"], ["message_blank", "ttl_blank"]),
            ("create string body", "hello", ["message_blank", "ttl_blank"])):
        c.expect_codes(name, c.post(create, obj), codes)
    r = c.req("POST", create, body=json.dumps({"message": "\u00e9" * 281, "ttl": "7-days"},
                                               ensure_ascii=True).encode(),
              headers={"Content-Type": "application/json"})
    c.expect_codes("create 281 code points as \\u escapes", r, ["message_exceed_max_chars"])

    reply = "/api/activities/%s/reply" % CLOUD_UUID
    for name, obj, codes in (
            ("reply {}", {}, ["message_blank"]),
            ("reply empty", {"message": ""}, ["message_blank"]),
            ("reply 1025 code points", {"message": "\u00e9" * 1025}, ["message_exceed_max_chars"]),
            ("reply message is a list", {"message": ["x"]}, ["message_blank"]),
            ("reply array body", [], ["message_blank"])):
        c.expect_codes(name, c.post(reply, obj), codes)
    c.expect_error("reply to an unknown activity", c.post(reply_unknown, {"message": "hi"}),
                   404, "not_found")
    c.expect_error("reply to a malformed uuid", c.post("/api/activities/not-a-uuid/reply",
                                                       {"message": "hi"}), 404, "not_found")

    for name, obj, codes in (
            ("message {}", {}, ["user_reciever_handle_blank", "message_blank"]),
            ("message no receiver", {"message": "hi"}, ["user_reciever_handle_blank"]),
            ("message blank receiver", {"user_receiver_handle": "", "message": "hi"},
             ["user_reciever_handle_blank"]),
            ("message no text", {"user_receiver_handle": "worf"}, ["message_blank"]),
            ("message 1025 code points", {"user_receiver_handle": "worf",
                                          "message": "\u00e9" * 1025},
             ["message_exceed_max_chars"]),
            ("message receiver is a number", {"user_receiver_handle": 3, "message": "hi"},
             ["user_reciever_handle_blank"]),
            ("message array body", [1, 2], ["user_reciever_handle_blank", "message_blank"])):
        c.expect_codes(name, c.post("/api/messages", obj), codes)
    c.expect_error("message to an unknown handle",
                   c.post("/api/messages", {"user_receiver_handle": "nosuchuser",
                                            "message": "hi"}), 404, "not_found")

    # Paths
    c.expect_error("invalid uuid", c.get("/api/activities/not-a-uuid"), 404, "not_found")
    c.expect_error("uuid one character too long", c.get("/api/activities/" + CLOUD_UUID + "0"),
                   404, "not_found")
    c.expect_error("%00 in path", c.get("/api/activities/%00"), 400, "bad_request", lenient=True)
    c.expect_error("%00 in handle", c.get("/api/activities/@worf%00x"), 400, "bad_request",
                   lenient=True)
    c.expect_error("%2e%2e in path", c.get("/api/activities/%2e%2e/home"), 400, "bad_request",
                   lenient=True)
    c.expect_error("%2E%2E segment", c.get("/api/%2E%2E/api/activities/home"), 400,
                   "bad_request", lenient=True)
    c.expect_error("%00 in search term", c.get("/api/activities/search?term=a%00b"), 400,
                   "bad_request", lenient=True)
    c.expect_error("bad escape in search term", c.get("/api/activities/search?term=%zz"), 400,
                   "bad_request")
    c.expect_error("2000-char handle", c.get("/api/activities/@" + "a" * 2000), 404, "not_found")
    c.expect_error("2000-char handle, messages", c.get("/api/messages/@" + "b" * 2000), 404,
                   "not_found")
    c.expect_error("2000-char uuid", c.get("/api/activities/" + "c" * 2000), 404, "not_found")
    c.expect_error("handle with a quote", c.get("/api/activities/@worf'%20OR%201=1--"), 404,
                   "not_found")

    # 8 KiB of headers
    pads = dict(("X-Pad-%d" % i, "p" * 1000) for i in range(8))
    r = c.get("/api/health-check", headers=pads)
    c.check("8 KiB of headers in 8 fields: answered", r.status == 200 and
            r.json == {"success": True}, r)
    r = c.get("/api/health-check", headers={"X-Big": "b" * 8192})
    c.check("one 8 KiB header: answered", r.status == 200 and r.json == {"success": True}, r)

    # Rough clients: a body cut short, a request never read. More rounds
    # than workers, so that a stuck worker would show.
    for i in range(4):
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 10000\r\n\r\n" % create).encode()
        c.raw(head + b'{"message": "cut', read=False)
    c.healthy("client gone mid-body x4")
    for i in range(4):
        c.raw(b"GET /api/activities/home HTTP/1.1\r\nHost: x\r\n\r\n", read=False)
    c.healthy("client gone before the answer x4")
    c.raw(b"GARBAGE\r\n\r\n")
    c.healthy("garbage request line")


# ---- write: creates, read back ----------------------------------------------

def write_checks(c):
    tag = "probe" + uuidlib.uuid4().hex[:12]
    text = "integration %s #cruddur" % tag
    r = c.post("/api/activities", {"message": text, "ttl": "7-days"})
    c.is_json_answer("create", r, 200)
    if not c.check_activity("create", r.json):
        return
    a = r.json
    c.check("create: the acting user's activity, counts at 0, no replies",
            (a["handle"], a["display_name"], a["message"], a["likes_count"], a["replies_count"],
             a["reposts_count"], a["replies"]) ==
            ("andrewbrown", "Andrew Brown", text, 0, 0, 0, []), a)
    c.check("create: expires 7 days after creation",
            iso(a["expires_at"]) - iso(a["created_at"]) == datetime.timedelta(days=7), a)
    now = datetime.datetime.now(datetime.timezone.utc)
    c.check("create: created now", abs((iso(a["created_at"]) - now).total_seconds()) < 120, a)
    new = a["uuid"]

    home = c.get("/api/activities/home").json or []
    c.check("create: first in home", home and home[0].get("uuid") == new,
            [h.get("message") for h in home][:3])
    r = c.get("/api/activities/" + new)
    c.check("create: show reads it back", r.status == 200 and isinstance(r.json, dict) and
            r.json.get("message") == text and r.json.get("replies") == [], r)
    r = c.get("/api/activities/@andrewbrown")
    c.check("create: in @andrewbrown", r.status == 200 and
            any(x.get("uuid") == new for x in r.json or []), r)
    r = c.get("/api/activities/search?term=" + tag)
    c.check("create: found by search", r.status == 200 and isinstance(r.json, list) and
            [x.get("uuid") for x in r.json] == [new], r)
    r = c.get("/api/activities/search?term=%23cruddur")
    c.check("create: found by its hashtag", r.status == 200 and
            any(x.get("uuid") == new for x in r.json or []), r)

    for ttl, delta in (("30-days", datetime.timedelta(days=30)),
                       ("3-days", datetime.timedelta(days=3)),
                       ("1-day", datetime.timedelta(days=1)),
                       ("12-hours", datetime.timedelta(hours=12)),
                       ("3-hours", datetime.timedelta(hours=3)),
                       ("1-hour", datetime.timedelta(hours=1))):
        r = c.post("/api/activities", {"message": "ttl " + ttl, "ttl": ttl})
        c.check("create ttl %s: expires after %s" % (ttl, delta), r.status == 200 and
                isinstance(r.json, dict) and
                iso(r.json["expires_at"]) - iso(r.json["created_at"]) == delta, r)

    # Boundaries in code points, not bytes.
    for name, msg in (("280 two-byte chars", "\u00e9" * 280),
                      ("280 emoji", "\U0001F600" * 280),
                      ("280 combining marks", "e\u0301" * 140)):
        r = c.post("/api/activities", {"message": msg, "ttl": "1-hour"})
        c.check("create %s: 200, stored as sent" % name, r.status == 200 and
                isinstance(r.json, dict) and r.json.get("message") == msg, r)
    r = c.req("POST", "/api/activities", body=json.dumps(
        {"message": "\U0001F600" * 280, "ttl": "1-hour"}, ensure_ascii=True).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"})
    c.check("create 280 emoji as surrogate-pair escapes: 200", r.status == 200 and
            isinstance(r.json, dict) and r.json.get("message") == "\U0001F600" * 280, r)

    # Reply: the parent's replies_count grows by one.
    r = c.post("/api/activities/%s/reply" % new, {"message": "a reply to " + tag})
    c.is_json_answer("reply", r, 200)
    if c.check_activity("reply", r.json, reply=True):
        rep = r.json
        c.check("reply: names its parent, by the acting user",
                rep["reply_to_activity_uuid"] == new and rep["handle"] == "andrewbrown" and
                rep["message"] == "a reply to " + tag, rep)
        r = c.get("/api/activities/" + new)
        c.check("reply: parent's replies_count is 1", r.status == 200 and
                r.json.get("replies_count") == 1, r)
        c.check("reply: parent lists it", r.status == 200 and
                [x.get("uuid") for x in r.json.get("replies", [])] == [rep["uuid"]], r)
        r2 = c.post("/api/activities/%s/reply" % new, {"message": "\u00e9" * 1024})
        c.check("reply of 1024 code points: 200", r2.status == 200, r2)
        r = c.get("/api/activities/" + new)
        reps = r.json.get("replies", []) if isinstance(r.json, dict) else []
        c.check("reply: count 2, replies oldest first",
                r.json.get("replies_count") == 2 and len(reps) == 2 and
                reps[0].get("uuid") == rep["uuid"], r)
        home = c.get("/api/activities/home").json or []
        c.check("reply: not top-level in home",
                all(h.get("uuid") != rep["uuid"] for h in home), home[:2])
    r = c.get("/api/activities/" + CLOUD_UUID)
    before = r.json.get("replies_count") if isinstance(r.json, dict) else None
    c.post("/api/activities/%s/reply" % CLOUD_UUID, {"message": "so much honor"})
    r = c.get("/api/activities/" + CLOUD_UUID)
    c.check("reply to a seed activity: replies_count + 1", isinstance(before, int) and
            isinstance(r.json, dict) and r.json.get("replies_count") == before + 1, r)

    # Direct messages: the first one creates the group.
    groups = c.get("/api/message_groups").json or []
    had_group = any(g.get("handle") == "garek" for g in groups)
    n_before = len(groups)
    r = c.post("/api/messages", {"user_receiver_handle": "garek", "message": "hello " + tag})
    c.is_json_answer("message", r, 200)
    m = r.json if isinstance(r.json, dict) else {}
    c.check("message: a Message from the acting user", set(m) >= MESSAGE_KEYS and
            m.get("handle") == "andrewbrown" and m.get("display_name") == "Andrew Brown" and
            m.get("message") == "hello " + tag and UUID_RE.match(m.get("uuid", "")) and
            TIME_RE.match(m.get("created_at", "")), m)
    groups = c.get("/api/message_groups").json or []
    c.check("message: the group with garek exists and is latest",
            groups and groups[0].get("handle") == "garek" and
            groups[0].get("message") == "hello " + tag, groups)
    c.check("message: the first message made the group",
            len(groups) == n_before + (0 if had_group else 1), groups)
    n_groups = len(groups)
    r = c.get("/api/messages/@garek")
    c.check("message: read back", r.status == 200 and isinstance(r.json, list) and
            [x.get("message") for x in r.json][-1:] == ["hello " + tag], r)
    c.post("/api/messages", {"user_receiver_handle": "garek", "message": "again " + tag})
    groups = c.get("/api/message_groups").json or []
    c.check("message: a second one reuses the group", len(groups) == n_groups and
            groups[0].get("message") == "again " + tag, groups)
    r = c.get("/api/messages/@garek")
    c.check("message: oldest first", r.status == 200 and
            [x.get("message") for x in r.json or []][-2:] == ["hello " + tag, "again " + tag], r)
    r = c.post("/api/messages", {"user_receiver_handle": "worf", "message": "\u00e9" * 1024})
    c.check("message of 1024 code points: 200", r.status == 200, r)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("--only", default="read,bad,write")
    ap.add_argument("--origin", default="http://localhost:3000")
    args = ap.parse_args(argv[1:])
    c = Checker(args.base, args.origin)
    groups = {"read": read_checks, "bad": bad_checks, "write": write_checks}
    for name in args.only.split(","):
        if name not in groups:
            ap.error("unknown group %r" % name)
        try:
            groups[name](c)
        except Exception as e:   # a crash is a failed check, and the rest still runs
            c.check("%s group ran to the end" % name, False, "%s: %s" % (type(e).__name__, e))
    c.healthy("after everything")
    print("http_check: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
