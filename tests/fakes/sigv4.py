"""sigv4: what the AWS fakes share (Python 3 standard library, plus Debian's
python3-botocore as the independent Signature Version 4 referee).

1. Checking a request's signature the way an AWS front end does, in this
   order, each failure answered with the service's real error (403):

     no Authorization header          MissingAuthenticationTokenException
     not AWS4-HMAC-SHA256 k=v, ...    IncompleteSignatureException
     Credential/SignedHeaders/Signature or X-Amz-Date missing
                                      IncompleteSignatureException
     scope: date != X-Amz-Date's, wrong region, service or terminator
                                      InvalidSignatureException
     host or x-amz-date (or a sent X-Amz-Security-Token) not signed
                                      InvalidSignatureException
     a header named in SignedHeaders missing from the request (libcurl
     before 8.3 signs a removed "Expect:")
                                      IncompleteSignatureException "'expect' is
                                      named as a SignedHeader, but it does not
                                      exist in the HTTP request." (services
                                      differ: STS ignores it, AppSync refuses;
                                      --allow-missing-signed-headers signs it
                                      as empty and counts a deviation)
     X-Amz-Date more than 5 minutes off the server's clock
                                      InvalidSignatureException "Signature expired: ..."
     access key unknown, or the session token missing / wrong / sent
     with a long-term key             UnrecognizedClientException
     temporary credentials past their Expiration
                                      ExpiredTokenException
     signature != what botocore computes from the same request
                                      InvalidSignatureException

   Valid credentials: --access-key/--secret-key[/--session-token] and a
   --creds-file (a JSON list, or one object, of {AccessKeyId,
   SecretAccessKey, Token, Expiration}, as instance metadata serves them),
   read again whenever it changes. No message ever holds a secret key or a
   session token; access key ids are shown as their last four characters.

2. The server plumbing on top of fakehttp.py: every answer carries
   x-amzn-RequestId and a Date from the server's clock (which a test can
   skew), AWS-shaped error bodies, and a fault queue checked after the
   signature (a request that fails authentication consumes no fault).

   Fault kinds every AWS fake takes (POST /_fake/faults):
     {"kind": "status", "status": 500, "type": "InternalFailure", "message": ...}
     {"kind": "throttle"}              the service's own throttling answer
     {"kind": "unavailable"}           the service's own 5xx
     {"kind": "expired_token"}         403 ExpiredTokenException
     {"kind": "hang"|"reset"|"delay"|"ok", ...}   as in fakehttp.py
   each optionally with "times": N and "op": NAME (the operation it waits
   for; by default the service's data operation).
   Control, besides fakehttp's /_fake/stats, /_fake/stat/K, /_fake/faults,
   /_fake/reset:
     POST /_fake/clock {"skew": SECONDS}        the server's clock runs that far ahead
     POST /_fake/credentials {"expire": true}   every temporary key expires now
     POST /_fake/credentials {"add": [{AccessKeyId, SecretAccessKey, Token?, Expiration?}]}
     GET  /_fake/stored                         what the fake kept (per service)
   /_fake/stats also counts the signature checks (auth_ok, auth_<error
   type>, auth_failed) and, in auth_keys, the requests that passed by access
   key id ({"****0001": 3}), so that a test sees which credentials were used.

3. --count-only (a fake that takes it: benchmarks of the exporters): the
   same checks in the same order, the signature computed by FastSigner
   (hashlib/hmac, signing keys cached; botocore still for the rare request
   whose URL or SignedHeaders it would normalise), served by fastaws.py's
   lean HTTP/1.1 loop in --workers processes. See fastaws.py.
"""

import argparse
import calendar
import datetime
import functools
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakehttp  # noqa: E402

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials
except ImportError:  # pragma: no cover - the tests require python3-botocore
    sys.stderr.write("sigv4: botocore is missing: install python3-botocore and run with /usr/bin/python3\n")
    sys.exit(2)

