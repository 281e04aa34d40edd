#!/usr/bin/env python3
"""aws_metadata: a fake of the two services AWS credentials come from on a
host, on one loopback port (Python 3 standard library only).

EC2 instance metadata, IMDSv2 only (an instance with HttpTokens=required):

  PUT /latest/api/token     needs X-aws-ec2-metadata-token-ttl-seconds, an
                            integer 1..21600 (400 otherwise); refused (403)
                            when the request has X-Forwarded-For; answers a
                            session token (text/plain) valid that long
  GET /latest/meta-data/... needs a valid X-aws-ec2-metadata-token (401
                            without one, or with an unknown or expired one)
      .../iam/security-credentials/       the role name (--role), 404 with no role
      .../iam/security-credentials/ROLE   {"Code": "Success", "LastUpdated",
                                           "Type": "AWS-HMAC", "AccessKeyId",
                                           "SecretAccessKey", "Token", "Expiration"}
      .../instance-id                     i-0fake0000000000001
  other methods on /latest/   405

Container credentials (ECS task role / EKS Pod Identity):

  GET --container-path (default /v2/credentials/cruddur)
      {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"};
      with --container-token TOKEN (or --container-token-file PATH, read at
      every request), Authorization must equal it: 401 without, 403 when wrong,
      with {"code": "AccessDenied", "message": ...}

Every credential fetch hands out new credentials (AccessKeyId ASIAFAKE + a
counter, new secret and Token) that expire --lifetime seconds later
(default 3600; "Expiration" is UTC, "2024-01-01T12:00:00Z").

--creds-file PATH: the credentials handed out and not revoked, as a JSON list
of {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} (oldest first,
at most the last 1000), rewritten atomically (a temporary file renamed over
it) at start and on every issue or revocation. Service fakes read it to know
which credentials to accept (and check Expiration themselves).

Control API (besides fakehttp.py's stats, stat/K, faults and reset; faults
are consumed by the next credential-service requests, whatever their path):

  GET  /_fake/stats         counters (JSON), among them:
      credential_fetches      credentials handed out (IMDS and container)
      imds_fetches, container_fetches
      token_requests          IMDS session tokens handed out
      unauthorized            401 and 403 answers
      bad_requests            400 answers (TTL header missing or out of range)
  GET  /_fake/stat/K        counter K alone, as text
  GET  /_fake/credentials   the credentials handed out (JSON list, with "revoked")
  POST /_fake/config        {"lifetime": 400, "role": "r", "no_role": true,
                             "code": "AssumeRoleUnauthorizedAccess"}: changes
                            what later fetches get (code: IMDS answers that
                            Code and no credentials; null for Success)
  POST /_fake/revoke        {"AccessKeyId": "ASIA..."}, or {} for all so far:
                            dropped from --creds-file
  POST /_fake/reset         forget everything (the creds file becomes [])

Usage (the port is written to --port-file once the server is ready, as the
other fakes do):

  python3 tests/fakes/aws_metadata.py --port-file $T/meta.port \\
      --creds-file $T/creds.json --lifetime 600 --container-token-file $T/tok &
  AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$(cat $T/meta.port)
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$(cat $T/meta.port)/v2/credentials/cruddur
  curl -s http://127.0.0.1:$(cat $T/meta.port)/_fake/stat/credential_fetches
"""

import argparse
import base64
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakehttp  # noqa: E402

ROLES = "/latest/meta-data/iam/security-credentials/"
MAX_TTL = 21600
MAX_KEPT = 1000


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def text(status, body):
    """A plain-text answer (the instance metadata service's form)."""
    return fakehttp.Answer(status, body.encode() if isinstance(body, str) else body,
                           {"Content-Type": "text/plain"})


