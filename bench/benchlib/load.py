"""Load generators: wrk (closed loop, throughput) and h2load --h1 --rps (fixed rate, latency).

Both return a dict of figures plus `errors`: non-2xx responses and socket
errors/timeouts together. Any error fails the benchmark run.
"""

import math
import re

from .procs import BenchError, run_tool

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(url, connections, threads, duration, log_path, headers=()):
    extra = [a for h in headers for a in ("-H", h)]
    rc, out = run_tool(["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration,
                        "--timeout", "5s"] + extra + [url], timeout=duration + 30, log_path=log_path)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if rc != 0 or not m:
        raise BenchError("wrk failed (rc %d):\n%s" % (rc, out))
    requests = int(m.group(1))
    seconds = float(m.group(2)) * _UNITS[m.group(3)]
    socket_errors = 0
    s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if s:
        socket_errors = sum(int(x) for x in s.groups())
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(n.group(1)) if n else 0
    return {"requests": requests, "seconds": seconds, "rps": requests / seconds,
            "errors": socket_errors + non2xx, "error_detail": _error_detail(socket_errors, non2xx)}


def h2load(url, rate, clients, duration, warmup, log_file, log_path):
    """`rate` requests/s in all, spread over `clients` keep-alive HTTP/1.1 connections."""
    per_client = max(1, round(rate / clients))
    rc, out = run_tool(["h2load", "--h1", "-c%d" % clients, "-t1", "--rps=%d" % per_client,
                        "-D%d" % duration, "--warm-up-time=%d" % warmup, "--log-file=%s" % log_file,
                        url], timeout=duration + warmup + 30, log_path=log_path)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    c = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if rc != 0 or not m or not c:
        raise BenchError("h2load failed (rc %d):\n%s" % (rc, out))
    total, _, done, _, failed, errored, timeout = (int(x) for x in m.groups())
    non2xx = sum(int(x) for x in c.groups()[1:])
    latencies = []
    with open(log_file) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                latencies.append(int(parts[2]))
    if not latencies:
        raise BenchError("h2load logged no successful request:\n%s" % out)
    latencies.sort()
    socket_errors = failed + errored + timeout + (total - done)
    return {"requests": len(latencies), "rps": len(latencies) / duration,
            "p50_ms": percentile(latencies, 50) / 1000.0,
            "p99_ms": percentile(latencies, 99) / 1000.0,
            "p999_ms": percentile(latencies, 99.9) / 1000.0,
            "max_ms": latencies[-1] / 1000.0,
            "errors": socket_errors + non2xx, "error_detail": _error_detail(socket_errors, non2xx)}


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def _error_detail(socket_errors, non2xx):
    parts = []
    if socket_errors:
        parts.append("%d socket errors" % socket_errors)
    if non2xx:
        parts.append("%d non-2xx" % non2xx)
    return ", ".join(parts)
