"""What tracing costs the hawser pair (issue 14, acceptance 3 and 7).

- throughput: the pair under the wrk load with metrics and tracing off,
  metrics on + tracing at `sample_ratio: 0.01`, and at `1.0`, interleaved.
  The collector is the app's nginx: its `return 200` answers
  `POST /v1/traces` (the body, uncompressed by default, is read and discarded;
  nginx's 1 MiB `client_max_body_size` is above any batch, `batch.max_bytes`
  being 512 KiB). After the load the sidecars' `hawser_trace_spans_total`
  is read once their queues are empty: every span must be accounted for,
  and a run that dropped or failed spans says so (its figure then misses the
  cost of exporting them).
- latency with the collector down: h2load at the main latency run's rate,
  tracing off (metrics on) against tracing at `1.0` to a loopback port that
  a socket holds bound without listening (every connect is refused at once),
  interleaved, with the default queue (2048 spans), which fills and drops;
  `hawser_trace_spans_total{outcome="failed"}` must rise (the exporter
  tried, and gave a batch up after its retries).
"""

import gzip
import http.client
import re
import socket
import time

from .procs import BenchError

THROUGHPUT_MODES = ("off", "1%", "100%")
SAMPLE_RATIO = {"off": None, "1%": 0.01, "100%": 1.0}
LATENCY_MODES = ("off", "down")
OUTCOMES = ("exported", "dropped", "failed")

BATCH_DELAY_S = 1
# The default batch; a 1 s delay (5 s by default) so the last partial batch
# leaves soon after the load and the count below need not wait long.
BATCH = {"delay": "%ds" % BATCH_DELAY_S, "max_spans": 512}
# The default queue (2048 spans) drops a large share at 100% sampling under
# this load (the exporter sends one batch at a time, and on two busy cores its
# thread is not always running): such a run would leave out the cost of exporting
# the dropped spans. A larger queue absorbs the bursts; drops are still counted and shown.
MAX_QUEUE_SPANS = 65536
SETTLE_TIMEOUT_S = 10.0
DOWN_FAILED_TIMEOUT_S = 15.0  # 5 attempts with backoff 0.25-0.5 + 0.5-1 + 1-2 + 2-4 s, then `failed`


def otlp_block(endpoint, ratio, default_queue=False):
    """default_queue: hawser's own queue bound (the collector-down run, whose queue should fill and drop)."""
    block = {"endpoint": endpoint, "sample_ratio": ratio, "batch": dict(BATCH)}
    if not default_queue:
        block["max_queue_spans"] = MAX_QUEUE_SPANS
    return block


def check_collector(host_port):
    """POST a small gzip body to /v1/traces as the exporter does; BenchError unless 2xx."""
    conn = http.client.HTTPConnection(host_port[0], host_port[1], timeout=5)
    try:
        conn.request("POST", "/v1/traces", body=gzip.compress(b"\x0a\x00" * 512),
                     headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
        r = conn.getresponse()
        r.read()
        if not 200 <= r.status < 300:
            raise BenchError("the collector %s:%d answered POST /v1/traces with %d" % (
                host_port[0], host_port[1], r.status))
    except OSError as e:
        raise BenchError("the collector %s:%d: POST /v1/traces: %s" % (host_port[0], host_port[1], e))
    finally:
        conn.close()


class DownCollector:
    """A loopback port bound by a socket that never listens: connects are refused,
    and no process started meanwhile can be given the port."""

    def __enter__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.endpoint = "http://127.0.0.1:%d" % self._sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self._sock.close()


def _family_sum(text, name, label=None):
    """Sum of a metric family's samples, or only those with `label` (k, v)."""
    total = 0.0
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M):
        if label and '%s="%s"' % label not in (m.group(1) or ""):
            continue
        total += float(m.group(2))
    return total


