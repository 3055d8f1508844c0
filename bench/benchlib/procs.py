"""Processes the benchmark starts, and what /proc says about them.

Every process is started in its own session (so its process group id is its
pid), registered here, and stopped by that id: SIGTERM, then SIGKILL to the
group after a grace period. `stop_all()` runs from a `finally` in bench/run,
so Ctrl-C and exceptions leave nothing behind.
"""

import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class BenchError(Exception):
    """A run that cannot go on (a peer did not start, a tool failed)."""


def wait_until(predicate, timeout, what, interval=0.05):
    """Poll predicate() until it returns something truthy; BenchError on the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except BenchError:
            raise
        except Exception as e:  # noqa: BLE001 - reported if the deadline passes
            last = e
        if time.monotonic() >= deadline:
            raise BenchError("timed out after %.0fs waiting for %s%s" % (
                timeout, what, " (last error: %r)" % last if last else ""))
        time.sleep(interval)


def free_port():
    """A loopback port that is free now (peers' configs need fixed ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """One started process: its Popen, name and log file."""

    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.log_path = log_path

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self):
        if not self.alive():
            raise BenchError("%s exited with %s; log %s:\n%s" % (
                self.name, self.popen.returncode, self.log_path, self.log_tail()))

    def pids(self):
        """This process and its children (nginx workers), as they are now."""
        return [self.pid] + children(self.pid)


class Registry:
    """Every process the benchmark started, so that all of them get stopped."""

    def __init__(self):
        self.procs = []

    def start(self, name, args, log_path, cwd=None, env=None):
        log = open(log_path, "ab")
        try:
            popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd, env=env,
                                     start_new_session=True)
        finally:
            log.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def stop(self, proc, grace=10.0):
        if proc in self.procs:
            self.procs.remove(proc)
        if proc.popen.poll() is None:
            try:
                proc.popen.send_signal(signal.SIGTERM)
                proc.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # The group also holds children (nginx workers) that may outlive the parent.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self):
        for proc in list(reversed(self.procs)):
            self.stop(proc, grace=5.0)


def run_tool(args, timeout, log_path=None):
    """Run a command to completion within timeout; (returncode, stdout text)."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise BenchError("%s did not finish within %ss" % (args[0], timeout))
    text = out.decode("utf-8", "replace")
    if log_path:
        with open(log_path, "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(args), text))
    return p.returncode, text


# ------------------------------------------------------------------------------------
# /proc

def children(pid):
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError("no %s in /proc/%d/status" % (key, pid))


def rss_kib(pids):
    return sum(status_kib(pid, "VmRSS") for pid in pids)


def hwm_kib(pids):
    return sum(status_kib(pid, "VmHWM") for pid in pids)
