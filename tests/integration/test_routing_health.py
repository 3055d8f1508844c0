"""Active health checks, weighted round robin (endpoint weights from static and file
discovery attributes), max_connections / max_pending, outbound and per-peer rate limits,
and routes (header match, per-route retry and timeouts). Config errors for these keys are
in test_config_errors.py.

Topology (all on 127.0.0.1, ephemeral ports; plaintext unless the class says mTLS):

    client threads --> hawser (outbound alias listener per service) --> fake upstreams
    TLS / plaintext clients --> hawser (inbound listener, rate_limit.per_peer) --> fake app
    hawser caller --mTLS--> hawser responder (strict inbound) --> fake app   (health checks)

Fake upstreams are steered per instance (`fake.defaults`, changed at runtime) or per request
(x-fake-* headers). A request header beats an instance default, so traffic can carry
`x-fake-status: 200` while the instance's health path (checked without that header)
answers 503: health checks alone decide where traffic goes.

Every wait is bounded (hawser_harness.wait_until); the whole file runs in well under
two minutes.
"""

import http.client
import os
import shutil
import tempfile
import threading
import time
import unittest

import hawser_harness as hh
from test_resilience import TIMEOUTS, ResilienceBase, endpoint, one, run_threads, service, summary

NS = "demo"
# Fast checks: interval 150 ms; 3 failures make an endpoint unhealthy, 2 passes bring it back.
HEALTH = {"path": "/hc", "interval": "150ms", "timeout": "100ms", "unhealthy": 3, "healthy": 2}


def clusters(h, name):
    """{address: endpoint dict} of one cluster in GET /clusters."""
    for c in h.admin_json("/clusters")["clusters"]:
        if c["name"] == name:
            return {e["address"]: e for e in c["endpoints"]}
    raise AssertionError("no cluster %r in /clusters" % name)


def sequential(addr, n, path, headers=None):
    """n requests one after another on one keep-alive connection."""
    holder = [None]
    try:
        return [one(holder, addr, "GET", "%s/%d" % (path, i), headers) for i in range(n)]
    finally:
        if holder[0] is not None:
            holder[0].close()


def concurrent(addr, n, path, headers=None, timeout=10.0):
    """n requests at once, each on its own connection made beforehand (so all n are in
    flight together). Results in request order; each has start/end timestamps."""
    conns = []
    for _ in range(n):
        c = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
        c.connect()
        conns.append(c)
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        barrier.wait()
        results[i] = one([conns[i]], addr, "GET", "%s/%d" % (path, i), headers, timeout=timeout)

    try:
        run_threads(go, range(n), timeout + 5)
        if any(r is None for r in results):
            raise AssertionError("concurrent requests did not finish")
        return results
    finally:
        for c in conns:
            c.close()


def instances(results):
    return {r["instance"] for r in results}


class RoutingBase(ResilienceBase):
    def start(self, services=None, inbound=None, workers=2, node=None, tls=None, name=None):
        cfg = hh.base_config(node=node or {"service": "caller", "namespace": NS}, workers=workers)
        if tls:
            cfg["tls"] = tls
        if services:
            cfg["outbound"] = {"services": services}
        if inbound:
            cfg["inbound"] = inbound
        h = hh.start_hawser(self, cfg, name=name or self.id().rsplit(".", 1)[-1])
        if not hasattr(self, "h"):
            self.h = h
        return h

    def state(self, svc, fake, h=None):
        return clusters(h or self.h, svc)[fake.address]

    def wait_health(self, svc, fake, health, path="/hc", timeout=5.0, h=None):
        """Wait until `fake` has received a health check on `path` and /clusters shows
        `health`. (Checking for the probe first matters: /clusters may show a never checked
        endpoint as healthy; once a probe was sent the endpoint's state is a checked one.)"""
        return hh.wait_until(lambda: fake.requests_for(path) and self.state(svc, fake, h)["health"] == health,
                             timeout=timeout, interval=0.02, message="%s %s checked and %s" % (svc, fake.name, health))


# --------------------------------------------------------------------------------------
# 1. Active health checks

