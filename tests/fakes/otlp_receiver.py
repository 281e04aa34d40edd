#!/usr/bin/env python3
"""otlp_receiver: a fake OTLP/HTTP endpoint (Honeycomb, a collector) for tests.

It checks each request as the OTLP specification (OTLP/HTTP, JSON protobuf
encoding) and a protobuf JSON parser do, and answers as a real receiver:

  - POST /v1/traces (ExportTraceServiceRequest) and /v1/logs
    (ExportLogsServiceRequest); other paths 404, other methods 405;
  - Content-Type application/json (application/x-protobuf: 415, this fake
    speaks JSON only); Content-Encoding gzip or none (else 415);
  - with --key, the x-honeycomb-team header must hold it (else 401);
  - bodies over --max-body (20 MiB, the specification's recommendation),
    also after decompression: 413;
  - a body that is not JSON, a field of the wrong type, an id that is not
    hex of the right length or is all zeros, an AnyValue with two values,
    an int64 out of range: 400 with a google.rpc.Status JSON body;
  - success: 200 with {} (partialSuccess left unset), Content-Type
    application/json.

What a real receiver tolerates but the specification forbids (enum names
instead of integers, 64-bit integers as JSON numbers, snake_case field
names, which a receiver ignores as unknown fields, end before start, no
service.name) is accepted and counted under "deviations" in /_fake/stats,
so that tests can insist on zero.

Faults (besides those of fakehttp.py):
  {"kind": "partial", "rejected": 2}   accept all but the last 2 records,
                                       answer partialSuccess naming them
Poison (POST /_fake/poison {"match": "x"}): a request holding a span whose
name (or a log whose body) contains x gets 400 naming that record's span id.

  --validate count   skip the checks, count spans only (for benchmarks)
"""

import base64
import json
import os
import re
import sys
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakehttp  # noqa: E402

HEX = re.compile(r"^[0-9a-fA-F]*$")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
UINT64_MAX = 2 ** 64 - 1
UINT32_MAX = 2 ** 32 - 1

# grpc status codes used in google.rpc.Status bodies
GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 411: 3, 413: 8, 415: 3, 429: 8,
        500: 13, 502: 14, 503: 14, 504: 4}


class Bad(Exception):
    """The request is invalid: 400, with this message."""


