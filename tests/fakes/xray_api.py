#!/usr/bin/python3
"""xray_api: a fake AWS X-Ray PutTraceSegments endpoint for tests.

Run with /usr/bin/python3 (it needs Debian's python3-botocore to check
signatures, see sigv4.py). It answers as the X-Ray API (REST-JSON,
signing name "xray"):

  - POST /TraceSegments with {"TraceSegmentDocuments": [string, ...]},
    signed with SigV4 for --region and service xray (else 403, sigv4.py);
  - a body that is not JSON: 400 SerializationException; no
    TraceSegmentDocuments list of strings, or more than 50 documents
    ("Exceeding maximum segment count: 50", the limit the X-Ray daemon and
    the OpenTelemetry exporter batch to): 400 InvalidRequestException with
    {"Message": ...} and the type in x-amzn-ErrorType;
  - each document is parsed and checked against the segment document
    schema (X-Ray developer guide, "Segment documents"); one that fails
    comes back in UnprocessedTraceSegments, as the service does:
      {"Id": "<its id, when it has one>", "ErrorCode": "MissingEndTime",
       "Message": "Invalid subsegment. ErrorCode: MissingEndTime, Cause: null"}
    Codes seen from the real service (MissingId, MissingTraceId,
    MissingEndTime, InvalidName) and the same pattern for every field:
    Missing<Field> / Invalid<Field>; a document over 64 kB:
    SegmentTooLarge; one that is not JSON: InvalidSegment without an Id;
  - success: 200 {"UnprocessedTraceSegments": [...]}.

Checks: id 16 hex digits; trace_id 1-<8 hex>-<24 hex> (its time part is
not checked, as the service does not); name at most 200 characters of
Unicode letters, digits, whitespace and _ . : / % & # = + \\ - @;
start_time a number; end_time a number not before start_time, or
in_progress true; embedded subsegments alike (no trace_id needed); a
document with "type": "subsegment" needs trace_id and parent_id;
parent_id 16 hex; precursor_ids a list of ids; error, throttle, fault
booleans; annotations an object of string, number or boolean values; http
{request {method, url, user_agent, client_ip strings, x_forwarded_for,
traced booleans}, response {status integer, content_length number}}; sql
an object of strings; cause an exception id (16 hex) or {working_directory,
paths, exceptions [{id (16 hex, required), message, type, remote,
truncated, skipped, cause, stack [{path, line, label}]}]}; aws and
metadata objects. What X-Ray takes but its guide advises against (an
annotation key that is not alphanumeric/underscore, which filters cannot
use; metadata keys starting with "AWS."; strings over 250 characters;
unknown top-level fields; upper-case hex) is counted under "deviations".

Stored: every accepted document, in memory (GET /_fake/stored, parsed) and
with --store FILE one JSON document a line. Counters in /_fake/stats:
accepted/unique/duplicates (by trace_id:id, completed documents),
in_progress, segments, independent_subsegments, embedded_subsegments,
unprocessed_invalid, unprocessed_injected, requests_refused.

--count-only (benchmarks of the exporter; served by fastaws.py, in
--workers processes): signatures checked as always, and each request as a
whole (JSON, a TraceSegmentDocuments list of strings, at most 50, each at
most 64 kB: over that SegmentTooLarge in UnprocessedTraceSegments, as
above); documents are counted ("counted" in /_fake/stats), not parsed or
stored. No faults or poison in that mode.

Faults (besides sigv4.py's; "throttle" is 429 ThrottledException "Rate
exceeded", "unavailable" 503 ServiceUnavailableException):
  {"kind": "unprocessed", "count": 2, "code": "ThrottledException",
   "message": "Rate exceeded"}   the last 2 valid documents of the next
                                 request that has valid documents are not
                                 stored and come back as unprocessed with
                                 that code (give a permanent one, e.g.
                                 "InvalidSegment", to test dead-lettering)
Poison (POST /_fake/poison {"match": "x"}): a document containing x comes
back unprocessed with ErrorCode InvalidSegment.
"""

import itertools
import json
import math
import os
import re
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastaws  # noqa: E402
import sigv4  # noqa: E402

MAX_DOCUMENTS = 50
MAX_DOCUMENT_BYTES = 64 * 1024
HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
TRACE_ID = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")
ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_]+$")
NAME_SYMBOLS = set("_.:/%&#=+\\-@")
SEGMENT_FIELDS = {
    "name", "id", "trace_id", "start_time", "end_time", "in_progress", "service", "user", "origin",
    "parent_id", "http", "aws", "error", "throttle", "fault", "cause", "annotations", "metadata",
    "subsegments", "type", "namespace", "precursor_ids", "sql", "inferred",
}