class HealthChecks(RoutingBase):
    def test_failing_health_path_takes_instance_out_and_back(self):
        a, b, c = self.fake("a"), self.fake("b"), self.fake("c")
        fakes = [a, b, c]
        self.start([service("svc", [f.address for f in fakes], load_balancer="round_robin",
                            health_check=dict(HEALTH))])
        addr = self.h.listener("svc")
        for f in fakes:
            self.wait_health("svc", f, "healthy")

        # The check: GET <path>, Host = the service name, User-Agent hawser-health-check.
        checks = c.requests_for("/hc")
        self.assertTrue(checks, "no health check reached c")
        self.assertEqual({(r["method"], r["target"]) for r in checks}, {("GET", "/hc")})
        self.assertEqual({r["h"].get("user-agent") for r in checks}, {"hawser-health-check"})
        self.assertEqual({r["h"].get("host") for r in checks}, {"svc"})

        before = sequential(addr, 30, "/before")
        self.assertEqual([], [r for r in before if r["status"] != 200], summary(before))
        self.assertEqual({"a", "b", "c"}, instances(before))

        # c's health path starts failing; its traffic would still succeed (the request
        # header overrides the default), so only the checks can take it out.
        c.defaults = {"x-fake-status": "503"}
        self.wait_health("svc", c, "unhealthy")
        failed = [r for r in c.requests_for("/hc") if r["h"].get("x-fake-status") == "503"]
        self.assertGreaterEqual(len(failed), 3, "unhealthy after fewer than `unhealthy: 3` failed checks")
        self.assertEqual("healthy", self.state("svc", a)["health"])
        self.h.wait_for_log(lambda d: d.get("msg") == "endpoint unhealthy" and d.get("endpoint") == c.address,
                            message="'endpoint unhealthy' log line for c")
        hh.wait_until(lambda: self.metric("hawser_endpoints", service="svc", state="unhealthy") == 1,
                      timeout=3, message="hawser_endpoints{state=unhealthy} == 1")
        self.assertEqual(self.metric("hawser_endpoints", service="svc", state="healthy"), 2)
        self.assertGreaterEqual(self.metric("hawser_health_checks_total", service="svc", result="fail"), 3)
        self.assertGreaterEqual(self.metric("hawser_health_checks_total", service="svc", result="pass"), 3)

        during = sequential(addr, 60, "/during", {"x-fake-status": "200"})
        self.assertEqual([], [r for r in during if r["status"] != 200], summary(during))
        self.assertEqual({"a", "b"}, instances(during))
        self.assertEqual([], c.requests_for("/during"), "traffic reached the unhealthy instance")

        # Healthy again after `healthy: 2` consecutive passes, not the first.
        c.defaults = {}
        self.wait_health("svc", c, "healthy")
        log = c.requests_for("/hc")
        last_fail = max(i for i, r in enumerate(log) if r["h"].get("x-fake-status") == "503")
        self.assertGreaterEqual(len(log) - 1 - last_fail, 2, "healthy again after fewer than 2 passing checks")
        # One "endpoint healthy" line at its first pass, one now.
        hh.wait_until(lambda: len([d for d in self.h.log_lines() if d.get("msg") == "endpoint healthy"
                                   and d.get("endpoint") == c.address and d.get("service") == "svc"]) == 2,
                      timeout=3, message="a second 'endpoint healthy' log line for c")
        hh.wait_until(lambda: self.metric("hawser_endpoints", service="svc", state="healthy") == 3,
                      timeout=3, message="hawser_endpoints{state=healthy} == 3")
        self.assertEqual(self.metric("hawser_endpoints", service="svc", state="unhealthy"), 0)
        after = sequential(addr, 30, "/after")
        self.assertEqual([], [r for r in after if r["status"] != 200], summary(after))
        self.assertIn("c", instances(after), "the healed instance takes traffic again")

    def test_instance_failing_its_first_check_never_takes_traffic_and_panic_uses_all(self):
        """A new endpoint is unhealthy until its first check passes: one whose health path
        hangs (a timeout) gets no request. When every endpoint is unhealthy, panic mode
        spreads traffic over all of them."""
        a, b = self.fake("a"), self.fake("b")
        hang = self.fake("hang", x_fake_hang="1")
        self.start([service("svc", [f.address for f in (a, b, hang)], load_balancer="round_robin",
                            health_check=dict(HEALTH))])
        addr = self.h.listener("svc")
        self.wait_health("svc", a, "healthy")
        self.wait_health("svc", b, "healthy")
        line = self.h.wait_for_log(lambda d: d.get("msg") == "endpoint failed its first health check"
                                   and d.get("endpoint") == hang.address,
                                   message="'endpoint failed its first health check' for the hanging one")
        self.assertEqual(line.get("error"), "timeout", line)
        self.assertEqual("unhealthy", self.state("svc", hang)["health"])

        override = {"x-fake-hang": "0", "x-fake-status": "200"}
        results = sequential(addr, 60, "/traffic", override)
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual({"a", "b"}, instances(results))
        self.assertEqual([], hang.requests_for("/traffic"))
        self.assertGreaterEqual(self.metric("hawser_health_checks_total", service="svc", result="fail"), 1)

        # Everyone unhealthy: panic, every endpoint is a candidate again.
        a.defaults = {"x-fake-status": "503"}
        b.defaults = {"x-fake-status": "503"}
        self.wait_health("svc", a, "unhealthy")
        self.wait_health("svc", b, "unhealthy")
        results = sequential(addr, 30, "/panic", override)
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual({"a", "b", "hang"}, instances(results))


    def test_endpoint_found_later_by_discovery_waits_for_its_first_check(self):
        """resilience.md: an endpoint new to the service, "at start, or found later by
        discovery", is unhealthy until its first check passes. A file discovery update adds
        an instance whose health path fails: it must not take traffic meanwhile. The
        interval is long (4 s) so the window before its first check is wide."""
        a = self.fake("a")
        late = self.fake("late", x_fake_status="503")
        tmp = tempfile.mkdtemp(prefix="hawser-hc-file-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "endpoints.yaml")

        def write(addresses):
            with open(path + ".tmp", "w") as f:
                f.write(hh.to_yaml(addresses) + "\n")
            os.replace(path + ".tmp", path)

        write([a.address])
        self.start([service("svc", [], discovery={"file": path}, load_balancer="round_robin",
                            health_check={"path": "/hc", "interval": "4s", "timeout": "1s",
                                          "unhealthy": 1, "healthy": 1})])
        self.wait_health("svc", a, "healthy")
        write([a.address, late.address])
        hh.wait_until(lambda: late.address in clusters(self.h, "svc"), timeout=3, message="the new endpoint")
        health = self.state("svc", late)["health"]
        results = sequential(self.h.listener("svc"), 20, "/new", {"x-fake-status": "200"})
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual((0, "unhealthy"), (len(late.requests_for("/new")), health),
                         "a new, never checked endpoint took traffic (health %r, instances %r)"
                         % (health, sorted(instances(results))))


class HealthChecksOverMutualTls(RoutingBase):
    def test_checks_use_the_traffic_mtls_identity_and_verify_the_peer(self):
        """The check goes over the service's mutual TLS: the responder's app sees it with the
        caller's verified identity; a service expecting another identity from the same
        peer never gets a passing check (and its probe never reaches the app)."""
        tmp = tempfile.mkdtemp(prefix="hawser-hc-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        certs, ids = hh.make_certs(tmp, namespace=NS, services=("caller", "responder"))
        app = self.fake("app")
        responder = self.start(inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": app.address,
                                         "protocol": "http", "timeouts": dict(TIMEOUTS),
                                         "tls": {"mode": "strict"}}],
                               node={"service": "responder", "namespace": NS},
                               tls=hh.tls_block(*ids["responder"], certs.ca_pem()), name="responder")
        peer = hh.addr_str(responder.listener("app"))
        check = {"path": "/healthz", "interval": "300ms", "timeout": "250ms", "unhealthy": 2, "healthy": 1}
        tls = {"mode": "mutual", "namespace": NS}
        caller = self.start([service("responder", [peer], health_check=dict(check), tls=dict(tls)),
                             service("impostor-check", [peer], health_check=dict(check),
                                     tls=dict(tls, sans=["spiffe://%s/someone-else" % NS]))],
                            tls=hh.tls_block(*ids["caller"], certs.ca_pem()), name="caller")
        self.h = caller
        hh.wait_until(lambda: app.requests_for("/healthz") and clusters(caller, "responder")[peer]["health"]
                      == "healthy", timeout=5, message="the responder endpoint passes its check over mTLS")
        r = app.requests_for("/healthz")[-1]
        self.assertEqual((r["method"], r["h"].get("host"), r["h"].get("user-agent")),
                         ("GET", "responder", "hawser-health-check"))
        self.assertIn("URI=spiffe://%s/caller" % NS, r["h"].get("x-forwarded-client-cert", ""),
                      "the check did not arrive with the caller's verified identity")
        hh.wait_until(lambda: caller.metric("hawser_health_checks_total", service="impostor-check",
                                            result="fail") >= 2, timeout=5, message="impostor checks failing")
        self.assertEqual("unhealthy", clusters(caller, "impostor-check")[peer]["health"])
        self.assertEqual(caller.metric("hawser_health_checks_total", service="impostor-check", result="pass"), 0)
        self.assertEqual([], [r for r in app.requests_for("/healthz") if r["h"].get("host") == "impostor-check"])
        self.assertGreaterEqual(caller.metric("hawser_tls_handshake_errors_total", reason="san_mismatch"), 1)

        # The app's health path fails behind the responder sidecar: the endpoint leaves.
        app.defaults = {"x-fake-status": "503"}
        hh.wait_until(lambda: clusters(caller, "responder")[peer]["health"] == "unhealthy", timeout=5,
                      message="the responder endpoint unhealthy")
        self.assertGreaterEqual(caller.metric("hawser_health_checks_total", service="responder", result="fail"), 2)


