"""System calls per request per sidecar, for every proxy alike.

Each sidecar's processes (every thread; nginx: master and workers) are
counted by `perf stat` on the `raw_syscalls:sys_enter` tracepoint (all system
calls) and one `syscalls:sys_enter_NAME` tracepoint per call of interest (the
breakdown), plus `syscalls:sys_exit_NAME` filtered on `ret == -11` for the
receive calls (a receive that found nothing: EAGAIN). perf counts in the
kernel, so the load runs at its usual speed. perf is attached with its events
disabled and switched on and off through its control FIFO around the load
(`--control`, `-D -1`), so the window is the load's and nothing else.

Two loads, each over kept-alive connections: wrk with 50 connections (the
throughput run's load: the machine is saturated and one epoll_wait returns
several events) and h2load at the latency run's fixed rate (every proxy
gets the same work; nearly every event has an epoll_wait of its own).
Counts are divided by the requests the load generator completed.

Without a working perf (no binary, no tracefs, no permission), strace -c -f
is the fallback, on the same loads: it stops the traced thread on every call,
so the pair runs several times slower (more events per epoll_wait, fewer
requests), and the report names the method.
"""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

from . import load
from .procs import BenchError, run_tool

# Each tracepoint costs perf about 40 ms to close: the calls these proxies
# make, the rest is "other" (raw_syscalls counts every call).
RECEIVE = ("read", "readv", "recvfrom", "recvmsg")
SEND = ("write", "writev", "sendto", "sendmsg")
WAIT = ("epoll_wait", "epoll_pwait", "epoll_pwait2", "io_uring_enter")
OTHER = ("epoll_ctl", "timerfd_settime", "futex", "accept", "accept4", "close", "connect", "shutdown",
         "getsockopt", "setsockopt", "ioctl", "clock_gettime", "gettimeofday", "sched_yield", "mmap", "munmap",
         "madvise", "brk")
NAMES = RECEIVE + SEND + WAIT + OTHER
EAGAIN = 11
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
# The floor of issue 13 per sidecar per request on a kept-alive connection:
# 2 receives, 2 sends, at most one epoll_wait.
FLOOR = {"receive": 2, "send": 2, "wait": 1}


# ------------------------------------------------------------------------------------
# which counter works here

def _tracepoints():
    """Names of the syscalls:sys_enter_* tracepoints, or None when tracefs is not readable."""
    for root in TRACEFS:
        d = os.path.join(root, "events", "syscalls")
        try:
            return {e[len("sys_enter_"):] for e in os.listdir(d) if e.startswith("sys_enter_")}
        except OSError:
            continue
    return None