class Invalid(Exception):
    """The document is refused: ErrorCode, and whether a subsegment is at fault."""

    def __init__(self, code, sub=False):
        Exception.__init__(self, code)
        self.code = code
        self.sub = sub


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def valid_name(name):
    if not isinstance(name, str) or name == "" or len(name) > 200:
        return False
    return all(ch.isalnum() or ch.isspace() or ch in NAME_SYMBOLS for ch in name)


class Checker:
    """Validates one segment document; deviations go to `deviate`."""

    def __init__(self, deviate):
        self.deviate = deviate
        self.embedded = 0

    def hexid(self, v, code, sub):
        if not isinstance(v, str) or not HEX16.match(v):
            raise Invalid(code, sub)
        if v != v.lower():
            self.deviate("%s: upper-case hex in %r" % (code, v))

    def string(self, obj, key, code, sub, where):
        v = obj.get(key)
        if v is None:
            return
        if not isinstance(v, str):
            raise Invalid(code, sub)
        if len(v) > 250:
            self.deviate("%s.%s: longer than 250 characters" % (where, key))

    def document(self, doc):
        """(key, is_in_progress, kind) of a valid document, or Invalid."""
        if isinstance(doc, list):
            # "an array of subsegments" (PutTraceSegments reference)
            if not doc:
                raise Invalid("MissingId")
            keys = [self.document(d) for d in doc]
            return keys[0]
        if not isinstance(doc, dict):
            raise Invalid("MissingId")
        independent = doc.get("type") is not None
        if independent and doc.get("type") != "subsegment":
            raise Invalid("InvalidType")
        self.entity(doc, independent, top=True, where="document")
        if "trace_id" not in doc:
            raise Invalid("MissingTraceId", independent)
        if not isinstance(doc["trace_id"], str) or not TRACE_ID.match(doc["trace_id"]):
            raise Invalid("InvalidTraceId", independent)
        if doc["trace_id"] != doc["trace_id"].lower():
            self.deviate("trace_id %r: upper-case hex" % doc["trace_id"])
        if independent and "parent_id" not in doc:
            raise Invalid("MissingParentId", True)
        for k in doc:
            if k not in SEGMENT_FIELDS:
                self.deviate("document %s: unknown field %r" % (doc.get("id"), k))
        kind = "independent_subsegments" if independent else "segments"
        return ("%s:%s" % (doc["trace_id"], doc["id"]), doc.get("in_progress") is True, kind)

    def entity(self, e, sub, top, where):
        """A segment or subsegment's own fields and its subsegments."""
        if "id" not in e:
            raise Invalid("MissingId", sub)
        self.hexid(e["id"], "InvalidId", sub)
        where = "%s %s" % ("subsegment" if sub else "segment", e["id"])
        if "name" not in e:
            raise Invalid("MissingName", sub)
        if not valid_name(e["name"]):
            raise Invalid("InvalidName", sub)
        if "start_time" not in e:
            raise Invalid("MissingStartTime", sub)
        if not is_number(e["start_time"]) or e["start_time"] <= 0:
            raise Invalid("InvalidStartTime", sub)
        in_progress = e.get("in_progress")
        if in_progress is not None and not isinstance(in_progress, bool):
            raise Invalid("InvalidInProgress", sub)
        if "end_time" in e:
            if not is_number(e["end_time"]):
                raise Invalid("InvalidEndTime", sub)
            if e["end_time"] < e["start_time"]:
                raise Invalid("InvalidEndTime", sub)
            if in_progress:
                self.deviate("%s: both end_time and in_progress" % where)
        elif in_progress is not True:
            raise Invalid("MissingEndTime", sub)
        if "parent_id" in e:
            self.hexid(e["parent_id"], "InvalidParentId", sub)
        for flag in ("error", "throttle", "fault", "inferred"):
            if flag in e and not isinstance(e[flag], bool):
                raise Invalid("Invalid" + flag.capitalize(), sub)
        for key, code in (("user", "InvalidUser"), ("origin", "InvalidOrigin"),
                          ("namespace", "InvalidNamespace")):
            self.string(e, key, code, sub, where)
        if "namespace" in e and e["namespace"] not in ("aws", "remote"):
            self.deviate("%s: namespace %r is neither aws nor remote" % (where, e["namespace"]))
        if "service" in e:
            if not isinstance(e["service"], dict):
                raise Invalid("InvalidService", sub)
            self.string(e["service"], "version", "InvalidService", sub, where + ".service")
        if "precursor_ids" in e:
            if not isinstance(e["precursor_ids"], list):
                raise Invalid("InvalidPrecursorIds", sub)
            for p in e["precursor_ids"]:
                self.hexid(p, "InvalidPrecursorIds", sub)
        if "annotations" in e:
            self.annotations(e["annotations"], sub, where)
        if "metadata" in e:
            if not isinstance(e["metadata"], dict):
                raise Invalid("InvalidMetadata", sub)
            for ns, v in e["metadata"].items():
                if ns.startswith("AWS."):
                    self.deviate("%s: metadata namespace %r is reserved for AWS" % (where, ns))
        if "aws" in e and not isinstance(e["aws"], dict):
            raise Invalid("InvalidAws", sub)
        if "http" in e:
            self.http(e["http"], sub, where)
        if "sql" in e:
            self.sql(e["sql"], sub, where)
        if "cause" in e:
            self.cause(e["cause"], sub)
        if "subsegments" in e:
            if not isinstance(e["subsegments"], list):
                raise Invalid("InvalidSubsegments", sub)
            for s in e["subsegments"]:
                if not isinstance(s, dict):
                    raise Invalid("InvalidSubsegments", True)
                self.embedded += 1
                self.entity(s, True, False, where)

    def annotations(self, a, sub, where):
        if not isinstance(a, dict):
            raise Invalid("InvalidAnnotations", sub)
        for k, v in a.items():
            if not (isinstance(v, (str, bool)) or is_number(v)):
                raise Invalid("InvalidAnnotations", sub)
            if not ANNOTATION_KEY.match(k):
                self.deviate("%s: annotation key %r is not alphanumeric/underscore "
                             "(filters cannot use it)" % (where, k))
            if isinstance(v, str) and len(v) > 1000:
                self.deviate("%s: annotation %r longer than 1000 characters" % (where, k))

    def http(self, h, sub, where):
        if not isinstance(h, dict):
            raise Invalid("InvalidHttp", sub)
        req = h.get("request")
        if req is not None:
            if not isinstance(req, dict):
                raise Invalid("InvalidHttp", sub)
            for k in ("method", "url", "user_agent", "client_ip"):
                self.string(req, k, "InvalidHttp", sub, where + ".http.request")
            for k in ("x_forwarded_for", "traced"):
                if k in req and not isinstance(req[k], bool):
                    raise Invalid("InvalidHttp", sub)
            if "traced" in req and not sub:
                self.deviate("%s: http.request.traced is for subsegments" % where)
        resp = h.get("response")
        if resp is not None:
            if not isinstance(resp, dict):
                raise Invalid("InvalidHttp", sub)
            if "status" in resp and not is_int(resp["status"]):
                raise Invalid("InvalidHttp", sub)
            if "content_length" in resp and not is_number(resp["content_length"]):
                raise Invalid("InvalidHttp", sub)

    def sql(self, s, sub, where):
        if not isinstance(s, dict):
            raise Invalid("InvalidSql", sub)
        for k in ("connection_string", "url", "sanitized_query", "database_type", "database_version",
                  "driver_version", "user", "preparation"):
            if k in s and not isinstance(s[k], str):
                raise Invalid("InvalidSql", sub)
        if "preparation" in s and s["preparation"] not in ("call", "statement"):
            self.deviate("%s: sql.preparation %r is neither call nor statement" % (where, s["preparation"]))

    def cause(self, c, sub):
        if isinstance(c, str):
            if not HEX16.match(c):
                raise Invalid("InvalidCause", sub)
            return
        if not isinstance(c, dict):
            raise Invalid("InvalidCause", sub)
        if "working_directory" in c and not isinstance(c["working_directory"], str):
            raise Invalid("InvalidCause", sub)
        if "paths" in c and (not isinstance(c["paths"], list) or
                             not all(isinstance(p, str) for p in c["paths"])):
            raise Invalid("InvalidCause", sub)
        exc = c.get("exceptions", [])
        if not isinstance(exc, list):
            raise Invalid("InvalidCause", sub)
        for x in exc:
            if not isinstance(x, dict) or "id" not in x:
                raise Invalid("InvalidCause", sub)
            self.hexid(x["id"], "InvalidCause", sub)
            for k in ("message", "type", "cause"):
                if k in x and not isinstance(x[k], str):
                    raise Invalid("InvalidCause", sub)
            if "remote" in x and not isinstance(x["remote"], bool):
                raise Invalid("InvalidCause", sub)
            for k in ("truncated", "skipped"):
                if k in x and not is_int(x[k]):
                    raise Invalid("InvalidCause", sub)
            stack = x.get("stack", [])
            if not isinstance(stack, list):
                raise Invalid("InvalidCause", sub)
            for f in stack:
                if not isinstance(f, dict):
                    raise Invalid("InvalidCause", sub)
                if "path" in f and not isinstance(f["path"], str):
                    raise Invalid("InvalidCause", sub)
                if "label" in f and not isinstance(f["label"], str):
                    raise Invalid("InvalidCause", sub)
                if "line" in f and not is_int(f["line"]):
                    raise Invalid("InvalidCause", sub)