# --------------------------------------------------------------------------------------
# 2. Weighted round robin

class WeightedRoundRobin(RoutingBase):
    def test_weight_3_to_1_shares_75_25(self):
        heavy, light = self.fake("heavy"), self.fake("light")
        self.start([service("svc", [], load_balancer="round_robin",
                            discovery={"static": [endpoint(heavy, weight=3), endpoint(light)]})])
        addr = self.h.listener("svc")
        eps = clusters(self.h, "svc")
        self.assertEqual((eps[heavy.address]["weight"], eps[light.address]["weight"]), (3, 1))

        # One connection is one worker's balancer: smooth WRR is exact over every cycle of
        # 4 picks and never sends the light one twice in a row.
        seq = [r["instance"] for r in sequential(addr, 400, "/seq")]
        self.assertEqual(seq.count("heavy"), 300, seq[:16])
        self.assertEqual(seq.count("light"), 100)
        for i in range(0, 400, 4):
            self.assertEqual(seq[i:i + 4].count("heavy"), 3, "cycle at %d: %r" % (i, seq[i:i + 4]))
        self.assertFalse(any(x == y == "light" for x, y in zip(seq, seq[1:])), "light picked twice in a row")

        # Many clients over both workers: 75/25 within 1%.
        counts = {"heavy": 0, "light": 0}
        errors = []
        lock = threading.Lock()

        def client(k):
            holder = [None]
            for i in range(500):
                if i % 50 == 0 and holder[0] is not None:  # fresh connections now and then
                    holder[0].close()
                    holder[0] = None
                r = one(holder, addr, "GET", "/many/%d/%d" % (k, i))
                with lock:
                    if r["status"] == 200:
                        counts[r["instance"]] += 1
                    else:
                        errors.append(r)
            if holder[0] is not None:
                holder[0].close()

        run_threads(client, range(4), 60)
        self.assertEqual([], errors[:5])
        total = counts["heavy"] + counts["light"]
        self.assertEqual(total, 2000)
        self.assertTrue(1480 <= counts["heavy"] <= 1520, counts)
        self.assertEqual(counts["heavy"], len(heavy.requests_for("/many/")))

    def test_weight_0_absent_or_unparsable_counts_as_1_and_is_clamped_at_10000(self):
        zero, bad, plain, huge = self.fake("zero"), self.fake("bad"), self.fake("plain"), self.fake("huge")
        self.start([service("svc", [], load_balancer="round_robin",
                            discovery={"static": [endpoint(zero, weight=0), endpoint(bad, weight="three"),
                                                  endpoint(plain)]}),
                    service("big", [], load_balancer="round_robin",
                            discovery={"static": [endpoint(huge, weight=50000), endpoint(plain)]})])
        eps = clusters(self.h, "svc")
        self.assertEqual([eps[f.address]["weight"] for f in (zero, bad, plain)], [1, 1, 1])
        self.assertEqual(clusters(self.h, "big")[huge.address]["weight"], 10000)
        seq = [r["instance"] for r in sequential(self.h.listener("svc"), 300, "/eq")]
        self.assertEqual({n: seq.count(n) for n in ("zero", "bad", "plain")}, {"zero": 100, "bad": 100, "plain": 100})


    # Endpoint attributes from a `file` discovery source (configuration.md: the file lists
    # "host:port" strings or {address, attributes} mappings, or both).
    def endpoints_file(self, items):
        path = getattr(self, "_endpoints_path", None)
        if path is None:
            tmp = tempfile.mkdtemp(prefix="hawser-file-attrs-")
            self.addCleanup(shutil.rmtree, tmp, True)
            path = self._endpoints_path = os.path.join(tmp, "endpoints.yaml")
        with open(path + ".tmp", "w") as f:
            f.write(hh.to_yaml(items) + "\n")
        os.replace(path + ".tmp", path)
        return path

    def alive_clusters(self, name):
        if not self.h.alive():
            raise hh.Abort("hawser exited (rc %r): %s" % (self.h.proc.poll(),
                                                          " | ".join(self.h.stderr.snapshot()[-3:])))
        return clusters(self.h, name)

    def test_file_discovery_items_with_attributes_at_startup(self):
        heavy, light = self.fake("heavy"), self.fake("light")
        path = self.endpoints_file([{"address": heavy.address,
                                     "attributes": {"weight": "3", "AVAILABILITY_ZONE": "zone-x"}},
                                    light.address])
        self.start([service("svc", [], load_balancer="round_robin", discovery={"file": path})])
        eps = self.alive_clusters("svc")
        self.assertEqual((eps[heavy.address]["weight"], eps[heavy.address]["zone"]), (3, "zone-x"))
        self.assertEqual((eps[light.address]["weight"], eps[light.address]["zone"]), (1, ""))
        seq = [r["instance"] for r in sequential(self.h.listener("svc"), 400, "/file")]
        self.assertEqual((seq.count("heavy"), seq.count("light")), (300, 100))

    def test_file_rewritten_with_attributes_while_running(self):
        heavy, light = self.fake("heavy"), self.fake("light")
        path = self.endpoints_file([heavy.address, light.address])
        self.start([service("svc", [], load_balancer="round_robin", discovery={"file": path})])
        seq = [r["instance"] for r in sequential(self.h.listener("svc"), 40, "/plain")]
        self.assertEqual((seq.count("heavy"), seq.count("light")), (20, 20))
        self.endpoints_file([{"address": heavy.address, "attributes": {"weight": "3"}}, light.address])
        died = None
        try:
            hh.wait_until(lambda: self.alive_clusters("svc")[heavy.address]["weight"] == 3, timeout=5,
                          message="the rewritten file's weight attribute")
        except hh.Abort as e:
            died = str(e)
        self.assertIsNone(died, "hawser must survive a discovery file in the documented {address, attributes} form")
        res = sequential(self.h.listener("svc"), 400, "/weighted")
        self.assertEqual([], [r for r in res if r["status"] != 200], summary(res))
        heavy_share = sum(1 for r in res if r["instance"] == "heavy") / 400.0
        self.assertTrue(0.74 <= heavy_share <= 0.76, heavy_share)
        self.assertTrue(self.h.alive())


