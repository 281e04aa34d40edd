#!/usr/bin/env python3
"""rollbar_receiver: a fake Rollbar item API (POST /api/1/item/) for tests.

It checks each item as Rollbar documents its item API and answers as
Rollbar does, always with a JSON body:

  - 200 {"err": 0, "result": {"id": null, "uuid": "..."}} when accepted; a
    second item with a uuid already seen is answered the same way and
    discarded (counted as a duplicate), as Rollbar de-duplicates on uuid;
  - 403 {"err": 1, "message": ...} when the access token (header
    X-Rollbar-Access-Token, or access_token in the body) is missing or
    is not --token;
  - 400 when the body is not JSON; 413 when it is larger than --max-body;
  - 422 when the JSON is not a valid item: data and data.environment
    (a string of at most 255 characters) required; data.body must hold
    exactly one of trace, trace_chain, message, crash_report; a trace needs
    frames (each with a string filename) and exception.class; a message
    needs body; level one of critical, error, warning, info, debug; uuid
    at most 36 characters; code_version at most 40; title at most 255;
  - 429 when the rate limit (--rate-limit items per --rate-window seconds)
    is used up. Every answer carries X-Rate-Limit-Limit,
    X-Rate-Limit-Remaining, X-Rate-Limit-Reset and
    X-Rate-Limit-Remaining-Seconds.

What Rollbar accepts but an item from this project should not lack (level,
uuid, timestamp in seconds, language, notifier, the trace id under custom)
is counted under "deviations" in /_fake/stats.

Faults (besides those of fakehttp.py):
  {"kind": "rate_limit", "seconds": 2}  one 429 with X-Rate-Limit-Remaining-Seconds
Poison (POST /_fake/poison {"match": "x"}): an item whose exception class,
message or message body contains x gets 422 naming its uuid.
"""

import json
import os
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakehttp  # noqa: E402

LEVELS = ("critical", "error", "warning", "info", "debug")


class Invalid(Exception):
    """422 with this message."""


