"""hawser-only measurements beside the four-way comparison.

- metrics cost: the hawser pair's throughput with metrics off
  (`telemetry.metrics.enabled: false`), on, and on with both admin `/metrics`
  endpoints scraped every second during the load, interleaved.
- memory scaling: one hawser with many services x endpoints in static
  discovery (services without an alias listener: they are reachable through
  the `http_proxy` listener), RSS after /ready against a sidecar with none.
"""

import http.client
import json
import os
import threading
import time

from . import peers
from .procs import BenchError, rss_kib, wait_until


class Scraper:
    """GET /metrics from each admin address every `interval` seconds in a thread."""

    def __init__(self, admins, interval):
        self.admins = admins
        self.interval = interval
        self.scrapes = 0
        self.bytes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            for host, port in self.admins:
                conn = http.client.HTTPConnection(host, port, timeout=5)
                try:
                    conn.request("GET", "/metrics")
                    r = conn.getresponse()
                    body = r.read()
                    if r.status == 200:
                        self.scrapes += 1
                        self.bytes += len(body)
                    else:
                        self.failures += 1
                except OSError:
                    self.failures += 1
                finally:
                    conn.close()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def endpoint_address(i):
    """The i-th fake endpoint: distinct, on loopback (127.1.0.0 and up), never dialled."""
    return "127.%d.%d.%d:15006" % (1 + i // 65536 % 250, i // 256 % 256, i % 256)


def scaling_config(services, endpoints_per_service, workers, certs):
    cfg = peers.hawser_base("client", workers, certs)
    svcs = []
    n = 0
    for s in range(services):
        eps = []
        for _ in range(endpoints_per_service):
            eps.append(endpoint_address(n))
            n += 1
        svcs.append({"name": "svc-%04d" % s, "discovery": {"static": eps},
                     "tls": {"mode": "mutual", "sans": ["spiffe://bench/svc-%04d" % s]}})
    cfg["outbound"] = {"http_proxy": "127.0.0.1:0", "services": svcs}
    return cfg


def measure_scaling_point(reg, binary, workdir, certs, services, per_service, workers, settle):
    """RSS (KiB) of a ready hawser holding services x per_service endpoints."""
    name = "scale-%dx%d-w%d" % (services, per_service, workers)
    h = peers.Hawser(reg, binary, os.path.join(workdir, name), name,
                     scaling_config(services, per_service, workers, certs))
    try:
        h.wait_ready(timeout=60)
        status, body = h.admin_get("/clusters", timeout=30)
        if status != 200:
            raise BenchError("%s /clusters -> %d" % (name, status))
        counted = sum(len(c["endpoints"]) for c in json.loads(body)["clusters"])
        if counted != services * per_service:
            raise BenchError("%s: /clusters lists %d endpoints, expected %d" % (
                name, counted, services * per_service))
        time.sleep(settle)  # let workers take their snapshot copies
        # The RSS settles once every worker holds the snapshot; take the max of a few reads.
        samples = []
        for _ in range(5):
            samples.append(rss_kib(h.proc.pids()))
            time.sleep(0.2)
        return {"services": services, "endpoints_per_service": per_service, "workers": workers,
                "endpoints": services * per_service, "rss_kib": max(samples)}
    finally:
        reg.stop(h.proc)


def wait_alive(procs, timeout=1.0):
    wait_until(lambda: all(p.alive() for p in procs), timeout, "processes alive")