# --------------------------------------------------------------------------------------
# 3. Circuit breaker: max_connections and max_pending

class ConnectionLimits(RoutingBase):
    def overflow(self, svc, threshold):
        return self.metric("hawser_circuit_breaker_overflow_total", service=svc, threshold=threshold)

    def test_max_connections_requests_wait_then_overflow(self):
        """max_connections 2: two slow requests hold both connections; 8 more wait for one
        (pending) up to timeouts.connect (300 ms), then 503 overflow counted under
        max_connections. hawser never opens a third connection, and afterwards the pooled
        connections serve new requests."""
        up = self.fake("slow")
        self.start([service("svc", [up.address], timeouts={"connect": "300ms", "request": "5s", "idle": "30s"},
                            circuit_breaker={"max_connections": 2})], workers=1)
        addr = self.h.listener("svc")
        held = []
        holders = [threading.Thread(target=lambda: held.extend(
            sequential(addr, 1, "/held", {"x-fake-delay-ms": "1500"})), daemon=True) for _ in range(2)]
        for t in holders:
            t.start()
        hh.wait_until(lambda: len(up.requests_for("/held")) == 2, timeout=3, message="2 held requests upstream")

        over = concurrent(addr, 8, "/over")
        for t in holders:
            t.join(10)
        self.assertEqual([200, 200], [r["status"] for r in held], summary(held))
        self.assertEqual([(503, "overflow")] * 8, [(r["status"], r["reason"]) for r in over], summary(over))
        waited = [r["end"] - r["start"] for r in over]
        self.assertGreaterEqual(min(waited), 0.25, "overflowed before waiting timeouts.connect: %r" % waited)
        self.assertLess(max(waited), 1.2, "waited for the held requests instead: %r" % waited)
        self.assertEqual([], up.requests_for("/over"))
        self.assertEqual(up.stats()["connections"], 2)
        self.assertEqual(self.overflow("svc", "max_connections"), 8)
        self.assertEqual(self.overflow("svc", "max_pending"), 0)
        self.assertEqual(self.metric("hawser_local_replies_total", reason="overflow"), 8)

        # Below the limit nothing waits: the pooled connections take the next requests.
        after = concurrent(addr, 2, "/after")
        self.assertEqual([200, 200], [r["status"] for r in after], summary(after))
        self.assertEqual(up.stats()["connections"], 2)

    def test_max_connections_queues_rather_than_fails_within_connect_timeout(self):
        """With keep-alive, requests beyond max_connections wait for a pooled connection:
        6 concurrent requests over 2 connections all succeed, in 3 waves."""
        up = self.fake("svc-up", x_fake_delay_ms="300")
        self.start([service("svc", [up.address], timeouts={"connect": "3s", "request": "5s", "idle": "30s"},
                            circuit_breaker={"max_connections": 2})], workers=1)
        results = concurrent(self.h.listener("svc"), 6, "/queue")
        self.assertEqual([200] * 6, [r["status"] for r in results], summary(results))
        self.assertEqual(up.stats()["connections"], 2)
        took = sorted(r["end"] - r["start"] for r in results)
        self.assertGreaterEqual(took[-1], 0.85, "6 requests of 300 ms over 2 connections: %r" % took)
        self.assertEqual(self.overflow("svc", "max_connections"), 0)

    def test_max_pending_fails_fast_beyond_the_queue(self):
        """max_connections 1, max_pending 2: with the one connection busy, 2 requests queue
        for it (and are served after it), the other 7 fail at once with 503 overflow
        under max_pending."""
        up = self.fake("slow")
        self.start([service("svc", [up.address], timeouts={"connect": "4s", "request": "10s", "idle": "30s"},
                            circuit_breaker={"max_connections": 1, "max_pending": 2})], workers=1)
        addr = self.h.listener("svc")
        slow = {"x-fake-delay-ms": "800"}
        held = []
        holder = threading.Thread(target=lambda: held.extend(sequential(addr, 1, "/held", slow)), daemon=True)
        holder.start()
        hh.wait_until(lambda: len(up.requests_for("/held")) == 1, timeout=3, message="the held request upstream")
        results = concurrent(addr, 9, "/burst", slow)
        holder.join(10)
        self.assertEqual([200], [r["status"] for r in held])
        ok = [r for r in results if r["status"] == 200]
        over = [r for r in results if (r["status"], r["reason"]) == (503, "overflow")]
        self.assertEqual((len(ok), len(over)), (2, 7), summary(results))
        self.assertLess(max(r["end"] - r["start"] for r in over), 0.5, "max_pending overflow is not fail-fast")
        self.assertGreaterEqual(min(r["end"] - r["start"] for r in ok), 0.8)
        self.assertEqual(len(up.requests_for("/burst")), 2)
        self.assertEqual(up.stats()["connections"], 1)
        self.assertEqual(self.overflow("svc", "max_pending"), 7)
        self.assertEqual(self.overflow("svc", "max_connections"), 0)
        self.assertEqual(self.overflow("svc", "max_requests"), 0)

    def test_idle_pooled_connection_of_another_worker_does_not_block_the_service(self):
        """max_connections 1 over 2 workers, one request at a time, each on a fresh client
        connection (the kernel spreads them over both workers), spaced by more than
        timeouts.idle. No request is ever concurrent with another, and the pooled
        connection left by the previous one has been idle past `idle`, so none should
        overflow (resilience.md: a waiting request proceeds when 'any of the service's
        connections close'; configuration.md: `idle` bounds a pooled upstream connection)."""
        up = self.fake("up")
        self.start([service("svc", [up.address], timeouts={"connect": "200ms", "request": "5s", "idle": "200ms"},
                            circuit_breaker={"max_connections": 1})], workers=2)
        addr = self.h.listener("svc")
        results = []
        for i in range(12):
            st, hdrs, _ = hh.http_request(addr, "GET", "/one-at-a-time/%d" % i, timeout=5)
            results.append((st, hdrs.get("x-hawser-reason")))
            time.sleep(0.35)
        self.assertEqual([(200, None)] * 12, results,
                         "sequential requests overflowed max_connections 1 (overflow metric %r)"
                         % self.overflow("svc", "max_connections"))