def counters(hawser):
    """Span outcomes and requests of one sidecar, from its admin /metrics."""
    status, body = hawser.admin_get("/metrics")
    if status != 200:
        raise BenchError("%s /metrics -> %d" % (hawser.proc.name, status))
    text = body.decode("utf-8", "replace")
    c = {o: int(_family_sum(text, "hawser_trace_spans_total", ("outcome", o))) for o in OUTCOMES}
    c["inbound"] = int(_family_sum(text, "hawser_requests_total", ("direction", "inbound")))
    c["outbound"] = int(_family_sum(text, "hawser_requests_total", ("direction", "outbound")))
    c["retries"] = int(_family_sum(text, "hawser_retries_total"))
    return c


def accounted(c):
    return sum(c[o] for o in OUTCOMES)


def expected_spans(c):
    """Spans a sidecar makes when every exchange is sampled: one SERVER span per
    inbound request; one CLIENT span per outbound request, and a retried one also
    one per attempt (counted as if each retry were on a request of its own)."""
    return c["inbound"] + c["outbound"] + 2 * c["retries"]


def settle(pair, ratio):
    """{side: counters} once the queues are empty: at ratio 1, when every expected
    span is accounted for; otherwise when nothing changed for a batch delay and a
    half. Bounded by SETTLE_TIMEOUT_S; "settled_s" says how long it took (None: not)."""
    sides = dict(zip(("server", "client"), pair.hawsers))
    started = time.monotonic()
    last, since = None, started
    while True:
        now = time.monotonic()
        got = {side: counters(h) for side, h in sides.items()}
        totals = tuple(accounted(c) for c in got.values())
        if ratio == 1.0 and all(accounted(c) >= expected_spans(c) for c in got.values()):
            return got, round(now - started, 2)
        if totals != last:
            last, since = totals, now
        elif now - since >= 1.5 * BATCH_DELAY_S:
            return got, round(now - started, 2)
        if now - started >= SETTLE_TIMEOUT_S:
            return got, None
        time.sleep(0.2)


def span_verdict(spans, ratio):
    """(error, caveats): an error when nothing was exported (the run measured no
    export); caveats for spans dropped, failed or unaccounted for."""
    error = None
    caveats = []
    empty = [side for side, c in sorted(spans.items()) if c["exported"] == 0]
    if empty:
        error = "no span exported by the %s sidecar%s" % (" and ".join(empty), "s" if len(empty) > 1 else "")
    for o in ("dropped", "failed"):
        n = sum(c[o] for c in spans.values())
        if n:
            caveats.append("%d spans %s (%s)" % (n, o, ", ".join(
                "%s %d" % (side, c[o]) for side, c in sorted(spans.items()))))
    if ratio == 1.0:
        off = ["%s %d of %d" % (side, accounted(c), expected_spans(c))
               for side, c in sorted(spans.items()) if accounted(c) != expected_spans(c)]
        if off:
            caveats.append("spans accounted for after the load / made (%s): some still queued" % ", ".join(off))
    elif spans["client"]["retries"] == 0 and accounted(spans["client"]) != accounted(spans["server"]):
        # The server sidecar keeps the client's sampling decision: the client makes one
        # span (the request and its one attempt) for each sampled exchange the server makes one for.
        caveats.append("the client sidecar accounted for %d spans, the server %d: not one for one "
                       "(some still queued?)" % (accounted(spans["client"]), accounted(spans["server"])))
    return error, caveats


def wait_failed(pair):
    """({side: counters}, seconds until both sidecars counted a failed span, or None
    when DOWN_FAILED_TIMEOUT_S passed first)."""
    sides = dict(zip(("server", "client"), pair.hawsers))
    started = time.monotonic()
    while True:
        got = {side: counters(h) for side, h in sides.items()}
        waited = time.monotonic() - started
        if all(c["failed"] > 0 for c in got.values()):
            return got, round(waited, 2)
        if waited >= DOWN_FAILED_TIMEOUT_S:
            return got, None
        time.sleep(0.25)
