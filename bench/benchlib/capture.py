"""What capture costs the hawser pair (issue 15, acceptance 9).

The pair under the wrk load with metrics on and capture off, against capture
on (every exchange teed by both sidecars, the default max_body_bytes and a
64 MiB queue) to a real `hawser forwarder` on loopback (plain HTTP: the
sidecar-to-forwarder TLS is per batch, not per request; spool and archive in
the run's directory), interleaved. After the load the sidecars'
`hawser_capture_records_total` is read once their queues are empty: a run
that dropped or failed records says so (its figure then misses the cost of
shipping them).
"""

import os

from . import peers
from .procs import BenchError, free_port, wait_until
from .tracing import _family_sum

MODES = ("off", "on")
OUTCOMES = ("sent", "dropped", "failed")


class Forwarder:
    """`hawser forwarder` with its spool and archive under `dirname`."""

    def __init__(self, reg, binary, dirname):
        self.address = "127.0.0.1:%d" % free_port()
        cfg = {"listen": self.address, "admin": {"address": "127.0.0.1:0"},
               "storage": {"spool": os.path.join(dirname, "spool"), "directory": os.path.join(dirname, "archive"),
                           "max_spool_bytes": "8GiB"}}
        self.hawser = peers.Hawser(reg, binary, dirname, "hawser-forwarder", cfg, command="forwarder")
        self.hawser.wait_ready()

    def stored(self):
        status, body = self.hawser.admin_get("/metrics")
        if status != 200:
            raise BenchError("forwarder /metrics -> %d" % status)
        return _family_sum(body.decode(), "hawser_forwarder_records_total", ("outcome", "stored"))


def capture_block(forwarder_address):
    return {"enabled": True, "forwarder": forwarder_address, "tls": {"mode": "disabled"},
            "queue_bytes": "64MiB", "batch": {"delay": "1s"}}


def counters(hawser):
    status, body = hawser.admin_get("/metrics")
    if status != 200:
        raise BenchError("%s /metrics -> %d" % (hawser.proc.name, status))
    text = body.decode()
    out = {o: int(_family_sum(text, "hawser_capture_records_total", ("outcome", o))) for o in OUTCOMES}
    out["queue_bytes"] = int(_family_sum(text, "hawser_capture_queue_bytes"))
    return out


def settle(pair, timeout=60.0):
    """The sidecars' counters once both queues are empty."""
    def empty():
        c = {name: counters(h) for name, h in zip(("server", "client"), pair.hawsers)}
        return c if all(v["queue_bytes"] == 0 for v in c.values()) else None
    return wait_until(empty, timeout, "the capture queues to drain", interval=0.2)