# --------------------------------------------------------------------------------------
# 4 and 5. Rate limits: outbound per service, inbound per peer

class OutboundRateLimit(RoutingBase):
    def test_service_rate_limit_429_retry_after_and_metric(self):
        up = self.fake("up")
        self.start([service("limited", [up.address], rate_limit={"rps": 2, "burst": 4}),
                    service("free", [up.address])])
        limited = self.h.listener("limited")
        t0 = time.monotonic()
        results = concurrent(limited, 16, "/limited")
        elapsed = time.monotonic() - t0
        ok = [r for r in results if r["status"] == 200]
        limited_r = [r for r in results if r["status"] == 429]
        self.assertEqual(len(ok) + len(limited_r), 16, summary(results))
        # The bucket is shared by both workers: burst 4, plus 2/s refill while the burst ran.
        self.assertGreaterEqual(len(ok), 4)
        self.assertLessEqual(len(ok), 4 + int(2 * elapsed) + 1, "accepted %d in %.2fs" % (len(ok), elapsed))
        bad = [r for r in limited_r if r["reason"] != "rate-limited" or not (r["retry_after"] or "").isdigit()
               or int(r["retry_after"]) < 1 or r["instance"] is not None]
        self.assertEqual([], bad[:3])
        self.assertEqual(len(up.requests_for("/limited")), len(ok), "a rate-limited request reached the upstream")
        self.assertEqual(self.metric("hawser_rate_limited_total", listener="limited"), len(limited_r))
        self.assertEqual(self.metric("hawser_local_replies_total", reason="rate-limited"), len(limited_r))

        # Another service is not limited by it.
        free = sequential(self.h.listener("free"), 20, "/free")
        self.assertEqual([200] * 20, [r["status"] for r in free], summary(free))
        self.assertEqual(self.metric("hawser_rate_limited_total", listener="free"), 0)

        # After Retry-After seconds a token is back.
        time.sleep(int(limited_r[-1]["retry_after"]))
        st, _, _ = hh.http_request(limited, "GET", "/limited/again")
        self.assertEqual(st, 200)