MAX_SKEW_S = 300
AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")


class AuthError(Exception):
    def __init__(self, status, etype, message):
        Exception.__init__(self, message)
        self.status = status
        self.etype = etype
        self.message = message


def show_key(key_id):
    """An access key id as messages may show it."""
    return "****" + key_id[-4:] if len(key_id) > 4 else "****"


def amz_date(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


@functools.lru_cache(maxsize=64)
def parse_amz_date(s):
    return calendar.timegm(time.strptime(s, "%Y%m%dT%H%M%SZ"))


def parse_expiration(v):
    """Expiration as instance metadata writes it (2026-11-24T01:02:03Z), or
    epoch seconds; None when absent."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    s = str(v).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


class Credentials:
    """The keys a fake accepts. Thread-safe; the file is read again when its
    size, mtime or inode change."""

    def __init__(self, static=None, creds_file=None):
        self.lock = threading.Lock()
        self.static = {}
        for c in static or []:
            self.static[c["AccessKeyId"]] = self.entry(c)
        self.extra = {}
        self.path = creds_file
        self.file_sig = None
        self.from_file = {}
        self.expired_before = 0.0   # temporary keys issued before: expired (fault)
        self.reloads = 0

    @staticmethod
    def entry(d):
        return {
            "AccessKeyId": str(d["AccessKeyId"]),
            "SecretAccessKey": str(d["SecretAccessKey"]),
            "Token": d.get("Token") or None,
            "Expiration": parse_expiration(d.get("Expiration")),
            "added": time.time(),
        }

    def _reload(self):
        if not self.path:
            return
        try:
            st = os.stat(self.path)
        except OSError:
            self.from_file = {}
            self.file_sig = None
            return
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        if sig == self.file_sig:
            return
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return  # being written: keep what we had, try again next request
        if isinstance(doc, dict):
            doc = [doc]
        keys = {}
        for d in doc if isinstance(doc, list) else []:
            try:
                e = self.entry(d)
            except (KeyError, TypeError, ValueError):
                continue
            old = self.from_file.get(e["AccessKeyId"])
            if old is not None:
                e["added"] = old["added"]   # expired by /_fake/credentials stays expired
            keys[e["AccessKeyId"]] = e
        self.from_file = keys
        self.file_sig = sig
        self.reloads += 1

    def lookup(self, key_id):
        with self.lock:
            self._reload()
            for table in (self.from_file, self.extra, self.static):
                if key_id in table:
                    return dict(table[key_id])
            return None

    def add(self, entries):
        with self.lock:
            for d in entries:
                e = self.entry(d)
                self.extra[e["AccessKeyId"]] = e

    def expire_all(self, now):
        with self.lock:
            self.expired_before = now


def redact_auth(auth):
    """The Authorization header with the access key id hidden."""
    return re.sub(r"(Credential=)([^/,\s]+)", lambda m: m.group(1) + show_key(m.group(2)), auth)


def parse_authorization(auth):
    """(credential, signed_headers, signature) or AuthError, with AWS's words."""
    if not auth.startswith("AWS4-HMAC-SHA256"):
        raise AuthError(403, "IncompleteSignatureException",
                        "Authorization header requires 'Credential' parameter. Authorization header "
                        "requires 'Signature' parameter. Authorization header requires "
                        "'SignedHeaders' parameter. Authorization=%s" % redact_auth(auth))
    rest = auth[len("AWS4-HMAC-SHA256"):].strip()
    parts = {}
    for p in [x.strip() for x in rest.split(",") if x.strip()]:
        if "=" not in p:
            raise AuthError(403, "IncompleteSignatureException",
                            "'%s' not a valid key=value pair (missing equal-sign) in Authorization "
                            "header: '%s'." % (redact_auth(p), redact_auth(auth)))
        k, v = p.split("=", 1)
        parts[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "Signature", "SignedHeaders") if not parts.get(k)]
    return parts, missing


