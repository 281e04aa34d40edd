#!/usr/bin/python3
"""cloudwatch_logs: a fake Amazon CloudWatch Logs API for tests.

Run with /usr/bin/python3 (it needs Debian's python3-botocore to check
signatures, see sigv4.py). It answers as CloudWatch Logs does (AWS JSON
1.1: POST /, X-Amz-Target: Logs_20140328.<Operation>, signing name
"logs"), with errors as {"__type": TYPE, "message": ...} (also in
x-amzn-ErrorType) and Content-Type application/x-amz-json-1.1:

  CreateLogGroup      {logGroupName}; twice: 400 ResourceAlreadyExistsException
                      "The specified log group already exists"
  CreateLogStream     {logGroupName, logStreamName}; no group: 400
                      ResourceNotFoundException "The specified log group does
                      not exist."; twice: ResourceAlreadyExistsException "The
                      specified log stream already exists"
  PutRetentionPolicy  {logGroupName, retentionInDays}: a value not among 1, 3,
                      5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653 is an
                      InvalidParameterException
  DescribeLogStreams  {logGroupName, logStreamNamePrefix, limit, nextToken}
  PutLogEvents        {logGroupName, logStreamName, logEvents, sequenceToken
                      (ignored, as the service now does)}, checked in this
                      order, every refusal a 400 with the service's words:
    - names and events as the API model constrains them (InvalidParameter-
      Exception "1 validation error detected: Value '[]' at 'logEvents'
      failed to satisfy constraint: Member must have length greater than or
      equal to 1"; at most 10,000 events; messages not empty; timestamps
      present and >= 0);
    - an event over --max-event-bytes (1,048,576, the "1 MB" of the current
      API reference; 262,144 where the older 256 KB quota holds), counting
      its message's UTF-8 bytes plus 26: "Log event too large: N bytes
      exceeds limit of 1048576"; the batch over 1,048,576 bytes counted the
      same way: "Upload too large: N bytes exceeds limit of 1048576";
    - timestamps out of order "Log events in a single PutLogEvents request
      must be in chronological order.";
    - no such group or stream: ResourceNotFoundException "The specified log
      group does not exist." / "The specified log stream does not exist.";
    - events more than 14 days old (tooOldLogEventEndIndex: the events
      before it), older than the group's retention (expiredLogEventEndIndex,
      likewise) or more than 2 hours ahead (tooNewLogEventStartIndex: it
      and those after it) are not refused but reported in
      rejectedLogEventsInfo and not stored;
    - the events left spanning more than 24 hours: "The batch of log events
      in a single PutLogEvents request cannot span more than 24 hours.".
    Success: 200 {"nextSequenceToken": ..., "rejectedLogEventsInfo": {...}}.

Groups and streams can exist from the start (--group G, --stream G:S).
Stored: accepted events per group and stream (GET /_fake/stored, which keeps
those of deleted streams, and with --store FILE one JSON line per event). Counters in /_fake/stats: accepted,
unique, duplicates (by group, stream, timestamp and message), batches,
events_too_old, events_too_new, events_expired, refused (by operation, then
error type), operations (by name), groups, streams.

Faults (besides sigv4.py's; "throttle" is 400 ThrottlingException "Rate
exceeded" as the service sends it, "unavailable" 500
ServiceUnavailableException); "op" picks the operation a fault waits for
(default PutLogEvents):
  {"kind": "rejected", "tooOldLogEventEndIndex": 2, "tooNewLogEventStartIndex": 5,
   "expiredLogEventEndIndex": 1}     reported (and not stored) in the next batch
                                     that gets that far (indices capped at its size)
  {"kind": "delete_stream"} / {"kind": "delete_group"}
                                     the target of the next request to an existing
                                     stream goes away just before it is handled
Control: POST /_fake/delete {"group": G[, "stream": S]},
         POST /_fake/create {"group": G[, "stream": S]}.
"""

import bisect
import json
import os
import re
import sys
import threading
import uuid
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastaws  # noqa: E402
import sigv4  # noqa: E402