class PerPeerRateLimit(RoutingBase):
    """Inbound rate_limit with per_peer: each verified client identity has its own bucket;
    plaintext peers (permissive mode) share one. A listener without per_peer shares one
    bucket among everyone (the control)."""

    RPS, BURST = 1, 3

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="hawser-peer-rl-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.certs, self.ids = hh.make_certs(tmp, namespace=NS, services=("responder", "caller-a", "caller-b"))
        self.app = self.fake("app")
        limit = {"rps": self.RPS, "burst": self.BURST}

        def listener(name, **extra):
            return {"name": name, "listen": "127.0.0.1:0", "app": self.app.address, "protocol": "http",
                    "timeouts": dict(TIMEOUTS), "tls": {"mode": "permissive"}, "rate_limit": dict(limit, **extra)}

        self.start(inbound=[listener("per-peer", per_peer=True), listener("shared")],
                   node={"service": "responder", "namespace": NS},
                   tls=hh.tls_block(*self.ids["responder"], self.certs.ca_pem()))

    def burst(self, listener, identity, n=5):
        """n requests back to back on one keep-alive connection, as `identity` (a workload
        name) over mTLS, or plaintext when None. Returns [(status, reason, retry_after)]."""
        addr = self.h.listener(listener)
        if identity:
            ctx = hh.client_ssl_context(self.certs.ca_pem(), *self.ids[identity])
            conn = http.client.HTTPSConnection(addr[0], addr[1], timeout=10, context=ctx)
        else:
            conn = http.client.HTTPConnection(addr[0], addr[1], timeout=10)
        out = []
        try:
            for i in range(n):
                conn.request("GET", "/%s/%s/%d" % (listener, identity or "plain", i), headers={"Host": "responder"})
                r = conn.getresponse()
                r.read()
                out.append((r.status, r.getheader("x-hawser-reason"), r.getheader("retry-after")))
        finally:
            conn.close()
        return out

    def ok(self, results):
        return sum(1 for s, _, _ in results if s == 200)

    def test_each_identity_has_its_own_bucket(self):
        t0 = time.monotonic()
        a = self.burst("per-peer", "caller-a")
        b = self.burst("per-peer", "caller-b")
        p1 = self.burst("per-peer", None)
        p2 = self.burst("per-peer", None)
        refill = int((time.monotonic() - t0) * self.RPS)
        for who, res in (("caller-a", a), ("caller-b", b)):
            self.assertGreaterEqual(self.ok(res), self.BURST, "%s: %r" % (who, res))
            self.assertLessEqual(self.ok(res), self.BURST + refill, "%s: %r" % (who, res))
            self.assertEqual(res[:self.BURST], [(200, None, None)] * self.BURST, who)
        # Plaintext peers share one bucket: the second connection finds it spent.
        self.assertGreaterEqual(self.ok(p1), self.BURST, p1)
        self.assertLessEqual(self.ok(p2), refill, p2)
        limited = [x for x in a + b + p1 + p2 if x[0] == 429]
        self.assertTrue(limited)
        self.assertTrue(all(reason == "rate-limited" and (ra or "").isdigit() and int(ra) >= 1
                            for _, reason, ra in limited), limited)
        self.assertEqual(self.metric("hawser_rate_limited_total", listener="per-peer"), len(limited))
        # The app saw each identity's accepted requests, vouched for by the sidecar.
        for who, res in (("caller-a", a), ("caller-b", b)):
            seen = self.app.requests_for("/per-peer/%s/" % who)
            self.assertEqual(len(seen), self.ok(res))
            self.assertEqual({r["h"].get("x-forwarded-client-cert", "").split("URI=")[-1] for r in seen},
                             {"spiffe://%s/%s" % (NS, who)})

    def test_without_per_peer_one_identity_spends_everyones_bucket(self):
        t0 = time.monotonic()
        a = self.burst("shared", "caller-a")
        b = self.burst("shared", "caller-b")
        refill = int((time.monotonic() - t0) * self.RPS)
        self.assertGreaterEqual(self.ok(a), self.BURST, a)
        self.assertLessEqual(self.ok(b), refill, "caller-b got its own bucket on a shared limit: %r" % b)
        self.assertEqual(self.metric("hawser_rate_limited_total", listener="shared"),
                         sum(1 for x in a + b if x[0] == 429))