class Receiver:
    def configure(self, args):
        self.key = args.key
        self.max_body = args.max_body
        self.validate = args.validate

    def is_data_path(self, path):
        return path.split("?")[0] in ("/v1/traces", "/v1/logs")

    def error_body(self, code, message):
        return {"code": GRPC.get(code, 2), "message": message}

    def fail(self, code, message, details=None):
        body = self.error_body(code, message)
        if details:
            body["details"] = details
        return fakehttp.Answer(code, body)

    # -- the request -----------------------------------------------------------
    def handle(self, h, method, body, fault):
        path = h.path.split("?")[0]
        if path not in ("/v1/traces", "/v1/logs"):
            return self.fail(404, "404 page not found")
        if method != "POST":
            return self.fail(405, "method %s not allowed, supported: [POST]" % method)
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return self.fail(415, "unsupported content type %r: this receiver takes application/json"
                             % ctype)
        if self.key is not None:
            got = h.headers.get("x-honeycomb-team")
            if got is None:
                return self.fail(401, "missing 'x-honeycomb-team' header")
            if got != self.key:
                return self.fail(401, "invalid API key")
        data, err = fakehttp.decode_body(h, body, self.max_body)
        if err:
            return self.fail(err[0], err[1])
        logs = path == "/v1/logs"
        if self.validate == "count":
            n = data.count(b'"observedTimeUnixNano"' if logs else b'"spanId":')
            with self.state.lock:
                self.state.extra["counted"] = self.state.extra.get("counted", 0) + n
            return fakehttp.Answer(200, {})
        try:
            doc = json.loads(data)
        except ValueError as e:
            return self.fail(400, "failed to unmarshal request body: %s" % e)
        try:
            records = self.check_logs(doc) if logs else self.check_traces(doc)
        except Bad as e:
            return self.fail(400, str(e))
        # Poison: a record the service refuses for good, named in the answer.
        with self.state.lock:
            poison = list(self.state.poison)
        for i, (key, text, where) in enumerate(records):
            if any(p in text for p in poison):
                with self.state.lock:
                    self.state.rejected_records += 1
                return self.fail(400, "record %s refused: invalid data at %s" % (key, where), [{
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": where, "description": "poisoned record %s" % key}],
                }])
        rejected = []
        if fault is not None and fault.get("kind") == "partial":
            k = min(int(fault.get("rejected", 1)), len(records))
            rejected = records[len(records) - k:] if k > 0 else []
            records = records[:len(records) - k]
        self.state.accept([r[0] for r in records])
        with self.state.lock:
            kind = "logs" if logs else "spans"
            self.state.extra[kind] = self.state.extra.get(kind, 0) + len(records)
        if rejected:
            with self.state.lock:
                self.state.rejected_records += len(rejected)
            field = "rejectedLogRecords" if logs else "rejectedSpans"
            return fakehttp.Answer(200, {"partialSuccess": {
                field: str(len(rejected)),
                "errorMessage": "dropped %d: %s" % (len(rejected), ", ".join(r[0] for r in rejected)),
            }})
        return fakehttp.Answer(200, {})

    # -- field checks -----------------------------------------------------------
    def fields(self, obj, where, known):
        if not isinstance(obj, dict):
            raise Bad("%s: expected an object" % where)
        for k in obj:
            if k not in known:
                # unknown fields are ignored by receivers (OTLP/JSON rule), but
                # our encoder must not write any
                self.state.deviate("%s: unknown field %r (ignored)" % (where, k))
        return obj

    def list_of(self, obj, key, where):
        v = obj.get(key, [])
        if v is None:
            return []
        if not isinstance(v, list):
            raise Bad("%s.%s: expected an array" % (where, key))
        return v

    def string(self, obj, key, where, default=""):
        v = obj.get(key, default)
        if v is None:
            return default
        if not isinstance(v, str):
            raise Bad("%s.%s: expected a string" % (where, key))
        return v

    def uint(self, obj, key, where, maximum, wide):
        """uint32 (wide False) or fixed64/uint64 (wide True, should be a string)."""
        v = obj.get(key, 0)
        if v is None:
            return 0
        if isinstance(v, bool):
            raise Bad("%s.%s: expected a number" % (where, key))
        if isinstance(v, str):
            if not re.match(r"^[0-9]+$", v):
                raise Bad("%s.%s: invalid integer %r" % (where, key, v))
            v = int(v)
            if not wide:
                self.state.deviate("%s.%s: 32-bit integer written as a string" % (where, key))
        elif isinstance(v, int):
            if wide:
                self.state.deviate("%s.%s: 64-bit integer written as a JSON number" % (where, key))
        elif isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise Bad("%s.%s: expected an integer" % (where, key))
        if v < 0 or v > maximum:
            raise Bad("%s.%s: out of range" % (where, key))
        return v

    def enum(self, obj, key, where, values):
        v = obj.get(key, 0)
        if isinstance(v, str):
            self.state.deviate("%s.%s: enum written as a name (%r)" % (where, key, v))
            return 0
        if isinstance(v, bool) or not isinstance(v, int):
            raise Bad("%s.%s: invalid enum value" % (where, key))
        if v not in values:
            self.state.deviate("%s.%s: unknown enum value %d" % (where, key, v))
        return v

    def id(self, obj, key, where, nbytes, required):
        v = obj.get(key, "")
        if v is None:
            v = ""
        if not isinstance(v, str):
            raise Bad("%s.%s: expected a hex string" % (where, key))
        if v == "":
            if required:
                raise Bad("%s.%s: empty id" % (where, key))
            return ""
        if len(v) != 2 * nbytes or not HEX.match(v):
            raise Bad("%s.%s: invalid length for ID" % (where, key))
        if int(v, 16) == 0:
            raise Bad("%s.%s: id is all zeros" % (where, key))
        return v.lower()

    def any_value(self, v, where, depth=0):
        if depth > 32:
            raise Bad("%s: nested too deep" % where)
        if not isinstance(v, dict):
            raise Bad("%s: AnyValue must be an object" % where)
        self.fields(v, where, ("stringValue", "boolValue", "intValue", "doubleValue",
                               "arrayValue", "kvlistValue", "bytesValue"))
        set_ = [k for k in v if k in ("stringValue", "boolValue", "intValue", "doubleValue",
                                      "arrayValue", "kvlistValue", "bytesValue")]
        if len(set_) > 1:
            raise Bad("%s: AnyValue has more than one value: %s" % (where, ", ".join(set_)))
        if not set_:
            return
        k = set_[0]
        x = v[k]
        if k == "stringValue" and not isinstance(x, str):
            raise Bad("%s.stringValue: expected a string" % where)
        if k == "boolValue" and not isinstance(x, bool):
            raise Bad("%s.boolValue: expected a boolean" % where)
        if k == "intValue":
            if isinstance(x, bool):
                raise Bad("%s.intValue: expected an integer" % where)
            if isinstance(x, str):
                if not re.match(r"^-?[0-9]+$", x):
                    raise Bad("%s.intValue: invalid integer %r" % (where, x))
                x = int(x)
            elif isinstance(x, int):
                self.state.deviate("%s.intValue: written as a JSON number" % where)
            else:
                raise Bad("%s.intValue: expected an integer" % where)
            if x < INT64_MIN or x > INT64_MAX:
                raise Bad("%s.intValue: out of int64 range" % where)
        if k == "doubleValue":
            if isinstance(x, str):
                if x not in ("NaN", "Infinity", "-Infinity"):
                    try:
                        float(x)
                    except ValueError:
                        raise Bad("%s.doubleValue: invalid number %r" % (where, x))
            elif isinstance(x, bool) or not isinstance(x, (int, float)):
                raise Bad("%s.doubleValue: expected a number" % where)
        if k == "bytesValue":
            try:
                base64.b64decode(x, validate=True)
            except Exception:
                raise Bad("%s.bytesValue: invalid base64" % where)
        if k == "arrayValue":
            a = self.fields(x, where + ".arrayValue", ("values",))
            for i, e in enumerate(self.list_of(a, "values", where + ".arrayValue")):
                self.any_value(e, "%s.arrayValue.values[%d]" % (where, i), depth + 1)
        if k == "kvlistValue":
            kl = self.fields(x, where + ".kvlistValue", ("values",))
            self.key_values(self.list_of(kl, "values", where + ".kvlistValue"),
                            where + ".kvlistValue.values", depth + 1)

    def key_values(self, kvs, where, depth=0):
        keys = set()
        out = {}
        for i, kv in enumerate(kvs):
            w = "%s[%d]" % (where, i)
            self.fields(kv, w, ("key", "value"))
            key = self.string(kv, "key", w)
            if key in keys:
                self.state.deviate("%s: duplicate attribute key %r" % (w, key))
            keys.add(key)
            if "value" in kv and kv["value"] is not None:
                self.any_value(kv["value"], w + ".value", depth)
                out[key] = kv["value"]
        return out

    def attributes(self, obj, where):
        attrs = self.key_values(self.list_of(obj, "attributes", where), where + ".attributes")
        self.uint(obj, "droppedAttributesCount", where, UINT32_MAX, False)
        return attrs

    def resource(self, rs, where):
        res = rs.get("resource", {})
        if res is None:
            res = {}
        self.fields(res, where + ".resource", ("attributes", "droppedAttributesCount", "entityRefs"))
        attrs = self.attributes(res, where + ".resource")
        if "service.name" not in attrs:
            self.state.deviate("%s.resource: no service.name" % where)

    def scope(self, ss, where):
        sc = ss.get("scope", {})
        if sc is None:
            return
        self.fields(sc, where + ".scope", ("name", "version", "attributes", "droppedAttributesCount"))
        self.string(sc, "name", where + ".scope")
        self.string(sc, "version", where + ".scope")
        self.attributes(sc, where + ".scope")

    def check_traces(self, doc):
        self.fields(doc, "request", ("resourceSpans",))
        records = []
        for r, rs in enumerate(self.list_of(doc, "resourceSpans", "request")):
            w = "resourceSpans[%d]" % r
            self.fields(rs, w, ("resource", "scopeSpans", "schemaUrl"))
            self.resource(rs, w)
            self.string(rs, "schemaUrl", w)
            for s, ss in enumerate(self.list_of(rs, "scopeSpans", w)):
                ws = "%s.scopeSpans[%d]" % (w, s)
                self.fields(ss, ws, ("scope", "spans", "schemaUrl"))
                self.scope(ss, ws)
                self.string(ss, "schemaUrl", ws)
                for i, sp in enumerate(self.list_of(ss, "spans", ws)):
                    wp = "%s.spans[%d]" % (ws, i)
                    records.append(self.span(sp, wp))
        return records

    def span(self, sp, w):
        self.fields(sp, w, ("traceId", "spanId", "traceState", "parentSpanId", "flags", "name",
                            "kind", "startTimeUnixNano", "endTimeUnixNano", "attributes",
                            "droppedAttributesCount", "events", "droppedEventsCount", "links",
                            "droppedLinksCount", "status"))
        tid = self.id(sp, "traceId", w, 16, True)
        sid = self.id(sp, "spanId", w, 8, True)
        self.id(sp, "parentSpanId", w, 8, False)
        self.string(sp, "traceState", w)
        self.uint(sp, "flags", w, UINT32_MAX, False)
        name = self.string(sp, "name", w)
        if name == "":
            self.state.deviate("%s: empty span name" % w)
        self.enum(sp, "kind", w, range(0, 6))
        start = self.uint(sp, "startTimeUnixNano", w, UINT64_MAX, True)
        end = self.uint(sp, "endTimeUnixNano", w, UINT64_MAX, True)
        if end < start:
            self.state.deviate("%s: ends before it starts" % w)
        self.attributes(sp, w)
        self.uint(sp, "droppedEventsCount", w, UINT32_MAX, False)
        self.uint(sp, "droppedLinksCount", w, UINT32_MAX, False)
        for i, ev in enumerate(self.list_of(sp, "events", w)):
            we = "%s.events[%d]" % (w, i)
            self.fields(ev, we, ("timeUnixNano", "name", "attributes", "droppedAttributesCount"))
            self.uint(ev, "timeUnixNano", we, UINT64_MAX, True)
            self.string(ev, "name", we)
            self.attributes(ev, we)
        for i, ln in enumerate(self.list_of(sp, "links", w)):
            wl = "%s.links[%d]" % (w, i)
            self.fields(ln, wl, ("traceId", "spanId", "traceState", "attributes",
                                 "droppedAttributesCount", "flags"))
            self.id(ln, "traceId", wl, 16, True)
            self.id(ln, "spanId", wl, 8, True)
            self.string(ln, "traceState", wl)
            self.uint(ln, "flags", wl, UINT32_MAX, False)
            self.attributes(ln, wl)
        st = sp.get("status")
        if st is not None:
            self.fields(st, w + ".status", ("message", "code"))
            self.string(st, "message", w + ".status")
            self.enum(st, "code", w + ".status", range(0, 3))
        return ("%s:%s" % (tid, sid), name, w)

    def check_logs(self, doc):
        self.fields(doc, "request", ("resourceLogs",))
        records = []
        for r, rl in enumerate(self.list_of(doc, "resourceLogs", "request")):
            w = "resourceLogs[%d]" % r
            self.fields(rl, w, ("resource", "scopeLogs", "schemaUrl"))
            self.resource(rl, w)
            for s, sl in enumerate(self.list_of(rl, "scopeLogs", w)):
                ws = "%s.scopeLogs[%d]" % (w, s)
                self.fields(sl, ws, ("scope", "logRecords", "schemaUrl"))
                self.scope(sl, ws)
                for i, lr in enumerate(self.list_of(sl, "logRecords", ws)):
                    wl = "%s.logRecords[%d]" % (ws, i)
                    records.append(self.log(lr, wl))
        return records

    def log(self, lr, w):
        self.fields(lr, w, ("timeUnixNano", "observedTimeUnixNano", "severityNumber",
                            "severityText", "body", "attributes", "droppedAttributesCount",
                            "flags", "traceId", "spanId", "eventName"))
        t = self.uint(lr, "timeUnixNano", w, UINT64_MAX, True)
        o = self.uint(lr, "observedTimeUnixNano", w, UINT64_MAX, True)
        if t == 0 and o == 0:
            self.state.deviate("%s: neither timeUnixNano nor observedTimeUnixNano" % w)
        self.enum(lr, "severityNumber", w, range(0, 25))
        self.string(lr, "severityText", w)
        self.string(lr, "eventName", w)
        text = ""
        if lr.get("body") is not None:
            self.any_value(lr["body"], w + ".body")
            text = lr["body"].get("stringValue", "") if isinstance(lr["body"].get("stringValue", ""), str) else ""
        self.attributes(lr, w)
        self.uint(lr, "flags", w, UINT32_MAX, False)
        tid = self.id(lr, "traceId", w, 16, False)
        sid = self.id(lr, "spanId", w, 8, False)
        # A log record has no id of its own: its observed time, trace and body stand in.
        key = "%s:%s:%s:%s:%08x" % (o, t, tid, sid, zlib.crc32(text.encode("utf-8", "replace")))
        return (key, text, w)


def extra_args(ap):
    ap.add_argument("--key", help="the x-honeycomb-team value to insist on")
    ap.add_argument("--max-body", type=int, default=20 * 1024 * 1024)
    ap.add_argument("--validate", choices=("full", "count"), default="full")


if __name__ == "__main__":
    fakehttp.serve("otlp", Receiver(), extra_args=extra_args)
