"""Issue 14, acceptance 1: a real Prometheus scrapes a sidecar pair under load.

    load threads --plaintext--> caller hawser  alias "responder"
                                     ==mTLS==> responder hawser  inbound "app" (strict mTLS)
                                                    --> fake upstream (status set by x-fake-status)
    Prometheus (Debian's /usr/bin/prometheus, started here on 127.0.0.1:0, its own
    temporary TSDB, scrape_interval 1s) scrapes the admin /metrics of both sidecars.

What Prometheus ends up with must be what the test did: `up == 1` for both targets, and
the increase of `sum by (direction, code_class) (hawser_requests_total)` from a baseline
taken (through Prometheus) before the load to a scrape taken after every request was
counted equals, class by class, the requests the test sent: outbound on the caller's
sidecar, inbound on the responder's, with the peer identity each side verified.
`promtool check metrics` must print nothing for either page after the load.

The test never talks to a system Prometheus (Debian's package starts one on :9090 on
install; scripts/setup stops it): its own instance binds 127.0.0.1:0 and the test reads
the address it logs. No request is retried and every wait has a deadline.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import hawser_harness as hh
from fake_upstream import FakeUpstream

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
NS = "demo"
CALLER_ID = "spiffe://%s/caller" % NS
RESPONDER_ID = "spiffe://%s/responder" % NS
TIMEOUTS = {"connect": "2s", "request": "10s", "idle": "30s"}

SIDECARS = ("caller", "responder")

# The load: THREADS threads, each sending whole rounds of STATUSES (x-fake-status) until
# Prometheus has scraped both sidecars twice while it ran (at most MAX_ROUNDS rounds a
# thread), a new connection every NEW_CONNECTION_EVERY requests and keep-alive in between.
STATUSES = (200, 200, 201, 204, 400, 404, 500, 503)
THREADS = 3
MAX_ROUNDS = 1000
NEW_CONNECTION_EVERY = 5

# Deadlines (generous: a loaded 2-core machine, and Prometheus scrapes once a second).
PROMETHEUS_START_TIMEOUT = 60
COUNTED_TIMEOUT = 30
SCRAPE_TIMEOUT = 30
LOAD_TIMEOUT = 180

ENV = {}


def code_class(status):
    return "%dxx" % (status // 100)


# --------------------------------------------------------------------------------------
# Prometheus

class Prometheus:
    """One `prometheus` on 127.0.0.1:0 with its own config and TSDB under `tmp`."""

    def __init__(self, tmp, targets):
        """targets: {sidecar label value: (host, port) of its admin server}."""
        self.tmp = tmp
        os.makedirs(tmp, exist_ok=True)
        self.config_path = os.path.join(tmp, "prometheus.yml")
        self.log_path = os.path.join(tmp, "prometheus.log")
        self.proc = None
        self.address = None
        # The config is JSON, which is YAML. scrape_timeout may not exceed the interval.
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "hawser",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [hh.addr_str(addr)], "labels": {"sidecar": name}}
                                   for name, addr in sorted(targets.items())],
            }],
        }
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=1)

    def start(self):
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [PROMETHEUS, "--config.file=" + self.config_path,
                 "--storage.tsdb.path=" + os.path.join(self.tmp, "data"),
                 "--web.listen-address=127.0.0.1:0",
                 "--web.console.templates=" + os.path.join(self.tmp, "consoles"),
                 "--web.console.libraries=" + os.path.join(self.tmp, "console_libraries")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp,
                start_new_session=True)
        finally:
            log.close()

        # Bound to port 0: the web listener logs the address it got.
        def listening():
            if self.proc.poll() is not None:
                raise hh.Abort("prometheus exited with %r%s" % (self.proc.returncode, self.diag()))
            m = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)', self.log())
            return m and hh.parse_addr(m.group(1))

        def ready():
            if self.proc.poll() is not None:
                raise hh.Abort("prometheus exited with %r%s" % (self.proc.returncode, self.diag()))
            return self.get("/-/ready")[0] == 200

        try:
            self.address = hh.wait_until(listening, timeout=PROMETHEUS_START_TIMEOUT,
                                         message="prometheus to log its listen address")
            hh.wait_until(ready, timeout=PROMETHEUS_START_TIMEOUT, message="prometheus /-/ready")
        except hh.Abort as e:
            raise AssertionError(str(e)) from None
        except AssertionError as e:
            raise AssertionError(str(e) + self.diag()) from None
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def diag(self):
        return "\n--- prometheus log (tail) ---\n%s" % "\n".join(self.log().splitlines()[-30:])

    def get(self, path, timeout=5):
        st, _, body = hh.http_request(self.address, "GET", path, timeout=timeout)
        return st, body

    def query(self, promql):
        """An instant query at now: [(labels, value)]."""
        st, body = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        doc = json.loads(body)
        if st != 200 or doc.get("status") != "success" or doc["data"]["resultType"] != "vector":
            raise AssertionError("query %r -> %d %r" % (promql, st, body[:500]))
        return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]

    def query_by(self, promql, *labels):
        """An instant query as {(label values...): value}."""
        return {tuple(m.get(l, "") for l in labels): v for m, v in self.query(promql)}

    def wait_scraped_after(self, t, sidecars=SIDECARS):
        """Wait until every target's latest scrape started after wall-clock time `t` (so what it
        read includes everything counted before `t`); return {sidecar: up} of that scrape."""
        def fresh():
            if self.proc.poll() is not None:
                raise hh.Abort("prometheus exited with %r%s" % (self.proc.returncode, self.diag()))
            ts = self.query_by('timestamp(up{job="hawser"})', "sidecar")
            if set(ts) != {(s,) for s in sidecars} or min(ts.values()) <= t:
                return None
            return {s: v for (s,), v in self.query_by('up{job="hawser"}', "sidecar").items()}
        try:
            return hh.wait_until(fresh, timeout=SCRAPE_TIMEOUT, interval=0.2,
                                 message="a Prometheus scrape of %s after t=%.3f" % (sorted(sidecars), t))
        except hh.Abort as e:
            raise AssertionError(str(e)) from None
        except AssertionError as e:
            raise AssertionError("%s\ntargets: %s%s" % (e, self.targets(), self.diag())) from None

    def targets(self):
        try:
            st, body = self.get("/api/v1/targets")
            return [(t["labels"].get("sidecar"), t.get("health"), t.get("lastError"))
                    for t in json.loads(body)["data"]["activeTargets"]]
        except Exception as e:  # noqa: BLE001 - diagnostics only
            return repr(e)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


# --------------------------------------------------------------------------------------
# the pair, the load

def setUpModule():
    for tool in (PROMETHEUS, PROMTOOL):
        if not os.access(tool, os.X_OK):
            raise AssertionError("%s is missing (scripts/setup test installs Debian's prometheus): "
                                 "this test needs a real Prometheus" % tool)
    tmp = tempfile.mkdtemp(prefix="hawser-prometheus-")
    unittest.addModuleCleanup(shutil.rmtree, tmp, True)
    up = FakeUpstream("app")
    up.start()
    unittest.addModuleCleanup(up.stop)
    certs, ids = hh.make_certs(os.path.join(tmp, "pki"), namespace=NS, services=("caller", "responder"))

    responder = hh.Hawser(hh.base_config(
        node={"service": "responder", "namespace": NS},
        tls=hh.tls_block(*ids["responder"], certs.ca_pem()),
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http",
                  "timeouts": TIMEOUTS, "tls": {"mode": "strict"},
                  "authorization": {"allow": [CALLER_ID]}}],
    ), name="responder")
    unittest.addModuleCleanup(responder.stop)
    responder.start()

    caller = hh.Hawser(hh.base_config(
        node={"service": "caller", "namespace": NS},
        tls=hh.tls_block(*ids["caller"], certs.ca_pem()),
        outbound={"services": [{"name": "responder", "alias": "127.0.0.1:0", "protocol": "http",
                                "discovery": {"static": [hh.addr_str(responder.listener("app"))]},
                                "timeouts": TIMEOUTS, "tls": {"mode": "mutual", "sans": [RESPONDER_ID]}}]},
    ), name="caller")
    unittest.addModuleCleanup(caller.stop)
    caller.start()

    prom = Prometheus(os.path.join(tmp, "prometheus"), {s: h.admin for s, h in
                                                        (("caller", caller), ("responder", responder))})
    unittest.addModuleCleanup(prom.stop)
    prom.start()
    ENV.update(up=up, caller=caller, responder=responder, prom=prom)
    alias = caller.listener("responder")

    # Warm-up: one request through the pair, so that the series the load touches first (the
    # peer identities') exist before the baseline; then the baseline, from a scrape after it.
    warm = Client(alias)
    warm.send(200)
    warm.close()
    warm.check("warm-up")
    counted_at = wait_counted({"caller": ("outbound", 1), "responder": ("inbound", 1)}, {})
    ENV["baseline_up"] = prom.wait_scraped_after(counted_at)
    ENV["baseline"] = scraped_counts(prom)
    ENV["baseline_by_sidecar"] = scraped_counts_by_sidecar(prom)
    ENV["baseline_direct"] = {s: direct_counts(ENV[s]) for s in SIDECARS}

    # The load, until Prometheus has seen both sidecars' counters rise twice while it runs.
    clients = [Client(alias) for _ in range(THREADS)]
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,), name="load-%d" % i, daemon=True)
               for i, c in enumerate(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    failure = None
    try:
        ENV["during_load"] = wait_scraped_during_load(prom, threads)
    except AssertionError as e:
        failure = e
    finally:
        stop.set()
        for t in threads:
            t.join(max(0.1, started + LOAD_TIMEOUT - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise AssertionError("the load did not stop within %ss" % LOAD_TIMEOUT)
    ENV["load_seconds"] = time.monotonic() - started
    for i, c in enumerate(clients):
        c.check("load thread %d" % i)  # a failed request explains a failed wait best
    if failure is not None:
        raise failure
    sent = {}
    for c in clients:
        for cls, n in c.sent.items():
            sent[cls] = sent.get(cls, 0) + n
    ENV["sent"] = sent

    # Then a scrape that started once both sidecars had counted every request.
    total = sum(sent.values())
    counted_at = wait_counted({"caller": ("outbound", total), "responder": ("inbound", total)},
                              ENV["baseline_direct"])
    ENV["after_up"] = prom.wait_scraped_after(counted_at)
    ENV["after"] = scraped_counts(prom)
    ENV["after_by_sidecar"] = scraped_counts_by_sidecar(prom)
    ENV["after_direct"] = {s: direct_counts(ENV[s]) for s in SIDECARS}
    ENV["retries"] = prom.query_by("sum by (sidecar) (hawser_retries_total)", "sidecar")


class Client:
    """Requests through the caller's alias, one per status asked of the upstream: a new
    connection every NEW_CONNECTION_EVERY requests, keep-alive in between. No request is
    retried, so a failure is reported, never papered over (the expected counts would be off)."""

    def __init__(self, addr):
        self.addr = addr
        self.conn = None
        self.requests = 0
        self.rounds = 0
        self.sent = {}          # code class -> requests answered as asked
        self.errors = []        # (status asked, repr(exception))
        self.mismatched = []    # (status asked, status got, x-fake-instance, x-hawser-reason)

    def send(self, status):
        if self.conn is None or self.requests % NEW_CONNECTION_EVERY == 0:
            self.close()
            self.conn = http.client.HTTPConnection(self.addr[0], self.addr[1], timeout=30)
        self.requests += 1
        try:
            self.conn.request("GET", "/scrape/%d?i=%d" % (status, self.requests),
                              headers={"Host": "responder", "x-fake-status": str(status)})
            r = self.conn.getresponse()
            r.read()
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.errors.append((status, repr(e)))
            self.close()
            return
        instance = r.getheader("x-fake-instance")
        if r.status == status and instance == "app":
            self.sent[code_class(status)] = self.sent.get(code_class(status), 0) + 1
        else:
            self.mismatched.append((status, r.status, instance, r.getheader("x-hawser-reason")))
        if r.will_close:
            self.close()

    def run(self, stop):
        """Whole rounds of STATUSES until `stop` (at most MAX_ROUNDS, or a few failures)."""
        try:
            while self.rounds < MAX_ROUNDS and not stop.is_set() and len(self.errors) + len(self.mismatched) < 5:
                for status in STATUSES:
                    self.send(status)
                self.rounds += 1
        finally:
            self.close()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def check(self, what):
        if self.errors or self.mismatched:
            raise AssertionError("%s: requests failed %r or were not answered by the app as asked %r"
                                 % (what, self.errors, self.mismatched))


def wait_scraped_during_load(prom, threads):
    """Wait until, for each sidecar, two Prometheus scrapes taken while the load runs saw its
    hawser_requests_total above the baseline and rising. Returns {sidecar: [values seen]}."""
    base = {}
    for (sidecar, _d, _p, _c), v in ENV["baseline_by_sidecar"].items():
        base[sidecar] = base.get(sidecar, 0) + v
    seen = {s: [] for s in SIDECARS}

    def scraped_twice():
        if not all(t.is_alive() for t in threads):
            raise hh.Abort("a load thread ended (MAX_ROUNDS = %d, or failures) before Prometheus scraped "
                           "twice during the load: the test would prove nothing" % MAX_ROUNDS)
        for (sidecar,), v in prom.query_by("sum by (sidecar) (hawser_requests_total)", "sidecar").items():
            if sidecar in seen and v > max([base.get(sidecar, 0)] + seen[sidecar]):
                seen[sidecar].append(v)
        return all(len(v) >= 2 for v in seen.values())

    try:
        hh.wait_until(scraped_twice, timeout=SCRAPE_TIMEOUT, interval=0.1,
                      message="two Prometheus scrapes of each sidecar during the load")
    except hh.Abort as e:
        raise AssertionError("%s (seen %r)" % (e, seen)) from None
    except AssertionError as e:
        raise AssertionError("%s (seen %r)\ntargets: %s%s" % (e, seen, prom.targets(), prom.diag())) from None
    return seen


def direct_counts(h):
    """{(direction, code_class): value} from one sidecar's /metrics."""
    out = {}
    for (name, labels), v in h.metrics().items():
        if name == "hawser_requests_total":
            d = dict(labels)
            key = (d.get("direction"), d.get("code_class"))
            out[key] = out.get(key, 0) + v
    return out