def too_large(text):
    """The UnprocessedTraceSegment for a document over 64 kB (UTF-8), else None."""
    if len(text) * 4 <= MAX_DOCUMENT_BYTES or len(text.encode("utf-8", "surrogatepass")) <= MAX_DOCUMENT_BYTES:
        return None
    u = {"ErrorCode": "SegmentTooLarge",
         "Message": "Invalid segment. ErrorCode: SegmentTooLarge, Cause: null"}
    m = re.search(r'"id"\s*:\s*"([0-9a-fA-F]{16})"', text)
    if m:
        u["Id"] = m.group(1)
    return u


def check_document(text, deviate):
    """Checks one segment document string. Returns (ok, info):
    ok: (doc, key, in_progress, kind, embedded); not ok: an
    UnprocessedTraceSegment dict."""
    u = too_large(text)
    if u is not None:
        return False, u
    try:
        doc = json.loads(text)
    except ValueError:
        return False, {"ErrorCode": "InvalidSegment",
                       "Message": "Invalid segment. ErrorCode: InvalidSegment, Cause: null"}
    c = Checker(deviate)
    try:
        key, in_progress, kind = c.document(doc)
    except Invalid as e:
        u = {"ErrorCode": e.code, "Message": "Invalid %s. ErrorCode: %s, Cause: null"
             % ("subsegment" if e.sub else "segment", e.code)}
        first = doc[0] if isinstance(doc, list) and doc else doc
        if isinstance(first, dict) and isinstance(first.get("id"), str):
            u["Id"] = first["id"]
        return False, u
    return True, (doc, key, in_progress, kind, c.embedded)