class Receiver:
    def configure(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.lifetime = args.lifetime
        self.role = args.role
        self.no_role = False
        self.code = None
        self.forget()

    def forget(self):
        with self.lock:
            self.tokens = {}        # IMDS session token -> expiry (time.time())
            self.issued = []        # dicts, oldest first
            self.serial = 0
        self.write_creds()

    # -- what fakehttp asks ------------------------------------------------------
    def is_data_path(self, path):
        p = path.split("?")[0]
        return p.startswith("/latest/") or p == self.args.container_path

    def error_body(self, code, message):
        return {"code": "Fault", "message": message}

    def count(self, key, n=1):
        with self.state.lock:
            self.state.extra[key] = self.state.extra.get(key, 0) + n

    # -- credentials ----------------------------------------------------------------
    def issue(self, via):
        with self.lock:
            self.serial += 1
            now = time.time()
            c = {
                "AccessKeyId": "ASIAFAKE%012d" % self.serial,
                # the alphabet of real ones: '+', '/' and '=' included
                "SecretAccessKey": base64.b64encode(secrets.token_bytes(30)).decode(),
                "Token": "IQoJb3JpZ2luX2Vj" + base64.b64encode(secrets.token_bytes(301)).decode(),
                "Expiration": utc(now + self.lifetime),
                "LastUpdated": utc(now),
                "via": via,
                "revoked": False,
            }
            self.issued.append(c)
            del self.issued[:-MAX_KEPT]
        self.count("credential_fetches")
        self.count(via + "_fetches")
        self.write_creds()
        return c

    def write_creds(self):
        path = self.args.creds_file
        if not path:
            return
        with self.lock:
            live = [{k: c[k] for k in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration")}
                    for c in self.issued if not c["revoked"]]
            d = os.path.dirname(os.path.abspath(path))
            fd, tmp = tempfile.mkstemp(prefix=".creds-", dir=d)
            with os.fdopen(fd, "w") as f:
                json.dump(live, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)

    def revoke(self, key_id):
        with self.lock:
            n = 0
            for c in self.issued:
                if key_id is None or c["AccessKeyId"] == key_id:
                    n += not c["revoked"]
                    c["revoked"] = True
        self.write_creds()
        return n

    # -- the services -------------------------------------------------------------------
    def handle(self, h, method, body, fault):
        path = h.path.split("?")[0]
        if path == self.args.container_path:
            return self.container(h, method)
        return self.imds(h, method, path)

    def refuse(self, status, message):
        self.count("unauthorized" if status in (401, 403) else "bad_requests")
        return fakehttp.Answer(status, {"code": "AccessDenied" if status in (401, 403) else "BadRequest",
                                        "message": message})

    def container(self, h, method):
        if method != "GET":
            return fakehttp.Answer(405, {"code": "MethodNotAllowed", "message": "GET only"})
        want = self.args.container_token
        if self.args.container_token_file:
            try:
                with open(self.args.container_token_file) as f:
                    want = f.read().strip()
            except OSError as e:
                return fakehttp.Answer(500, {"code": "InternalError", "message": str(e)})
        if want:
            got = h.headers.get("Authorization")
            if got is None:
                return self.refuse(401, "Authorization header required")
            if got != want:
                return self.refuse(403, "invalid authorization token")
        c = self.issue("container")
        return fakehttp.Answer(200, {
            "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "Token": c["Token"], "Expiration": c["Expiration"],
            "RoleArn": "arn:aws:iam::123456789012:role/%s" % self.role,
        })

    def imds(self, h, method, path):
        now = time.time()
        if path == "/latest/api/token":
            if method != "PUT":
                return text(405, "")
            if h.headers.get("X-Forwarded-For") is not None:
                return self.refuse(403, "forwarded token requests are refused")
            ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.strip().isdigit() or not 1 <= int(ttl) <= MAX_TTL:
                self.count("bad_requests")
                return text(400, "")
            token = "AQAEA" + secrets.token_urlsafe(40)
            with self.lock:
                self.tokens = {t: e for t, e in self.tokens.items() if e > now}
                self.tokens[token] = now + int(ttl)
            self.count("token_requests")
            return fakehttp.Answer(200, token.encode(), {
                "Content-Type": "text/plain", "X-aws-ec2-metadata-token-ttl-seconds": ttl.strip()})
        if method != "GET":
            return text(405, "")
        token = h.headers.get("X-aws-ec2-metadata-token")
        with self.lock:
            ok = token is not None and self.tokens.get(token, 0) > now
        if not ok:
            self.count("unauthorized")
            return text(401, "")
        if path == "/latest/meta-data/" or path == "/latest/meta-data":
            return text(200, "iam/\ninstance-id")
        if path == "/latest/meta-data/instance-id":
            return text(200, "i-0fake0000000000001")
        if path == ROLES or path == ROLES[:-1]:
            return text(404, "") if self.no_role else text(200, self.role)
        if path.startswith(ROLES):
            if self.no_role or path[len(ROLES):] != self.role:
                return text(404, "")
            if self.code:
                return fakehttp.Answer(200, {"Code": self.code, "LastUpdated": utc(now),
                                             "Message": "the role cannot be assumed"})
            c = self.issue("imds")
            return fakehttp.Answer(200, {
                "Code": "Success", "LastUpdated": c["LastUpdated"], "Type": "AWS-HMAC",
                "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
                "Token": c["Token"], "Expiration": c["Expiration"],
            })
        return text(404, "")


class Handler(fakehttp.Handler):
    # The metadata service takes a PUT with no body and no Content-Length
    # (curl -X PUT does that); fakehttp's default would answer 411.
    def read_body(self):
        if self.headers.get("Content-Length") is None and \
                self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        return super().read_body()

    def finish_answer(self, a):
        if not isinstance(a.body, bytes):
            return super().finish_answer(a)
        st = self.server.state
        with st.lock:
            st.statuses[str(a.status)] = st.statuses.get(str(a.status), 0) + 1
        try:
            self.send_response(a.status)
            headers = dict(a.headers)
            self.send_header("Content-Type", headers.pop("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(a.body)))
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(a.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def control(self, method):
        rc = self.server.receiver
        path = self.path.split("?")[0]
        if method == "GET" and path == "/_fake/credentials":
            with rc.lock:
                return self.send_json(200, [dict(c) for c in rc.issued])
        if method == "POST" and path in ("/_fake/config", "/_fake/revoke", "/_fake/reset"):
            raw = self.read_body() or b"{}"
            try:
                arg = json.loads(raw or b"{}") or {}
            except ValueError:
                return self.send_json(400, {"error": "control body must be JSON"})
            if path == "/_fake/reset":
                with self.server.state.lock:
                    self.server.state.reset()
                rc.forget()
                return self.send_json(200, {})
            if path == "/_fake/revoke":
                return self.send_json(200, {"revoked": rc.revoke(arg.get("AccessKeyId"))})
            with rc.lock:
                if "lifetime" in arg:
                    rc.lifetime = int(arg["lifetime"])
                if "role" in arg:
                    rc.role = str(arg["role"])
                if "no_role" in arg:
                    rc.no_role = bool(arg["no_role"])
                if "code" in arg:
                    rc.code = arg["code"]
                return self.send_json(200, {"lifetime": rc.lifetime, "role": rc.role,
                                            "no_role": rc.no_role, "code": rc.code})
        return super().control(method)


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake EC2 instance metadata (IMDSv2) and container credentials")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--lifetime", type=int, default=3600, help="seconds the credentials handed out last")
    ap.add_argument("--role", default="cruddur-export")
    ap.add_argument("--container-path", default="/v2/credentials/cruddur")
    ap.add_argument("--container-token", help="the Authorization value container requests must carry")
    ap.add_argument("--container-token-file", help="a file holding it (read at every request)")
    ap.add_argument("--creds-file", help="write the credentials handed out here (JSON list)")
    args = ap.parse_args(argv)
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = fakehttp.State()
    server.receiver = receiver
    receiver.state = server.state
    receiver.configure(args)
    server.verbose = args.verbose
    server.name = "aws_metadata"
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