class Receiver:
    def configure(self, args):
        self.token = args.token
        self.max_body = args.max_body
        self.limit = args.rate_limit
        self.window = args.rate_window
        self.window_start = time.time()
        self.used = 0

    def is_data_path(self, path):
        return path.split("?")[0] in ("/api/1/item/", "/api/1/item")

    def error_body(self, code, message):
        return {"err": 1, "message": message}

    def rate_headers(self, now):
        with self.state.lock:
            if now - self.window_start >= self.window:
                self.window_start = now
                self.used = 0
            left = max(0, int(self.window_start + self.window - now + 0.999))
            return {
                "X-Rate-Limit-Limit": self.limit,
                "X-Rate-Limit-Remaining": max(0, self.limit - self.used),
                "X-Rate-Limit-Reset": int(self.window_start + self.window),
                "X-Rate-Limit-Remaining-Seconds": left,
            }

    def answer(self, code, body, extra=None):
        h = self.rate_headers(time.time())
        h.update(extra or {})
        return fakehttp.Answer(code, body, h)

    def fail(self, code, message):
        return self.answer(code, {"err": 1, "message": message})

    def handle(self, h, method, body, fault):
        if not self.is_data_path(h.path):
            return self.fail(404, "Not found")
        if method != "POST":
            return self.fail(405, "Method not allowed")
        if fault is not None and fault.get("kind") == "rate_limit":
            secs = int(fault.get("seconds", 1))
            return self.answer(429, {"err": 1, "message": "rate limit reached for this access token"},
                               {"X-Rate-Limit-Remaining": 0, "X-Rate-Limit-Remaining-Seconds": secs})
        data, err = fakehttp.decode_body(h, body, self.max_body)
        if err:
            if err[0] == 413:
                return self.fail(413, "Request entity too large")
            return self.fail(err[0], err[1])
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        text = data.decode("utf-8", "replace")
        if ctype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(text)
            text = form.get("payload", [""])[0]
        try:
            doc = json.loads(text)
        except ValueError:
            return self.fail(400, "invalid JSON")
        token = h.headers.get("X-Rollbar-Access-Token")
        if token is None and isinstance(doc, dict):
            token = doc.get("access_token")
        if not token:
            return self.fail(403, "access token required")
        if token != self.token:
            return self.fail(403, "invalid access token")
        try:
            uuid, text_of = self.check(doc)
        except Invalid as e:
            return self.fail(422, "Invalid format. %s" % e)
        with self.state.lock:
            poison = list(self.state.poison)
        if any(p in text_of for p in poison):
            with self.state.lock:
                self.state.rejected_records += 1
            return self.fail(422, "Invalid format. item %s: data.body is invalid" % uuid)
        with self.state.lock:
            if self.used >= self.limit:
                over = True
            else:
                over = False
                self.used += 1
        if over:
            return self.fail(429, "rate limit reached for this access token")
        key = uuid or "no-uuid-%d" % id(doc)
        self.state.accept([key])
        return self.answer(200, {"err": 0, "result": {"id": None, "uuid": uuid}})

    def check(self, doc):
        st = self.state
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            raise Invalid("data: required object")
        d = doc["data"]
        env = d.get("environment")
        if not isinstance(env, str) or env == "":
            raise Invalid("data.environment: required string")
        if len(env) > 255:
            raise Invalid("data.environment: longer than 255 characters")
        body = d.get("body")
        if not isinstance(body, dict):
            raise Invalid("data.body: required object")
        kinds = [k for k in ("trace", "trace_chain", "message", "crash_report") if k in body]
        if len(kinds) != 1:
            raise Invalid("data.body: exactly one of trace, trace_chain, message, crash_report")
        text = ""
        if kinds[0] == "trace":
            text = self.trace(body["trace"], "data.body.trace")
        elif kinds[0] == "trace_chain":
            chain = body["trace_chain"]
            if not isinstance(chain, list) or not chain:
                raise Invalid("data.body.trace_chain: a non-empty list")
            for i, t in enumerate(chain):
                text += self.trace(t, "data.body.trace_chain[%d]" % i)
        elif kinds[0] == "message":
            m = body["message"]
            if not isinstance(m, dict) or not isinstance(m.get("body"), str):
                raise Invalid("data.body.message.body: required string")
            text = m["body"]
        else:
            if not isinstance(body["crash_report"], dict) or not isinstance(body["crash_report"].get("raw"), str):
                raise Invalid("data.body.crash_report.raw: required string")
        level = d.get("level")
        if level is None:
            st.deviate("data.level missing")
        elif level not in LEVELS:
            raise Invalid("data.level: one of %s" % ", ".join(LEVELS))
        ts = d.get("timestamp")
        if ts is None:
            st.deviate("data.timestamp missing")
        elif isinstance(ts, bool) or not isinstance(ts, int):
            raise Invalid("data.timestamp: an integer")
        elif ts > 10 ** 11:
            st.deviate("data.timestamp is not in seconds")
        uuid = d.get("uuid")
        if uuid is None:
            st.deviate("data.uuid missing: re-sends would not be de-duplicated")
        elif not isinstance(uuid, str) or len(uuid) > 36:
            raise Invalid("data.uuid: a string of at most 36 characters")
        for key, n in (("code_version", 40), ("title", 255), ("context", 255), ("fingerprint", None),
                       ("platform", None), ("language", None), ("framework", None)):
            v = d.get(key)
            if v is not None and (not isinstance(v, str) or (n and len(v) > n)):
                raise Invalid("data.%s: a string%s" % (key, " of at most %d characters" % n if n else ""))
        for key in ("request", "server", "client", "custom", "notifier", "person"):
            v = d.get(key)
            if v is not None and not isinstance(v, dict):
                raise Invalid("data.%s: an object" % key)
        if d.get("language") is None:
            st.deviate("data.language missing")
        if not isinstance(d.get("notifier"), dict) or not d["notifier"].get("name"):
            st.deviate("data.notifier.name missing")
        if not isinstance(d.get("custom"), dict) or "trace_id" not in d["custom"]:
            st.extra["items_without_trace_id"] = st.extra.get("items_without_trace_id", 0) + 1
        if "access_token" in doc:
            st.deviate("access_token in the body (it belongs in the header)")
        return uuid, text

    def trace(self, t, where):
        if not isinstance(t, dict):
            raise Invalid("%s: an object" % where)
        frames = t.get("frames")
        if not isinstance(frames, list):
            raise Invalid("%s.frames: required list" % where)
        for i, f in enumerate(frames):
            w = "%s.frames[%d]" % (where, i)
            if not isinstance(f, dict) or not isinstance(f.get("filename"), str):
                raise Invalid("%s.filename: required string" % w)
            for k in ("lineno", "colno"):
                if k in f and (isinstance(f[k], bool) or not isinstance(f[k], int)):
                    raise Invalid("%s.%s: an integer" % (w, k))
            for k in ("method", "code"):
                if k in f and not isinstance(f[k], str):
                    raise Invalid("%s.%s: a string" % (w, k))
        exc = t.get("exception")
        if not isinstance(exc, dict) or not isinstance(exc.get("class"), str):
            raise Invalid("%s.exception.class: required string" % where)
        msg = exc.get("message", "")
        if not isinstance(msg, str):
            raise Invalid("%s.exception.message: a string" % where)
        return exc["class"] + " " + msg


def extra_args(ap):
    ap.add_argument("--token", required=True, help="the post_server_item token to insist on")
    ap.add_argument("--max-body", type=int, default=512 * 1024)
    ap.add_argument("--rate-limit", type=int, default=1000000)
    ap.add_argument("--rate-window", type=int, default=60)


if __name__ == "__main__":
    fakehttp.serve("rollbar", Receiver(), extra_args=extra_args)