def wait_counted(expected, baseline):
    """Wait until each sidecar has counted `n` more requests in `direction` than in `baseline`
    ({sidecar: {(direction, code_class): value}}). Returns the wall-clock time once they have:
    a scrape that starts later reads them all (a request is counted when it completes, which may
    be just after its client read the response)."""
    def counted():
        for sidecar, (direction, n) in expected.items():
            now = direct_counts(ENV[sidecar])
            before = baseline.get(sidecar, {})
            if sum(v - before.get(k, 0) for k, v in now.items() if k[0] == direction) < n:
                return False
        return True
    hh.wait_until(counted, timeout=COUNTED_TIMEOUT, interval=0.05,
                  message="both sidecars to count the requests sent (%r)" % (expected,))
    return time.time()


def scraped_counts(prom):
    """The contract's query, as Prometheus sees it now: {(direction, code_class): value}."""
    return prom.query_by("sum by (direction, code_class) (hawser_requests_total)", "direction", "code_class")


def scraped_counts_by_sidecar(prom):
    """{(sidecar, direction, peer, code_class): value}, as Prometheus sees it now."""
    return prom.query_by("sum by (sidecar, direction, peer, code_class) (hawser_requests_total)",
                         "sidecar", "direction", "peer", "code_class")


def increase(after, before):
    """after - before, key by key, leaving out keys that did not change."""
    out = {}
    for k in set(after) | set(before):
        d = after.get(k, 0) - before.get(k, 0)
        if d:
            out[k] = d
    return out


