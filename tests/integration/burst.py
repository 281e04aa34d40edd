"""burst: N GETs of the home feed, THREADS at a time, each on a connection of
its own and with a traceparent of its own (a fresh trace id per request).

usage: burst.py PORT N THREADS AGENT OUT [--kill PID]

AGENT is the User-Agent, so that a test can find its requests in the spool.
OUT receives the trace ids of the requests answered 200, one per line.

Without --kill every answer must be 200 and name its trace in
X-Amzn-Trace-Id; prints "ok N", or "failed K" and the first failures.
With --kill PID, PID gets SIGKILL once a third of the requests are
answered, and requests may fail; prints "answered A, other O, killed BOOL".
"""
import http.client
import os
import signal
import sys
import threading
import time


def main():
    args = sys.argv[1:]
    victim = None
    if "--kill" in args:
        k = args.index("--kill")
        victim = int(args[k + 1])
        del args[k:k + 2]
    port, n, threads, agent, out = int(args[0]), int(args[1]), int(args[2]), args[3], args[4]

    ids = ["%08x%s" % (int(time.time()), os.urandom(12).hex()) for _ in range(n)]
    lock = threading.Lock()
    answered, errors = [], []
    next_i = [0]
    killed = [False]

    def one(tid):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/api/activities/home",
                         headers={"traceparent": "00-%s-%s-01" % (tid, os.urandom(8).hex()),
                                  "User-Agent": agent})
            r = conn.getresponse()
            r.read()
            xray = r.getheader("X-Amzn-Trace-Id") or ""
            want = "Root=1-%s-%s" % (tid[:8], tid[8:])
            if r.status != 200:
                return "%s: %d" % (tid, r.status)
            if victim is None and not (xray == want or xray.startswith(want + ";")):
                return "%s: X-Amzn-Trace-Id %r" % (tid, xray)
            return None
        finally:
            conn.close()

    def worker():
        while True:
            with lock:
                i = next_i[0]
                if i >= n:
                    return
                next_i[0] += 1
                if victim is not None and not killed[0] and len(answered) >= n // 3:
                    os.kill(victim, signal.SIGKILL)
                    killed[0] = True
            tid = ids[i]
            try:
                failure = one(tid)
            except Exception as e:  # noqa: BLE001 - any failure is counted
                failure = "%s: %r" % (tid, e)
            with lock:
                if failure is None:
                    answered.append(tid)
                else:
                    errors.append(failure)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(out, "w") as f:
        f.write("".join(t + "\n" for t in answered))
    if victim is not None:
        print("answered %d, other %d, killed %s" % (len(answered), len(errors), killed[0]))
    elif errors:
        print("failed %d" % len(errors))
        for e in errors[:20]:
            print("  " + e)
    else:
        print("ok %d" % n)


if __name__ == "__main__":
    main()