TARGET_PREFIX = "Logs_20140328."
MAX_EVENTS = 10000
MAX_BATCH_BYTES = 1048576
EVENT_OVERHEAD = 26
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)
GROUP_RE = re.compile(r"^[\.\-_/#A-Za-z0-9]+$")
STREAM_RE = re.compile(r"^[^:*]*$")
JSON11 = "application/x-amz-json-1.1"


class Refused(Exception):
    def __init__(self, etype, message, status=400):
        Exception.__init__(self, message)
        self.etype = etype
        self.message = message
        self.status = status


def java_list(v):
    if isinstance(v, list) and len(v) > 3:
        return "[%d events]" % len(v)
    return json.dumps(v)


class Validation:
    """Collects "Value X at 'path' failed to satisfy constraint: ..." lines."""

    def __init__(self):
        self.errors = []

    def add(self, value, path, constraint):
        shown = "null" if value is None else "'%s'" % (java_list(value) if isinstance(value, list) else value)
        self.errors.append("Value %s at '%s' failed to satisfy constraint: %s" % (shown, path, constraint))

    def name(self, obj, key, pattern, pattern_text, required=True):
        v = obj.get(key)
        if v is None:
            if required:
                self.add(None, key, "Member must not be null")
            return
        if not isinstance(v, str):
            raise Refused("SerializationException", "%s must be a string" % key)
        if len(v) < 1:
            self.add(v, key, "Member must have length greater than or equal to 1")
        elif len(v) > 512:
            self.add(v, key, "Member must have length less than or equal to 512")
        elif not pattern.match(v):
            self.add(v, key, "Member must satisfy regular expression pattern: %s" % pattern_text)

    def check(self):
        if self.errors:
            n = len(self.errors)
            raise Refused("InvalidParameterException", "%d validation error%s detected: %s"
                          % (n, "" if n == 1 else "s", "; ".join(self.errors)))


class Stream:
    def __init__(self, name, now_ms):
        self.name = name
        self.created = now_ms
        self.events = []
        self.first = None
        self.last = None
        self.ingested = None


class Group:
    def __init__(self, name, now_ms):
        self.name = name
        self.created = now_ms
        self.retention = None
        self.streams = {}