class Referee(SigV4Auth):
    """botocore's signer over exactly the headers the client signed: botocore
    leaves out Expect, User-Agent and X-Amzn-Trace-Id when it signs, but a
    server checks whatever SignedHeaders names."""

    def headers_to_sign(self, request):
        from botocore.awsrequest import HTTPHeaders
        m = HTTPHeaders()
        for name, value in request.headers.items():
            m[name.lower()] = value
        return m


class FastSigner:
    """What the referee computes, done directly with hashlib and hmac (for
    --count-only, where botocore's per-request cost would be what a
    benchmark measures): the canonical request, the string to sign and the
    signature, byte for byte as Referee makes them, with the signing key
    cached per secret and date. sign() answers None for a request whose URL
    or header list botocore would normalise (a query string, dot segments,
    characters it would percent-encode, an unusual Host, header names not
    in lower case or repeated, x-amz-content-sha256): the caller asks
    botocore then. test_aws_fakes.sh compares the two on many requests."""

    PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_.~/-]*$")
    PLAIN_HOST = re.compile(r"^[A-Za-z0-9.:-]*$")
    PLAIN_NAMES = re.compile(r"^[a-z0-9-]+(?:;[a-z0-9-]+)*$")
    EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

    def __init__(self, service, region):
        self.service = service
        self.region = region
        self.keys = {}      # (secret, yyyymmdd) -> signing key
        self.paths = {}     # request target -> needs no normalising

    def plain_path(self, target):
        ok = self.paths.get(target)
        if ok is None:
            ok = bool(self.PLAIN_PATH.match(target)) and "//" not in target and \
                not any(seg in (".", "..") for seg in target.split("/"))
            if len(self.paths) < 256:
                self.paths[target] = ok
        return ok

    def signing_key(self, secret, date):
        k = self.keys.get((secret, date))
        if k is None:
            k = ("AWS4" + secret).encode("utf-8")
            for part in (date, self.region, self.service, "aws4_request"):
                k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
            if len(self.keys) >= 64:
                self.keys.clear()
            self.keys[(secret, date)] = k
        return k

    def sign(self, method, target, host, hdrs, body, xdate, secret):
        """(canonical request, string to sign, signature) for the signed
        headers hdrs ({name: value as sent}), or None: ask botocore."""
        names = sorted(hdrs)
        if not self.plain_path(target) or not self.PLAIN_HOST.match(host) or \
                not self.PLAIN_NAMES.match(";".join(names)) or "x-amz-content-sha256" in hdrs:
            return None
        canon_headers = "".join("%s:%s\n" % (n, " ".join(hdrs[n].split())) for n in names)
        payload = hashlib.sha256(body).hexdigest() if body else self.EMPTY_SHA256
        cr = "%s\n%s\n\n%s\n%s\n%s" % (method.upper(), target, canon_headers, ";".join(names), payload)
        sts = "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s" % (
            xdate, xdate[0:8], self.region, self.service, hashlib.sha256(cr.encode("utf-8")).hexdigest())
        sig = hmac.new(self.signing_key(secret, xdate[0:8]), sts.encode("utf-8"), hashlib.sha256).hexdigest()
        return cr, sts, sig