# --------------------------------------------------------------------------------------
# what Prometheus saw

class PrometheusScrape(unittest.TestCase):
    def diag(self):
        return ("\nsent by class: %r\nPrometheus before: %r\nPrometheus after: %r\n"
                "/metrics before: %r\n/metrics after: %r\nretries by sidecar: %r\nload took %.1fs" % (
                    ENV["sent"], ENV["baseline"], ENV["after"], ENV["baseline_direct"],
                    ENV["after_direct"], ENV["retries"], ENV["load_seconds"]))

    def test_scraped_during_the_load(self):
        # setUpModule kept the load going until Prometheus's scrapes of each sidecar saw the
        # counter rise twice; those values lie between the baseline and the final count.
        for sidecar in SIDECARS:
            with self.subTest(sidecar=sidecar):
                before = sum(v for k, v in ENV["baseline_by_sidecar"].items() if k[0] == sidecar)
                after = sum(v for k, v in ENV["after_by_sidecar"].items() if k[0] == sidecar)
                seen = ENV["during_load"][sidecar]
                self.assertGreaterEqual(len(seen), 2)
                self.assertEqual(seen, sorted(seen))
                self.assertTrue(before < seen[0] and seen[-1] <= after, (before, seen, after))

    def test_both_targets_up(self):
        for phase in ("baseline_up", "after_up"):
            with self.subTest(phase=phase):
                self.assertEqual(ENV[phase], {"caller": 1.0, "responder": 1.0},
                                 "targets: %s%s" % (ENV["prom"].targets(), ENV["prom"].diag()))

    def test_requests_total_increase_matches_requests_sent(self):
        # By direction and code class: each request once outbound (the caller's sidecar) and
        # once inbound (the responder's), in the class of the status the client got.
        expected = {}
        for direction in ("outbound", "inbound"):
            for cls, n in ENV["sent"].items():
                expected[(direction, cls)] = n
        self.assertEqual(set(ENV["sent"]), {"2xx", "4xx", "5xx"})
        self.assertEqual(increase(ENV["after"], ENV["baseline"]), expected, self.diag())

    def test_prometheus_agrees_with_metrics_pages(self):
        # Prometheus's last scrape came after everything was counted, and nothing was counted
        # since: it holds exactly what /metrics says now.
        direct = {}
        for sidecar in SIDECARS:
            for k, v in ENV["after_direct"][sidecar].items():
                direct[k] = direct.get(k, 0) + v
        self.assertEqual({k: v for k, v in ENV["after"].items() if v}, {k: v for k, v in direct.items() if v},
                         self.diag())

    def test_each_side_counts_its_own_direction_and_peer(self):
        # Outbound only on the caller's sidecar, inbound only on the responder's, each series
        # labelled with the identity that side verified over mTLS.
        def by_side(counts):
            out = {}
            for (sidecar, direction, _peer, cls), v in counts.items():
                out[(sidecar, direction, cls)] = out.get((sidecar, direction, cls), 0) + v
            return out
        expected = {}
        for cls, n in ENV["sent"].items():
            expected[("caller", "outbound", cls)] = n
            expected[("responder", "inbound", cls)] = n
        self.assertEqual(increase(by_side(ENV["after_by_sidecar"]), by_side(ENV["baseline_by_sidecar"])),
                         expected, self.diag())
        peers = {}
        for (sidecar, direction, peer, _cls), v in increase(ENV["after_by_sidecar"],
                                                            ENV["baseline_by_sidecar"]).items():
            peers.setdefault((sidecar, direction), set()).add(peer)
        self.assertEqual(peers, {("caller", "outbound"): {RESPONDER_ID}, ("responder", "inbound"): {CALLER_ID}},
                         ENV["after_by_sidecar"])

    def test_promtool_check_metrics_is_clean(self):
        for sidecar in SIDECARS:
            with self.subTest(sidecar=sidecar):
                st, headers, body = ENV[sidecar].admin_get("/metrics")
                self.assertEqual(st, 200)
                self.assertIn("hawser_requests_total", body.decode())
                rc, out, err = hh.run_cmd([PROMTOOL, "check", "metrics"], timeout=60, input_bytes=body)
                self.assertEqual((rc, out + err), (0, ""),
                                 "promtool check metrics on the %s sidecar's /metrics (%s)" % (
                                     sidecar, headers.get("content-type")))


if __name__ == "__main__":
    unittest.main()
