"""threadcpu: CPU time of processes and their descendants, by thread name.

  threadcpu.py snap PID...          prints "name ticks" per thread name (user +
                                    system clock ticks of every thread of PID and
                                    of its descendants, alive now)
  threadcpu.py per BEFORE AFTER N   prints "name=us" per thread name: the CPU
                                    microseconds per request between two snaps
                                    (files), over N requests, largest first

scripts/bench uses it to tell where a request's CPU goes: the workers' request
threads ("cruddur-api"), their copier and checkpointer threads, nginx. Reads
/proc only (Linux).
"""
import os
import sys


def children_of(pid):
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def snap(roots):
    ticks, seen, todo = {}, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
            todo += children_of(pid)
        except OSError:
            continue
        for task in tasks:
            try:
                with open("/proc/%d/task/%s/stat" % (pid, task)) as f:
                    stat = f.read()
            except OSError:
                continue
            # the name is in parentheses and may hold spaces or parentheses
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            ticks[name] = ticks.get(name, 0) + int(fields[11]) + int(fields[12])
    for name in sorted(ticks):
        print("%s %d" % (name.replace(" ", "_"), ticks[name]))


def load(path):
    with open(path) as f:
        return {line.split()[0]: int(line.split()[1]) for line in f if line.strip()}


def per(before, after, n):
    a, b = load(before), load(after)
    hz = os.sysconf("SC_CLK_TCK")
    rows = [(name, (b[name] - a.get(name, 0)) * 1e6 / hz / n) for name in b]
    rows.sort(key=lambda r: -r[1])
    print(" ".join("%s=%.1f" % r for r in rows if r[1] >= 0.05) or "-")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "snap":
        snap([int(p) for p in sys.argv[2:]])
    elif len(sys.argv) == 5 and sys.argv[1] == "per":
        n = int(sys.argv[4])
        if n <= 0:
            print("-")
            return
        per(sys.argv[2], sys.argv[3], n)
    else:
        sys.stderr.write(__doc__)
        sys.exit(64)


if __name__ == "__main__":
    main()