class Verifier:
    """Checks requests for one service in one region."""

    def __init__(self, service, region, creds, clock, allow_missing=False, deviate=None, fast=None):
        self.service = service
        self.region = region
        self.creds = creds
        self.clock = clock      # () -> the server's time, seconds
        self.allow_missing = allow_missing
        self.deviate = deviate or (lambda text: None)
        self.fast = fast        # a FastSigner (--count-only), else botocore alone
        self.lock = threading.Lock()
        self.counts = {}
        self.keys = {}          # shown key id -> requests it signed that passed

    def count(self, what, key_id=None):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if key_id is not None:
                k = show_key(key_id)
                self.keys[k] = self.keys.get(k, 0) + 1

    def verify(self, h, body):
        """None when the request is properly signed, else AuthError."""
        try:
            key_id = self._verify(h, body)
        except AuthError as e:
            self.count(e.etype)
            raise
        self.count("ok", key_id)
        return None

    def _verify(self, h, body):
        auth = h.headers.get("Authorization")
        if auth is None:
            raise AuthError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        parts, missing = parse_authorization(auth.strip())
        xdate = h.headers.get("X-Amz-Date")
        msgs = ["Authorization header requires '%s' parameter." % k for k in missing]
        if xdate is None and h.headers.get("Date") is None:
            msgs.append("Authorization header requires existence of either a 'X-Amz-Date' or a "
                        "'Date' header.")
        if msgs:
            raise AuthError(403, "IncompleteSignatureException",
                            " ".join(msgs) + " Authorization=%s" % redact_auth(auth))
        if xdate is None:
            # Only a Date header: RFC 1123.
            try:
                t = calendar.timegm(time.strptime(h.headers["Date"], "%a, %d %b %Y %H:%M:%S GMT"))
            except ValueError:
                raise AuthError(403, "IncompleteSignatureException",
                                "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                                "http://en.wikipedia.org/wiki/ISO_8601" % h.headers["Date"])
            xdate = amz_date(t)
        elif not AMZ_DATE.match(xdate):
            raise AuthError(403, "IncompleteSignatureException",
                            "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                            "http://en.wikipedia.org/wiki/ISO_8601" % xdate)
        else:
            try:
                t = parse_amz_date(xdate)
            except ValueError:
                raise AuthError(403, "IncompleteSignatureException",
                                "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                                "http://en.wikipedia.org/wiki/ISO_8601" % xdate)
        cred = parts["Credential"].split("/")
        if len(cred) != 5:
            raise AuthError(403, "IncompleteSignatureException",
                            "Credential must have exactly 5 slash-delimited elements, e.g. "
                            "keyid/date/region/service/term, got '%s'" % redact_auth(
                                "Credential=" + parts["Credential"])[len("Credential="):])
        key_id, scope_date, region, service, term = cred
        if scope_date != xdate[:8]:
            raise AuthError(403, "InvalidSignatureException",
                            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                            "of date from HTTP: '%s' != '%s', from '%s'." % (scope_date, xdate[:8], xdate))
        if region != self.region:
            raise AuthError(403, "InvalidSignatureException",
                            "Credential should be scoped to a valid region, not '%s'. " % region)
        if service != self.service:
            raise AuthError(403, "InvalidSignatureException",
                            "Credential should be scoped to correct service: '%s'. " % self.service)
        if term != "aws4_request":
            raise AuthError(403, "InvalidSignatureException",
                            "Credential should be scoped with a valid terminator: 'aws4_request', "
                            "not '%s'. " % term)
        signed = parts["SignedHeaders"].split(";")
        if "host" not in signed:
            raise AuthError(403, "InvalidSignatureException",
                            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
        if h.headers.get("X-Amz-Date") is not None and "x-amz-date" not in signed:
            raise AuthError(403, "InvalidSignatureException",
                            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
        token = h.headers.get("X-Amz-Security-Token")
        if token is not None and "x-amz-security-token" not in signed:
            raise AuthError(403, "InvalidSignatureException",
                            "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
        hdrs = {}
        for name in signed:
            values = h.headers.get_all(name)
            if values is None:
                if not self.allow_missing:
                    raise AuthError(403, "IncompleteSignatureException",
                                    "'%s' is named as a SignedHeader, but it does not exist in the "
                                    "HTTP request." % name)
                self.deviate("signed header '%s' is not in the request (signed as empty)" % name)
                values = [""]
            hdrs[name] = ",".join(values)
        now = self.clock()
        if t < now - MAX_SKEW_S:
            raise AuthError(403, "InvalidSignatureException",
                            "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                            % (xdate, amz_date(now - MAX_SKEW_S), amz_date(now)))
        if t > now + MAX_SKEW_S:
            raise AuthError(403, "InvalidSignatureException",
                            "Signature not yet current: %s is still later than %s (%s + 5 min.)"
                            % (xdate, amz_date(now + MAX_SKEW_S), amz_date(now)))
        c = self.creds.lookup(key_id)
        invalid = AuthError(403, "UnrecognizedClientException",
                            "The security token included in the request is invalid.")
        if c is None:
            raise invalid
        if c["Token"] is None:
            if token is not None:
                raise invalid
        else:
            if token is None or token != c["Token"]:
                raise invalid
            if (c["Expiration"] is not None and now >= c["Expiration"]) or \
                    c["added"] < self.creds.expired_before:
                raise AuthError(403, "ExpiredTokenException",
                                "The security token included in the request is expired")
        # The referee: botocore signs the same request with the same key
        # (or FastSigner does what it would, see there).
        signed = None
        if self.fast is not None:
            signed = self.fast.sign(h.command, h.path, h.headers.get("Host", ""), hdrs, body or b"",
                                    xdate, c["SecretAccessKey"])
        if signed is not None:
            cr, sts, want = signed
        else:
            req = AWSRequest(method=h.command, url="http://" + h.headers.get("Host", "") + h.path,
                             data=body or b"", headers=hdrs)
            req.context["timestamp"] = xdate
            signer = Referee(BotoCredentials(key_id, c["SecretAccessKey"], c["Token"]),
                             self.service, self.region)
            cr = signer.canonical_request(req)
            sts = signer.string_to_sign(req, cr)
            want = signer.signature(sts, req)
        if want != parts["Signature"]:
            shown = cr
            if c["Token"]:
                shown = shown.replace(c["Token"], "[REDACTED]")
            raise AuthError(403, "InvalidSignatureException",
                            MISMATCH + "\n\nThe Canonical String for this request should have been\n'"
                            + shown + "'\n\nThe String-to-Sign should have been\n'" + sts + "'\n")
        return key_id


# ---- server plumbing ------------------------------------------------------------

class Answer(fakehttp.Answer):
    """An answer with a raw body (bytes) or a JSON one, and its content type."""

    def __init__(self, status, body, headers=None, content_type="application/json", raw=None):
        fakehttp.Answer.__init__(self, status, body, headers)
        self.content_type = content_type
        self.raw = raw


class AwsHandler(fakehttp.Handler):
    def version_string(self):
        return "Server"

    def date_time_string(self, timestamp=None):
        # The Date header shows the server's clock, skew included.
        from email.utils import formatdate
        return formatdate(self.server.clock() if timestamp is None else timestamp, usegmt=True)

    def send_answer(self, a):
        st = self.server.state
        with st.lock:
            st.statuses[str(a.status)] = st.statuses.get(str(a.status), 0) + 1
        if getattr(a, "raw", None) is not None:
            data = a.raw
        elif a.body is None:
            data = b""
        else:
            data = json.dumps(a.body, separators=(",", ":")).encode()
        try:
            self.send_response(a.status)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Type", getattr(a, "content_type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            for k, v in (a.headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def aws_control(self, method):
        st = self.server.state
        rc = self.server.receiver
        path = self.path.split("?")[0]
        if method == "GET" and path == "/_fake/stored":
            return self.send_json(200, rc.stored())
        if method == "POST" and path in ("/_fake/clock", "/_fake/credentials", "/_fake/reset") or \
                (method == "POST" and path.startswith("/_fake/") and rc.has_control(path)):
            raw = self.read_body() or b"null"
            try:
                arg = json.loads(raw)
            except ValueError:
                return self.send_json(400, {"error": "control body must be JSON"})
            if path == "/_fake/clock":
                self.server.skew = float((arg or {}).get("skew", 0))
                return self.send_json(200, {"skew": self.server.skew})
            if path == "/_fake/credentials":
                arg = arg or {}
                if arg.get("expire"):
                    self.server.creds.expire_all(time.time() + 1e-6)
                if arg.get("add"):
                    self.server.creds.add(arg["add"])
                return self.send_json(200, {})
            if path == "/_fake/reset":
                with st.lock:
                    st.reset()
                rc.reset()
                self.server.skew = self.server.initial_skew
                return self.send_json(200, {})
            return rc.control(self, path, arg)
        return self.control(method)

    def handle_any(self, method):
        if self.path.startswith("/_fake/"):
            return self.aws_control(method)
        st = self.server.state
        rc = self.server.receiver
        with st.lock:
            st.requests += 1
        body = self.read_body() if method in ("POST", "PUT") else b""
        if body is None:
            return self.send_answer(rc.error(411, "LengthRequiredException", "Content-Length required"))
        try:
            self.server.verifier.verify(self, body)
        except AuthError as e:
            return self.send_answer(rc.error(e.status, e.etype, e.message, auth=True))
        op = rc.operation(self)
        fault = next_fault(st, op, rc.data_op, rc.deferred_faults)
        if fault is not None:
            if self.transport_fault(fault):
                return
            kind = fault.get("kind")
            if kind == "status":
                code = int(fault.get("status", 500))
                etype = fault.get("type") or rc.default_type(code)
                headers = {}
                if "retry_after" in fault:
                    headers["Retry-After"] = fault["retry_after"]
                return self.send_answer(rc.error(code, etype, fault.get("message", "injected fault"),
                                                 headers=headers))
            if kind == "throttle":
                status, etype, msg = rc.throttle
                return self.send_answer(rc.error(int(fault.get("status", status)),
                                                 fault.get("type", etype), fault.get("message", msg)))
            if kind == "unavailable":
                status, etype, msg = rc.unavailable
                return self.send_answer(rc.error(int(fault.get("status", status)),
                                                 fault.get("type", etype), fault.get("message", msg)))
            if kind == "expired_token":
                return self.send_answer(rc.error(403, "ExpiredTokenException",
                                                 "The security token included in the request is expired",
                                                 auth=True))
        try:
            answer = rc.handle(self, method, body, op, fault)
        finally:
            release_fault(st, fault)
        if fault is not None and fault.get("kind") == "delay":
            time.sleep(float(fault.get("seconds", 5)))
        self.send_answer(answer)


class AwsState(fakehttp.State):
    """fakehttp's counters plus the receiver's and the signature checks'."""

    def __init__(self, receiver):
        self.receiver = receiver
        fakehttp.State.__init__(self)

    def stats(self):
        s = fakehttp.State.stats(self)
        s.update(self.receiver.stats_extra())
        return s


def next_fault(st, op, data_op, deferred=()):
    """The first queued fault waiting for operation op (faults without "op"
    wait for the data operation). It is consumed now, unless its kind is
    one of `deferred`: those depend on what the request holds (documents to
    leave unprocessed, events to report) and stay queued until the receiver
    applies one and calls consume_fault, so that a request refused for
    another reason does not use them up. A deferred fault is claimed by one
    request at a time: requests that arrive together (several in flight)
    never both apply it; release_fault gives back one that was not applied."""
    with st.lock:
        for f in st.faults:
            if f.get("op", data_op) != op or f.get("_claimed"):
                continue
            if f.get("kind") in deferred:
                f["_claimed"] = True
                return f
            _consume(st, f)
            return dict(f)
    return None


def _consume(st, f):
    times = f.get("times", 1)
    if times <= 1:
        st.faults.remove(f)
    else:
        f["times"] = times - 1
    st.faults_served += 1


def consume_fault(st, f):
    """A deferred fault (see next_fault) was applied."""
    with st.lock:
        if any(g is f for g in st.faults):
            f.pop("_claimed", None)
            _consume(st, f)


def release_fault(st, f):
    """The request that claimed deferred fault f is over: if it did not
    apply f, f waits for the next request again."""
    if f is None:
        return
    with st.lock:
        f.pop("_claimed", None)


def add_common_args(ap, service):
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--region", default="us-east-1", help="the region requests must be scoped to")
    ap.add_argument("--service", default=service, help="the SigV4 service name")
    ap.add_argument("--access-key", help="an access key id to accept")
    ap.add_argument("--secret-key", help="its secret")
    ap.add_argument("--session-token", help="with --access-key: temporary credentials with this token")
    ap.add_argument("--creds-file", help="JSON credentials ({AccessKeyId, SecretAccessKey, Token, "
                                         "Expiration}, or a list), read again when it changes")
    ap.add_argument("--clock-skew", type=float, default=0.0,
                    help="seconds the server's clock runs ahead of the real one (negative: behind)")
    ap.add_argument("--allow-missing-signed-headers", action="store_true",
                    help="a header named in SignedHeaders but absent from the request counts as "
                         "empty (as STS does) and as a deviation, instead of 403 "
                         "IncompleteSignatureException (as AppSync answers)")


def serve(name, receiver, argv=None, extra_args=None):
    ap = argparse.ArgumentParser(description="%s fake" % name)
    add_common_args(ap, receiver.service)
    if extra_args:
        extra_args(ap)
    args = ap.parse_args(argv)
    static = []
    if args.access_key:
        if not args.secret_key:
            ap.error("--access-key needs --secret-key")
        static.append({"AccessKeyId": args.access_key, "SecretAccessKey": args.secret_key,
                       "Token": args.session_token})
    if not static and not args.creds_file:
        ap.error("give --access-key/--secret-key or --creds-file")
    creds = Credentials(static, args.creds_file)
    if getattr(args, "count_only", False):
        import fastaws
        return fastaws.serve(name, receiver, args, creds, ap)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), AwsHandler)
    server.daemon_threads = True
    server.state = AwsState(receiver)
    server.receiver = receiver
    server.creds = creds
    server.initial_skew = args.clock_skew
    server.skew = args.clock_skew
    server.clock = lambda: time.time() + server.skew
    server.verifier = Verifier(args.service, args.region, creds, server.clock,
                               args.allow_missing_signed_headers, server.state.deviate)
    server.verbose = args.verbose
    server.name = name
    receiver.state = server.state
    receiver.server = server
    receiver.configure(args)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


class Receiver:
    """What a service fake fills in (see xray_api.py, cloudwatch_logs.py)."""
    service = ""
    data_op = ""
    throttle = (429, "ThrottlingException", "Rate exceeded")
    unavailable = (503, "ServiceUnavailableException", "Service Unavailable")
    deferred_faults = ()    # kinds applied (and consumed) by the receiver itself

    def configure(self, args):
        pass

    def reset(self):
        pass

    def stored(self):
        return []

    def has_control(self, path):
        return False

    def control(self, h, path, arg):
        return h.send_json(404, {"error": "no such control endpoint"})

    def operation(self, h):
        return self.data_op

    def default_type(self, status):
        if status == 429:
            return self.throttle[1]
        if status >= 500:
            return "InternalFailure" if status == 500 else "ServiceUnavailableException"
        if status == 403:
            return "AccessDeniedException"
        return "ValidationException"

    def stats_extra(self):
        """Counters added to /_fake/stats: signature checks as auth_<result>,
        and auth_keys: {"****LAST4": requests} by the access key id of each
        request that passed (its last four characters, as messages show it)."""
        v = self.server.verifier
        with v.lock:
            out = {"auth_" + k: n for k, n in v.counts.items()}
            keys = dict(v.keys)
        out["auth_failed"] = sum(n for k, n in out.items() if k != "auth_ok")
        out["auth_ok"] = out.get("auth_ok", 0)
        out["auth_keys"] = keys
        out["clock_skew"] = self.server.skew
        out["creds_file_reads"] = self.server.creds.reloads
        return out