def perf_check(reg, workdir):
    """(True, "") when perf can count a process's system calls the way PerfCounter
    does (attached with -p, switched on through its control FIFO), else (False, why)."""
    if not shutil.which("perf"):
        return False, "perf is not installed (linux-perf)"
    if _tracepoints() is None:
        return False, "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
    sleeper = reg.start("perf-check-target", [sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"],
                        os.path.join(workdir, "perf-check-target.log"))
    counter = None
    try:
        counter = PerfCounter(reg, workdir, "check", [sleeper.pid], names=())
        counter.enable(timeout=20)
        time.sleep(0.2)  # the target makes about 20 calls meanwhile
        counter.disable()
        counts = counter.finish()
        counter = None
        if counts["total"] == 0:
            return False, "perf stat -p counted no system call of a process making them"
        return True, ""
    except (BenchError, OSError) as e:
        said = counter.proc.log_tail(3).strip().replace("\n", " ") if counter else ""
        first = next((l for l in str(e).splitlines() if l.strip()), "?")
        return False, "perf stat -p does not work here: %s" % (said or first)[:240]
    finally:
        if counter:
            reg.stop(counter.proc)
            counter.close()
        reg.stop(sleeper)


def choose_method(reg, workdir, wanted):
    """("perf" | "strace", note) or (None, why not measured)."""
    os.makedirs(workdir, exist_ok=True)
    if wanted in ("perf", "auto"):
        ok, why = perf_check(reg, workdir)
        if ok:
            return "perf", ""
        if wanted == "perf":
            return None, why
        if shutil.which("strace"):
            return "strace", why + "; strace -c fallback"
        return None, why + "; no strace either"
    if shutil.which("strace"):
        return "strace", "strace -c (asked for)"
    return None, "strace is not installed"


# ------------------------------------------------------------------------------------
# perf stat through its control FIFO

class _Counter:
    """What the two counters share: SIGINT makes the tool write its counts and
    exit (closing perf's events, or detaching strace, takes it a while)."""

    def interrupt(self):
        if not self.interrupted and self.proc.alive():
            self.proc.popen.send_signal(signal.SIGINT)
        self.interrupted = True

    def _stop(self, tool, verb, timeout):
        try:
            self.interrupt()
            if self.proc.alive():
                self.proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("%s %s did not %s within %ss" % (tool, self.name, verb, timeout)) from None
        finally:
            self.reg.stop(self.proc)
            self.close()


class PerfCounter(_Counter):
    """`perf stat -p PIDS` started with its events off; enable()/disable() bracket the load."""

    def __init__(self, reg, workdir, name, pids, names=NAMES):
        self.reg, self.name = reg, name
        os.makedirs(workdir, exist_ok=True)
        self.out = os.path.join(workdir, "perf-%s.csv" % name)
        self.ctl_path = os.path.join(workdir, "perf-%s.ctl" % name)
        self.ack_path = os.path.join(workdir, "perf-%s.ack" % name)
        for p in (self.ctl_path, self.ack_path, self.out):
            if os.path.exists(p):
                os.remove(p)
        os.mkfifo(self.ctl_path)
        os.mkfifo(self.ack_path)
        # O_RDWR: neither side blocks in open(), whoever comes first.
        self.ctl = os.open(self.ctl_path, os.O_RDWR)
        self.ack = os.open(self.ack_path, os.O_RDWR)
        available = _tracepoints() or set()
        self.names = [n for n in names if n in available]
        events = ["-e", "raw_syscalls:sys_enter"]
        for n in self.names:
            events += ["-e", "syscalls:sys_enter_%s" % n]
        for n in RECEIVE:
            if n in self.names:
                events += ["-e", "syscalls:sys_exit_%s" % n, "--filter", "ret == -%d" % EAGAIN]
        args = ["perf", "stat", "-x,", "-o", self.out, "-D", "-1",
                "--control", "fifo:%s,%s" % (self.ctl_path, self.ack_path)] + events + \
               ["-p", ",".join(str(p) for p in pids)]
        self.proc = reg.start("perf-" + name, args, os.path.join(workdir, "perf-%s.log" % name))
        self.interrupted = False

    def close(self):
        """The FIFOs go; idempotent."""
        for fd in (self.ctl, self.ack):
            if fd is not None:
                os.close(fd)
        self.ctl = self.ack = None
        for p in (self.ctl_path, self.ack_path):
            if os.path.exists(p):
                os.remove(p)

    def _command(self, word, timeout):
        os.write(self.ctl, (word + "\n").encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.check_alive()
            r, _, _ = select.select([self.ack], [], [], 0.2)
            if r and b"ack" in os.read(self.ack, 64):
                return
        raise BenchError("perf %s: no ack to %r within %ss" % (self.name, word, timeout))

    def enable(self, timeout=30.0):
        """Returns once perf has opened every event and switched them on."""
        self._command("enable", timeout)

    def disable(self, timeout=10.0):
        self._command("disable", timeout)

    def finish(self, timeout=20.0):
        """{"total", "by_name": {name: n}, "eagain_receives"} once perf has written its counts."""
        self._stop("perf", "exit", timeout)
        counts = {}
        with open(self.out) as f:
            for line in f:
                parts = line.strip().split(",")
                # "<not counted>": the threads never ran while it was on
                if len(parts) >= 3 and (parts[0].isdigit() or parts[0] == "<not counted>"):
                    counts[parts[2]] = int(parts[0]) if parts[0].isdigit() else 0
        if "raw_syscalls:sys_enter" not in counts:
            raise BenchError("perf %s counted nothing; %s" % (self.name, self.out))
        return {"total": counts["raw_syscalls:sys_enter"],
                "by_name": {n: counts.get("syscalls:sys_enter_%s" % n, 0) for n in self.names},
                "eagain_receives": sum(counts.get("syscalls:sys_exit_%s" % n, 0) for n in RECEIVE)}


class StraceCounter(_Counter):
    """`strace -c -f -p PIDS`: attached from start() to finish(); the load must run alone."""

    def __init__(self, reg, workdir, name, pids):
        self.reg, self.name = reg, name
        os.makedirs(workdir, exist_ok=True)
        self.out = os.path.join(workdir, "strace-%s.txt" % name)
        args = ["strace", "-c", "-f", "-o", self.out]
        for p in pids:
            args += ["-p", str(p)]
        self.log = os.path.join(workdir, "strace-%s.log" % name)
        self.proc = reg.start("strace-" + name, args, self.log)
        self.interrupted = False
        self.threads = sum(len(os.listdir("/proc/%d/task" % p)) for p in pids)

    def enable(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.check_alive()
            with open(self.log, errors="replace") as f:
                # "Process N attached", or "Process N attached with M threads"
                attached = sum(int(m.group(1) or 1) for m in
                               re.finditer(r"attached(?: with (\d+) threads)?", f.read()))
            if attached >= self.threads:
                return
            time.sleep(0.05)
        raise BenchError("strace %s did not attach to %d threads within %ss" % (self.name, self.threads, timeout))

    def disable(self, timeout=10.0):
        pass

    def close(self):
        pass

    def finish(self, timeout=20.0):
        self._stop("strace", "detach", timeout)
        by_name, errors = {}, {}
        with open(self.out) as f:
            for line in f:
                p = line.split()
                # % time, seconds, usecs/call, calls, [errors], syscall; then a "total" line
                if len(p) in (5, 6) and p[3].isdigit() and p[-1] != "total" and re.match(r"^[a-z_0-9]+$", p[-1]):
                    by_name[p[-1]] = int(p[3])
                    errors[p[-1]] = int(p[4]) if len(p) == 6 else 0
        if not by_name:
            raise BenchError("strace %s wrote no summary; %s" % (self.name, self.out))
        total = sum(by_name.values())
        # strace's errors of a receive call are nearly all EAGAIN on these sockets.
        return {"total": total, "by_name": by_name, "eagain_receives": sum(errors.get(n, 0) for n in RECEIVE)}


# ------------------------------------------------------------------------------------
# one pair

def phase(reg, workdir, pair, method, tag, run_load):
    """Counts per side around run_load(); returns {"requests", "sides": {side: counts}}."""
    counter_class = PerfCounter if method == "perf" else StraceCounter
    counters = {}
    try:
        for side, proc in pair.sidecars:
            counters[side] = counter_class(reg, workdir, "%s-%s" % (tag, side), proc.pids())
        for c in counters.values():
            c.enable()
        requests = run_load()
        for c in counters.values():
            c.disable()
        for c in counters.values():
            c.interrupt()  # both exit at once
        sides = {side: c.finish() for side, c in counters.items()}
        counters = {}
    finally:
        for c in counters.values():  # an error on the way: stop what is still attached
            reg.stop(c.proc)
            c.close()
    for _, proc in pair.sidecars:
        proc.check_alive()
    return {"requests": requests, "sides": sides}


def measure(reg, workdir, pair, plan, method, tag, tool_log):
    """The pair (already started) under each load: {"load": phase, "rate": phase}."""
    url = "http://%s:%d/" % pair.entry
    w = load.wrk(url, plan.connections, plan.wrk_threads, plan.warmup, tool_log)
    if w["errors"]:
        raise BenchError("%s warm-up: %s" % (tag, w["error_detail"]))
    out = {}

    def saturated():
        w = load.wrk(url, plan.connections, plan.wrk_threads, plan.syscall_seconds, tool_log)
        if w["errors"]:
            raise BenchError("%s wrk: %s" % (tag, w["error_detail"]))
        return w["requests"]

    def fixed_rate():
        request_log = os.path.join(workdir, "h2load-%s.log" % tag)
        try:
            h = load.h2load(url, plan.rate, plan.latency_clients, plan.syscall_seconds, 0, request_log, tool_log)
        finally:
            if os.path.exists(request_log):
                os.remove(request_log)
        if h["errors"]:
            raise BenchError("%s h2load: %s" % (tag, h["error_detail"]))
        return h["requests"]

    out["load"] = phase(reg, workdir, pair, method, tag + "-load", saturated)
    out["rate"] = phase(reg, workdir, pair, method, tag + "-rate", fixed_rate)
    return out


# ------------------------------------------------------------------------------------
# figures from the counts

def per_request(counts, requests):
    """Grouped figures per request for one side's counts."""
    by = counts["by_name"]
    receive = sum(by.get(n, 0) for n in RECEIVE)
    send = sum(by.get(n, 0) for n in SEND)
    wait = sum(by.get(n, 0) for n in WAIT)
    epoll_ctl = by.get("epoll_ctl", 0)
    other = counts["total"] - receive - send - wait - epoll_ctl
    r = float(requests)
    return {"total": counts["total"] / r, "receive": receive / r, "eagain": counts["eagain_receives"] / r,
            "send": send / r, "wait": wait / r, "epoll_ctl": epoll_ctl / r, "other": other / r}


def top(counts, requests, n=6):
    """The n most frequent calls per request, and what the named ones leave."""
    by = sorted(((c, name) for name, c in counts["by_name"].items() if c), reverse=True)
    rest = counts["total"] - sum(c for c, _ in by)
    items = [(name, c / float(requests)) for c, name in by[:n]]
    unlisted = rest + sum(c for c, _ in by[n:])
    if unlisted > 0:
        items.append(("other", unlisted / float(requests)))
    return items