class Logs(sigv4.Receiver):
    service = "logs"
    data_op = "PutLogEvents"
    throttle = (400, "ThrottlingException", "Rate exceeded")
    unavailable = (500, "ServiceUnavailableException", "The service cannot complete the request.")
    deferred_faults = ("rejected", "delete_stream", "delete_group")

    def configure(self, args):
        self.region = args.region
        self.max_event = args.max_event_bytes
        self.store_path = args.store
        self.count_only = args.count_only
        self.initial = (args.group or [], args.stream or [])
        self.lock = threading.Lock()
        self.reset()

    def now_ms(self):
        return int(self.server.clock() * 1000)

    def reset(self):
        with self.lock:
            self.groups = {}
            self.gone = []          # (group name, Stream) deleted: still in /_fake/stored
            self.counts = {}
            now = self.now_ms()
            for g in self.initial[0]:
                self.groups.setdefault(g, Group(g, now))
            for gs in self.initial[1]:
                g, _, s = gs.partition(":")
                grp = self.groups.setdefault(g, Group(g, now))
                grp.streams.setdefault(s, Stream(s, now))
        if self.store_path:
            open(self.store_path, "w").close()

    def bump(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def stats_extra(self):
        out = sigv4.Receiver.stats_extra(self)
        with self.lock:
            for k in ("counted", "batches", "events_too_old", "events_too_new", "events_expired", "bytes",
                      "groups_created", "streams_created", "retention_set"):
                out[k] = self.counts.get(k, 0)
            refused = {}
            for k, v in self.counts.items():
                if k.startswith("refused:"):
                    _, op, etype = k.split(":", 2)
                    refused.setdefault(op, {})[etype] = v
            out["refused"] = refused
            out["refused_total"] = sum(sum(d.values()) for d in refused.values())
            out["operations"] = {k[3:]: v for k, v in self.counts.items() if k.startswith("op:")}
            out["groups"] = len(self.groups)
            out["streams"] = sum(len(g.streams) for g in self.groups.values())
        return out

    def stored(self):
        """Every event accepted, by group and stream, those of deleted
        streams and groups included (tests count what was delivered)."""
        with self.lock:
            out = {}
            for gname, s in self.gone:
                streams = out.setdefault(gname, {"retentionInDays": None, "streams": {}})["streams"]
                streams.setdefault(s.name, []).extend(s.events)
            for g in self.groups.values():
                d = out.setdefault(g.name, {"retentionInDays": None, "streams": {}})
                d["retentionInDays"] = g.retention
                for s in g.streams.values():
                    d["streams"].setdefault(s.name, []).extend(s.events)
            for d in out.values():
                for name in d["streams"]:
                    d["streams"][name].sort(key=lambda e: e["timestamp"])
            return out

    def delete(self, gname, sname=None):
        """Deletes a stream, or a group with its streams (self.lock held)."""
        g = self.groups.get(gname)
        if g is None:
            return
        if sname is None:
            self.gone.extend((gname, s) for s in g.streams.values())
            del self.groups[gname]
        elif sname in g.streams:
            self.gone.append((gname, g.streams.pop(sname)))

    def has_control(self, path):
        return path in ("/_fake/delete", "/_fake/create")

    def control(self, h, path, arg):
        arg = arg or {}
        g, s = arg.get("group"), arg.get("stream")
        with self.lock:
            if path == "/_fake/delete":
                self.delete(g, s)
            else:
                grp = self.groups.setdefault(g, Group(g, self.now_ms()))
                if s is not None:
                    grp.streams.setdefault(s, Stream(s, self.now_ms()))
        return h.send_json(200, {})

    def error(self, status, etype, message, auth=False, headers=None):
        h = {"x-amzn-ErrorType": etype}
        h.update(headers or {})
        return sigv4.Answer(status, {"__type": etype, "message": message}, h, content_type=JSON11)

    def operation(self, h):
        t = h.headers.get("X-Amz-Target", "")
        return t[len(TARGET_PREFIX):] if t.startswith(TARGET_PREFIX) else t

    def ok(self, body):
        if body is None:
            return sigv4.Answer(200, None, content_type=JSON11, raw=b"")
        return sigv4.Answer(200, body, content_type=JSON11)

    def handle(self, h, method, body, op, fault):
        try:
            return self.dispatch(h, method, body, op, fault)
        except Refused as e:
            self.bump("refused:%s:%s" % (op or "-", e.etype))
            return self.error(e.status, e.etype, e.message)

    def dispatch(self, h, method, body, op, fault):
        if method != "POST" or h.path.split("?")[0] != "/":
            raise Refused("UnknownOperationException", "Unknown operation %s %s" % (method, h.path), 404)
        ctype = h.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != JSON11:
            self.state.deviate("%s: Content-Type %r (the protocol is %s)" % (op, ctype, JSON11))
        if h.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
            raise Refused("SerializationException",
                          "Content-Encoding %s is not supported" % h.headers["Content-Encoding"])
        ops = {"CreateLogGroup": self.create_group, "CreateLogStream": self.create_stream,
               "PutRetentionPolicy": self.put_retention, "DescribeLogStreams": self.describe_streams,
               "PutLogEvents": self.put_events}
        if op not in ops:
            raise Refused("UnknownOperationException", "Unknown operation %s" % (op or "(no X-Amz-Target)"))
        self.bump("op:" + op)
        try:
            req = json.loads(body.decode("utf-8")) if body else {}
        except (ValueError, UnicodeDecodeError):
            raise Refused("SerializationException", "Unable to parse the request body as JSON")
        if not isinstance(req, dict):
            raise Refused("SerializationException", "Start of list found where not expected")
        if fault is not None and fault.get("kind") in ("delete_stream", "delete_group"):
            with self.lock:
                g = self.groups.get(req.get("logGroupName"))
                if g is not None and (fault["kind"] == "delete_group" or req.get("logStreamName") in g.streams):
                    sigv4.consume_fault(self.state, fault)
                    if fault["kind"] == "delete_group":
                        self.delete(req.get("logGroupName"))
                    else:
                        self.delete(req.get("logGroupName"), req.get("logStreamName"))
        return ops[op](req, fault)

    # -- operations ------------------------------------------------------------------
    def group_of(self, name):
        g = self.groups.get(name)
        if g is None:
            raise Refused("ResourceNotFoundException", "The specified log group does not exist.")
        return g

    def create_group(self, req, fault):
        v = Validation()
        v.name(req, "logGroupName", GROUP_RE, r"[\.\-_/#A-Za-z0-9]+")
        v.check()
        with self.lock:
            if req["logGroupName"] in self.groups:
                raise Refused("ResourceAlreadyExistsException", "The specified log group already exists")
            self.groups[req["logGroupName"]] = Group(req["logGroupName"], self.now_ms())
        self.bump("groups_created")
        return self.ok(None)

    def create_stream(self, req, fault):
        v = Validation()
        v.name(req, "logGroupName", GROUP_RE, r"[\.\-_/#A-Za-z0-9]+")
        v.name(req, "logStreamName", STREAM_RE, "[^:*]*")
        v.check()
        with self.lock:
            g = self.group_of(req["logGroupName"])
            if req["logStreamName"] in g.streams:
                raise Refused("ResourceAlreadyExistsException", "The specified log stream already exists")
            g.streams[req["logStreamName"]] = Stream(req["logStreamName"], self.now_ms())
        self.bump("streams_created")
        return self.ok(None)

    def put_retention(self, req, fault):
        v = Validation()
        v.name(req, "logGroupName", GROUP_RE, r"[\.\-_/#A-Za-z0-9]+")
        days = req.get("retentionInDays")
        if days is None:
            v.add(None, "retentionInDays", "Member must not be null")
        elif isinstance(days, bool) or not isinstance(days, int) or days not in RETENTION_DAYS:
            v.add(days, "retentionInDays", "Member must satisfy enum value set: [%s]"
                  % ", ".join(str(d) for d in RETENTION_DAYS))
        v.check()
        with self.lock:
            self.group_of(req["logGroupName"]).retention = days
        self.bump("retention_set")
        return self.ok(None)

    def describe_streams(self, req, fault):
        v = Validation()
        v.name(req, "logGroupName", GROUP_RE, r"[\.\-_/#A-Za-z0-9]+")
        prefix = req.get("logStreamNamePrefix")
        if prefix is not None:
            v.name(req, "logStreamNamePrefix", STREAM_RE, "[^:*]*")
        limit = req.get("limit", 50)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            v.add(limit, "limit", "Member must have value less than or equal to 50")
        v.check()
        if prefix is not None and req.get("orderBy") == "LastEventTime":
            raise Refused("InvalidParameterException",
                          "Cannot order by LastEventTime with a logStreamNamePrefix.")
        start = 0
        if req.get("nextToken"):
            try:
                start = int(req["nextToken"].split("/")[-1])
            except ValueError:
                raise Refused("InvalidParameterException", "The specified nextToken is invalid.")
        with self.lock:
            g = self.group_of(req["logGroupName"])
            names = sorted(n for n in g.streams if prefix is None or n.startswith(prefix))
            if req.get("descending"):
                names.reverse()
            page = names[start:start + limit]
            out = []
            for n in page:
                s = g.streams[n]
                d = {"logStreamName": n, "creationTime": s.created,
                     "arn": "arn:aws:logs:%s:123456789012:log-group:%s:log-stream:%s"
                            % (self.region, g.name, n),
                     "storedBytes": 0}
                if s.events:
                    d.update({"firstEventTimestamp": s.first, "lastEventTimestamp": s.last,
                              "lastIngestionTime": s.ingested,
                              "uploadSequenceToken": "4963%048d" % len(s.events)})
                out.append(d)
        resp = {"logStreams": out}
        if start + limit < len(names):
            resp["nextToken"] = "f/%d" % (start + limit)
        return self.ok(resp)

    def put_events(self, req, fault):
        if self.count_only:
            return self.count_events(req)
        events = self.validate_put(req)
        self.put_deviations(req)
        sizes = [len(e["message"].encode("utf-8")) + EVENT_OVERHEAD for e in events]
        for n in sizes:
            if n > self.max_event:
                raise Refused("InvalidParameterException",
                              "Log event too large: %d bytes exceeds limit of %d" % (n, self.max_event))
        total = sum(sizes)
        if total > MAX_BATCH_BYTES:
            raise Refused("InvalidParameterException",
                          "Upload too large: %d bytes exceeds limit of %d" % (total, MAX_BATCH_BYTES))
        ts = [e["timestamp"] for e in events]
        if any(ts[i] < ts[i - 1] for i in range(1, len(ts))):
            raise Refused("InvalidParameterException",
                          "Log events in a single PutLogEvents request must be in chronological order.")
        return self.put_checked(req, events, ts, total, fault)

    def validate_put(self, req):
        """A PutLogEvents request's names and events as the API model
        constrains them: its events, or Refused."""
        v = Validation()
        v.name(req, "logGroupName", GROUP_RE, r"[\.\-_/#A-Za-z0-9]+")
        v.name(req, "logStreamName", STREAM_RE, "[^:*]*")
        events = req.get("logEvents")
        if events is None:
            v.add(None, "logEvents", "Member must not be null")
        elif not isinstance(events, list):
            raise Refused("SerializationException", "logEvents must be a list")
        elif len(events) < 1:
            v.add(events, "logEvents", "Member must have length greater than or equal to 1")
        elif len(events) > MAX_EVENTS:
            v.add(events, "logEvents", "Member must have length less than or equal to %d" % MAX_EVENTS)
        else:
            for i, e in enumerate(events, 1):
                if not isinstance(e, dict):
                    raise Refused("SerializationException", "logEvents.%d must be an object" % i)
                ts, msg = e.get("timestamp"), e.get("message")
                if ts is None:
                    v.add(None, "logEvents.%d.member.timestamp" % i, "Member must not be null")
                elif isinstance(ts, bool) or not isinstance(ts, int):
                    raise Refused("SerializationException",
                                  "logEvents.%d.member.timestamp must be an integer (milliseconds)" % i)
                elif ts < 0:
                    v.add(ts, "logEvents.%d.member.timestamp" % i,
                          "Member must have value greater than or equal to 0")
                if msg is None:
                    v.add(None, "logEvents.%d.member.message" % i, "Member must not be null")
                elif not isinstance(msg, str):
                    raise Refused("SerializationException", "logEvents.%d.member.message must be a string" % i)
                elif msg == "":
                    v.add("", "logEvents.%d.member.message" % i,
                          "Member must have length greater than or equal to 1")
                for k in e:
                    if k not in ("timestamp", "message"):
                        self.state.deviate("logEvents.%d: unknown member %r" % (i, k))
        v.check()
        return events

    def put_deviations(self, req):
        for k in req:
            if k not in ("logGroupName", "logStreamName", "logEvents", "sequenceToken", "entity"):
                self.state.deviate("PutLogEvents: unknown member %r" % k)
        if "sequenceToken" in req:
            self.state.deviate("PutLogEvents: sequenceToken sent (the service ignores it now)")

    def put_checked(self, req, events, ts, total, fault):
        """PutLogEvents once the request's own checks passed: the stream,
        the time windows, storing."""
        now = self.now_ms()
        with self.lock:
            g = self.group_of(req["logGroupName"])
            s = g.streams.get(req["logStreamName"])
            if s is None:
                raise Refused("ResourceNotFoundException", "The specified log stream does not exist.")
            retention = g.retention
        n = len(events)
        too_old_end = sum(1 for t in ts if t < now - 14 * DAY_MS)
        too_new_start = next((i for i, t in enumerate(ts) if t > now + 2 * HOUR_MS), n)
        expired_end = sum(1 for t in ts if t < now - retention * DAY_MS) if retention else 0
        if fault is not None and fault.get("kind") == "rejected":
            sigv4.consume_fault(self.state, fault)
            too_old_end = max(too_old_end, int(fault.get("tooOldLogEventEndIndex", 0)))
            expired_end = max(expired_end, int(fault.get("expiredLogEventEndIndex", 0)))
            too_new_start = min(too_new_start, int(fault.get("tooNewLogEventStartIndex", n)))
            too_old_end, expired_end = min(too_old_end, n), min(expired_end, n)
            too_new_start = max(too_new_start, 0)
        first_ok = max(too_old_end, expired_end)
        kept = list(range(first_ok, max(first_ok, too_new_start)))
        if kept and ts[kept[-1]] - ts[kept[0]] > DAY_MS:
            raise Refused("InvalidParameterException",
                          "The batch of log events in a single PutLogEvents request cannot span "
                          "more than 24 hours.")
        info = {}
        if too_old_end > 0:
            info["tooOldLogEventEndIndex"] = too_old_end
        if expired_end > too_old_end:
            info["expiredLogEventEndIndex"] = expired_end
        if too_new_start < n:
            info["tooNewLogEventStartIndex"] = too_new_start
        keys = []
        with self.lock:
            for i in kept:
                e = events[i]
                s.events.append({"timestamp": e["timestamp"], "message": e["message"], "ingestionTime": now})
                s.first = e["timestamp"] if s.first is None else min(s.first, e["timestamp"])
                s.last = e["timestamp"] if s.last is None else max(s.last, e["timestamp"])
                s.ingested = now
                keys.append("%s/%s/%d/%08x" % (g.name, s.name, e["timestamp"],
                                               zlib.crc32(e["message"].encode("utf-8"))))
            self.counts["batches"] = self.counts.get("batches", 0) + 1
            self.counts["bytes"] = self.counts.get("bytes", 0) + total
            self.counts["events_too_old"] = self.counts.get("events_too_old", 0) + too_old_end
            self.counts["events_expired"] = self.counts.get("events_expired", 0) + \
                max(0, expired_end - too_old_end)
            self.counts["events_too_new"] = self.counts.get("events_too_new", 0) + (n - too_new_start)
            if self.store_path:
                with open(self.store_path, "a") as f:
                    for i in kept:
                        f.write(json.dumps({"group": g.name, "stream": s.name,
                                            "timestamp": events[i]["timestamp"],
                                            "message": events[i]["message"]}) + "\n")
        with self.state.lock:
            self.state.rejected_records += n - len(kept)
        self.state.accept(keys)
        resp = {"nextSequenceToken": "4963%048d" % (uuid.uuid4().int % 10 ** 48)}
        if info:
            resp["rejectedLogEventsInfo"] = info
        return self.ok(resp)

    # -- --count-only ------------------------------------------------------------
    # The checks of put_events, in its order and with its answers, done on
    # whole lists at once; anything off in the events' members (a missing
    # or mistyped timestamp or message, an empty message, a negative time)
    # sends the request through validate_put for its exact refusal. Events
    # are counted ("counted": those put_events would store), not stored.
    # Groups, streams and retention are shared by fastaws.py's workers
    # (shared_ops change them; dump_shared / load_shared carry them).
    shared_ops = ("CreateLogGroup", "CreateLogStream", "PutRetentionPolicy")
    shared_controls = ("/_fake/delete", "/_fake/create")

    def count_events(self, req):
        events = req.get("logEvents")
        ts = msgs = None
        if isinstance(events, list) and 1 <= len(events) <= MAX_EVENTS:
            try:
                ts = [e["timestamp"] for e in events]
                msgs = [e["message"] for e in events]
            except (TypeError, KeyError):
                ts = None
            if ts is not None and (set(map(type, ts)) != {int} or set(map(type, msgs)) != {str} or
                                   min(ts) < 0 or not all(msgs)):
                ts = None
        names_ok = isinstance(req.get("logGroupName"), str) and GROUP_RE.match(req["logGroupName"]) and \
            len(req["logGroupName"]) <= 512 and isinstance(req.get("logStreamName"), str) and \
            1 <= len(req["logStreamName"]) <= 512 and STREAM_RE.match(req["logStreamName"])
        if ts is None or not names_ok or set(map(len, events)) != {2}:
            self.validate_put(req)      # refuses with put_events' words, or notes deviations
            if ts is None or not names_ok:
                raise Refused("SerializationException", "logEvents: not as the API model has them")
        self.put_deviations(req)
        sizes = [len(m) if m.isascii() else len(m.encode("utf-8", "surrogatepass")) for m in msgs]
        if max(sizes) + EVENT_OVERHEAD > self.max_event:
            for n in sizes:
                if n + EVENT_OVERHEAD > self.max_event:
                    raise Refused("InvalidParameterException", "Log event too large: %d bytes exceeds "
                                  "limit of %d" % (n + EVENT_OVERHEAD, self.max_event))
        total = sum(sizes) + EVENT_OVERHEAD * len(sizes)
        if total > MAX_BATCH_BYTES:
            raise Refused("InvalidParameterException",
                          "Upload too large: %d bytes exceeds limit of %d" % (total, MAX_BATCH_BYTES))
        if ts != sorted(ts):
            raise Refused("InvalidParameterException",
                          "Log events in a single PutLogEvents request must be in chronological order.")
        now = self.now_ms()
        with self.lock:
            g = self.group_of(req["logGroupName"])
            if req["logStreamName"] not in g.streams:
                raise Refused("ResourceNotFoundException", "The specified log stream does not exist.")
            retention = g.retention
        # ts is sorted: the windows are bisections (put_events counts them)
        n = len(ts)
        too_old_end = bisect.bisect_left(ts, now - 14 * DAY_MS)
        too_new_start = bisect.bisect_right(ts, now + 2 * HOUR_MS)
        expired_end = bisect.bisect_left(ts, now - retention * DAY_MS) if retention else 0
        first_ok = max(too_old_end, expired_end)
        last = max(first_ok, too_new_start)
        if last > first_ok and ts[last - 1] - ts[first_ok] > DAY_MS:
            raise Refused("InvalidParameterException",
                          "The batch of log events in a single PutLogEvents request cannot span "
                          "more than 24 hours.")
        info = {}
        if too_old_end > 0:
            info["tooOldLogEventEndIndex"] = too_old_end
        if expired_end > too_old_end:
            info["expiredLogEventEndIndex"] = expired_end
        if too_new_start < n:
            info["tooNewLogEventStartIndex"] = too_new_start
        with self.lock:
            for k, v in (("counted", last - first_ok), ("batches", 1), ("bytes", total),
                         ("events_too_old", too_old_end),
                         ("events_expired", max(0, expired_end - too_old_end)),
                         ("events_too_new", n - too_new_start)):
                self.counts[k] = self.counts.get(k, 0) + v
        with self.state.lock:
            self.state.rejected_records += n - (last - first_ok)
        resp = {"nextSequenceToken": "4963%048d" % (uuid.uuid4().int % 10 ** 48)}
        if info:
            resp["rejectedLogEventsInfo"] = info
        return self.ok(resp)

    def dump_shared(self):
        with self.lock:
            return {"groups": [[g.name, g.created, g.retention, [[s.name, s.created] for s in g.streams.values()]]
                               for g in self.groups.values()],
                    "gone": [[gname, s.name, s.created] for gname, s in self.gone]}

    def load_shared(self, doc):
        with self.lock:
            self.groups = {}
            for name, created, retention, streams in doc["groups"]:
                g = self.groups[name] = Group(name, created)
                g.retention = retention
                for sname, screated in streams:
                    g.streams[sname] = Stream(sname, screated)
            self.gone = [(gname, Stream(sname, created)) for gname, sname, created in doc["gone"]]


def extra_args(ap):
    fastaws.add_args(ap, "events")
    ap.add_argument("--group", action="append", help="a log group that exists from the start")
    ap.add_argument("--stream", action="append", metavar="GROUP:STREAM",
                    help="a log stream (and its group) that exists from the start")
    ap.add_argument("--max-event-bytes", type=int, default=1048576,
                    help="largest event, message bytes + 26 (1 MB in the current API reference; "
                         "262144 for the older 256 KB quota)")
    ap.add_argument("--store", help="append every accepted event to this file (JSON lines)")


if __name__ == "__main__":
    sigv4.serve("cloudwatch_logs", Logs(), extra_args=extra_args)