class XRay(sigv4.Receiver):
    service = "xray"
    data_op = "PutTraceSegments"
    throttle = (429, "ThrottledException", "Rate exceeded")
    unavailable = (503, "ServiceUnavailableException", "Service Unavailable")
    MODELED = ("InvalidRequestException", "ThrottledException")
    deferred_faults = ("unprocessed",)

    def configure(self, args):
        self.store_path = args.store
        self.max_body = args.max_body
        self.count_only = args.count_only
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.docs = []
            self.counts = {}
        if self.store_path:
            open(self.store_path, "w").close()

    def bump(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def stored(self):
        with self.lock:
            return list(self.docs)

    def stats_extra(self):
        out = sigv4.Receiver.stats_extra(self)
        with self.lock:
            for k in ("counted", "in_progress", "segments", "independent_subsegments", "embedded_subsegments",
                      "unprocessed_invalid", "unprocessed_injected", "requests_refused", "documents"):
                out[k] = self.counts.get(k, 0)
            out["unprocessed_codes"] = {k[5:]: v for k, v in self.counts.items() if k.startswith("code:")}
        return out

    def error(self, status, etype, message, auth=False, headers=None):
        h = {"x-amzn-ErrorType": etype}
        h.update(headers or {})
        # Modeled X-Ray errors carry "Message"; the front end's own, "message".
        key = "Message" if etype in self.MODELED else "message"
        return sigv4.Answer(status, {key: message}, h)

    def refuse(self, status, etype, message):
        self.bump("requests_refused")
        return self.error(status, etype, message)

    def handle(self, h, method, body, op, fault):
        path = h.path.split("?")[0]
        if path != "/TraceSegments":
            return self.refuse(404, "UnknownOperationException", "Unknown operation %s %s" % (method, path))
        if method != "POST":
            return self.refuse(404, "UnknownOperationException", "Unknown operation %s %s" % (method, path))
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/x-amz-json-1.1"):
            self.state.deviate("Content-Type %r (the SDKs send application/json)" % ctype)
        if h.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
            return self.refuse(400, "SerializationException",
                               "Content-Encoding %s is not supported" % h.headers["Content-Encoding"])
        if len(body) > self.max_body:
            return self.refuse(413, "RequestEntityTooLargeException", "Request entity too large")
        try:
            req = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return self.refuse(400, "SerializationException", "Unable to parse the request body as JSON")
        if not isinstance(req, dict) or "TraceSegmentDocuments" not in req:
            return self.refuse(400, "InvalidRequestException",
                               "1 validation error detected: Value null at 'traceSegmentDocuments' "
                               "failed to satisfy constraint: Member must not be null")
        docs = req["TraceSegmentDocuments"]
        if not isinstance(docs, list) or not all(map(isinstance, docs, itertools.repeat(str))):
            return self.refuse(400, "SerializationException",
                               "TraceSegmentDocuments must be a list of strings")
        for k in req:
            if k != "TraceSegmentDocuments":
                self.state.deviate("request: unknown member %r" % k)
        if len(docs) > MAX_DOCUMENTS:
            return self.refuse(400, "InvalidRequestException",
                               "Exceeding maximum segment count: %d" % MAX_DOCUMENTS)
        if not docs:
            self.state.deviate("a request without documents")
        if self.count_only:
            return self.count_documents(docs)
        with self.state.lock:
            poison = list(self.state.poison)
        unprocessed = []
        valid = []
        for text in docs:
            ok, info = check_document(text, self.state.deviate)
            if not ok:
                self.bump("unprocessed_invalid")
                self.bump("code:" + info["ErrorCode"])
                unprocessed.append(info)
                continue
            if any(p in text for p in poison):
                u = {"ErrorCode": "InvalidSegment",
                     "Message": "Invalid segment. ErrorCode: InvalidSegment, Cause: null"}
                doc = info[0][0] if isinstance(info[0], list) else info[0]
                u["Id"] = doc.get("id")
                self.bump("unprocessed_invalid")
                self.bump("code:InvalidSegment")
                with self.state.lock:
                    self.state.rejected_records += 1
                unprocessed.append(u)
                continue
            valid.append((text, info))
        if fault is not None and fault.get("kind") == "unprocessed" and valid:
            sigv4.consume_fault(self.state, fault)
            n = min(int(fault.get("count", 1)), len(valid))
            code = fault.get("code", "ThrottledException")
            msg = fault.get("message", "Rate exceeded")
            for text, info in valid[len(valid) - n:]:
                doc = info[0][0] if isinstance(info[0], list) else info[0]
                unprocessed.append({"Id": doc.get("id"), "ErrorCode": code, "Message": msg})
                self.bump("unprocessed_injected")
                self.bump("code:" + code)
            valid = valid[:len(valid) - n]
        done = []
        for text, (doc, key, in_progress, kind, embedded) in valid:
            self.bump("documents")
            self.bump(kind)
            self.bump("embedded_subsegments", embedded)
            if in_progress:
                self.bump("in_progress")
            else:
                done.append(key)
            with self.lock:
                self.docs.append(doc)
            if self.store_path:
                with self.lock, open(self.store_path, "a") as f:
                    f.write(json.dumps(doc, separators=(",", ":")) + "\n")
        self.state.accept(done)
        return sigv4.Answer(200, {"UnprocessedTraceSegments": unprocessed})

    def count_documents(self, docs):
        """--count-only: the request passed handle()'s checks; documents
        over 64 kB come back as the service sends them, the others are
        counted, neither parsed nor stored."""
        unprocessed = []
        if docs and max(map(len, docs)) * 4 > MAX_DOCUMENT_BYTES:
            for text in docs:
                u = too_large(text)
                if u is not None:
                    self.bump("unprocessed_invalid")
                    self.bump("code:SegmentTooLarge")
                    unprocessed.append(u)
        self.bump("counted", len(docs) - len(unprocessed))
        return sigv4.Answer(200, {"UnprocessedTraceSegments": unprocessed})


def extra_args(ap):
    ap.add_argument("--store", help="append every accepted document to this file (JSON lines)")
    ap.add_argument("--max-body", type=int, default=8 * 1024 * 1024)
    fastaws.add_args(ap, "documents")


if __name__ == "__main__":
    sigv4.serve("xray", XRay(), extra_args=extra_args)