# --------------------------------------------------------------------------------------
# 6. Routes: header match, per-route retry and timeouts

class Routes(RoutingBase):
    def test_header_and_prefix_match_choose_the_subset(self):
        v1 = [self.fake("v1-a"), self.fake("v1-b")]
        v2 = self.fake("v2-a")
        eps = [endpoint(f, version="v1") for f in v1] + [endpoint(v2, version="v2")]
        self.start([service("svc", [], discovery={"static": eps}, load_balancer="round_robin", routes=[
            {"match": {"prefix": "/", "headers": {"x-team": "qa"}},
             "split": [{"subset": {"version": "v2"}, "weight": 100}]},
            {"match": {"prefix": "/beta/"}, "split": [{"subset": {"version": "v2"}, "weight": 1}]},
            {"split": [{"subset": {"version": "v1"}, "weight": 100}]},
        ])])
        addr = self.h.listener("svc")
        cases = [
            ("/plain", {}, {"v1-a", "v1-b"}),
            ("/qa", {"x-team": "qa"}, {"v2-a"}),
            ("/qa-name-case", {"X-TEAM": "qa"}, {"v2-a"}),         # header names are case-insensitive
            ("/qa-value-case", {"x-team": "QA"}, {"v1-a", "v1-b"}),  # values are exact
            ("/qa-longer", {"x-team": "qa-ops"}, {"v1-a", "v1-b"}),
            ("/other-team", {"x-team": "dev"}, {"v1-a", "v1-b"}),
            ("/beta/x", {}, {"v2-a"}),
            ("/betax", {}, {"v1-a", "v1-b"}),                        # "/beta/" is a string prefix
        ]
        for path, headers, want in cases:
            res = sequential(addr, 10, path, headers)
            self.assertEqual([200] * 10, [r["status"] for r in res], "%s: %s" % (path, summary(res)))
            self.assertEqual(want, instances(res), "%s %r" % (path, headers))

    def test_route_retry_overrides_the_service_retry(self):
        """Service `retry: {attempts: 1}` with a route enabling retries, and the reverse:
        a service retrying gateway errors with a route that turns retries off."""
        bad = self.fake("bad", x_fake_status="503")
        good = self.fake("good")
        pair = [bad.address, good.address]
        budget = {"percent": 100, "min_per_second": 1000}
        self.start([
            service("off", pair, load_balancer="round_robin", retry={"attempts": 1, "budget": budget},
                    routes=[{"match": {"prefix": "/retry"},
                             "retry": {"attempts": 3, "backoff": {"base": "5ms", "max": "10ms"}}}]),
            service("on", pair, load_balancer="round_robin",
                    retry={"attempts": 3, "on": ["gateway-error"], "backoff": {"base": "5ms", "max": "10ms"},
                           "budget": budget},
                    routes=[{"match": {"prefix": "/once"}, "retry": {"attempts": 1}}]),
        ])
        retries = lambda svc: self.metric("hawser_retries_total", service=svc)  # noqa: E731

        # Service "off": no retry, except on its /retry route (default `on` includes gateway-error).
        plain = sequential(self.h.listener("off"), 20, "/off-plain")
        self.assertEqual(len([r for r in plain if r["status"] == 503 and r["instance"] == "bad"]),
                         len(bad.requests_for("/off-plain")))
        self.assertGreater(len(bad.requests_for("/off-plain")), 0, "round robin never tried bad")
        self.assertEqual(retries("off"), 0)
        routed = sequential(self.h.listener("off"), 20, "/retry")
        self.assertEqual([200] * 20, [r["status"] for r in routed], summary(routed))
        self.assertEqual({"good"}, instances(routed))
        self.assertGreater(len(bad.requests_for("/retry")), 0)
        self.assertEqual(retries("off"), len(bad.requests_for("/retry")))

        # Service "on": retried, except on its /once route.
        plain = sequential(self.h.listener("on"), 20, "/on-plain")
        self.assertEqual([200] * 20, [r["status"] for r in plain], summary(plain))
        self.assertEqual(retries("on"), len(bad.requests_for("/on-plain")))
        before = retries("on")
        once = sequential(self.h.listener("on"), 20, "/once")
        failed = [r for r in once if r["status"] == 503]
        self.assertGreater(len(failed), 0, "the /once route retried anyway: %s" % summary(once))
        self.assertEqual({"bad"}, instances(failed))
        self.assertEqual(len(failed), len(bad.requests_for("/once")))
        self.assertEqual(retries("on"), before)

    def test_route_timeouts_override_the_service_timeouts(self):
        up = self.fake("up")
        self.start([service("svc", [up.address], timeouts={"connect": "1s", "request": "5s", "idle": "30s"},
                            routes=[{"match": {"prefix": "/short"}, "timeouts": {"request": "300ms"}}])])
        addr = self.h.listener("svc")
        t = time.monotonic()
        st, hdrs, _ = hh.http_request(addr, "GET", "/short/x", headers={"x-fake-delay-ms": "1500"})
        took = time.monotonic() - t
        self.assertEqual((st, hdrs.get("x-hawser-reason")), (504, "upstream-timeout"))
        self.assertTrue(0.25 <= took < 1.2, "route request timeout 300 ms took %.2fs" % took)
        # Outside the route the service's 5 s applies.
        t = time.monotonic()
        st, hdrs, _ = hh.http_request(addr, "GET", "/long/x", headers={"x-fake-delay-ms": "800"})
        took = time.monotonic() - t
        self.assertEqual((st, hdrs.get("x-fake-instance")), (200, "up"))
        self.assertGreaterEqual(took, 0.8)
        self.assertEqual(self.metric("hawser_local_replies_total", reason="upstream-timeout"), 1)



# --------------------------------------------------------------------------------------
# Reload: state kept for unchanged services, fresh for changed ones

class ReloadKeepsState(RoutingBase):
    def test_ejection_bucket_and_health_survive_an_unrelated_reload(self):
        """A reload that only adds a service keeps, for the unchanged ones, the
        outlier ejection, the emptied rate-limit bucket and the health state; a
        service whose settings change starts afresh (its bucket is full again)."""
        bad, good = self.fake("bad", x_fake_status="503"), self.fake("good")
        limited_up, sick = self.fake("limited"), self.fake("sick")
        sick.defaults = {"x-fake-status": "503"}
        svcs = [
            service("ej", [bad.address, good.address], load_balancer="round_robin",
                    outlier_detection={"consecutive_5xx": 2, "consecutive_gateway_errors": 0,
                                       "base_ejection": "60s", "max_ejection_percent": 50}),
            service("rl", [limited_up.address], rate_limit={"rps": 1, "burst": 2}),
            service("hc", [sick.address, good.address], load_balancer="round_robin",
                    health_check={"path": "/hc", "interval": "200ms", "timeout": "100ms",
                                  "unhealthy": 1, "healthy": 1}),
        ]
        cfg = hh.base_config(node={"service": "caller", "namespace": NS}, outbound={"services": svcs})
        h = hh.start_hawser(self, cfg, name="reload-state")
        self.h = h
        ej, rl, hc = h.listener("ej"), h.listener("rl"), h.listener("hc")

        # Before: bad ejected, sick unhealthy, and (last, as the bucket refills at
        # 1 token a second) the bucket emptied.
        sequential(ej, 8, "/eject")
        self.assertTrue(self.state("ej", bad)["ejected"])
        self.wait_health("hc", sick, "unhealthy")
        statuses = [r["status"] for r in sequential(rl, 3, "/limit")]
        self.assertEqual(statuses, [200, 200, 429])

        # Reload: one more service, the three above unchanged.
        cfg["outbound"]["services"] = svcs + [service("extra", [good.address])]
        h.write_config(cfg)
        st, _, body = h.admin_post("/reload")
        self.assertEqual(st, 200, body)
        self.assertEqual([r["status"] for r in sequential(rl, 1, "/limit-after")], [429],
                         "the emptied bucket was refilled by an unrelated reload")
        self.assertTrue(self.state("ej", bad)["ejected"], "ejection lost by the reload")
        self.assertEqual(self.state("hc", sick)["health"], "unhealthy", "health state lost by the reload")
        ej_before = self.seen([bad])["bad"]
        after = sequential(ej, 10, "/after-reload")
        self.assertEqual([r["status"] for r in after], [200] * 10, summary(after))
        self.assertEqual(self.seen([bad])["bad"], ej_before, "the ejected endpoint got traffic after the reload")
        hc_after = sequential(hc, 10, "/hc-after")
        self.assertEqual([r["status"] for r in hc_after], [200] * 10, summary(hc_after))
        self.assertEqual(instances(hc_after), {"good"})

        # Changing the rate limit itself gives the service a new, full bucket.
        svcs[1] = service("rl", [limited_up.address], rate_limit={"rps": 1, "burst": 3})
        cfg["outbound"]["services"] = svcs
        h.write_config(cfg)
        st, _, body = h.admin_post("/reload")
        self.assertEqual(st, 200, body)
        h.listeners(refresh=True)
        statuses = [r["status"] for r in sequential(h.listener("rl"), 4, "/limit-changed")]
        self.assertEqual(statuses, [200, 200, 200, 429])


if __name__ == "__main__":
    unittest.main()
