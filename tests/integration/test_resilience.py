"""Resilience policy end to end (issue 6, acceptance 1 to 9).

Topology (all on 127.0.0.1, ephemeral ports, plaintext):

    client threads --> hawser (outbound alias listener per service) --> fake upstreams
    client threads --> hawser (inbound listener with rate_limit)    --> fake upstream app

Fake upstreams are steered per instance (FakeUpstream(defaults={...}): always 503, always
slow, always hang) or per request (x-fake-* headers).  A "refused" endpoint is a loopback
port nobody listens on.

Health checks, weighted round robin, max_connections / max_pending, outbound and
per-peer rate limits and route overrides are in test_routing_health.py.
"""

import http.client
import socket
import threading
import time
import unittest

import hawser_harness as hh
from fake_upstream import FakeUpstream

TIMEOUTS = {"connect": "1s", "request": "5s", "idle": "30s"}


def refused_address():
    """A loopback address where connecting is refused (bound, never listening)."""
    s = socket.socket()
    s.bind((hh.LOOPBACK, 0))
    return s, "%s:%d" % s.getsockname()


def service(name, endpoints, **extra):
    svc = {"name": name, "alias": "127.0.0.1:0", "protocol": "http",
           "discovery": {"static": list(endpoints)}, "timeouts": dict(TIMEOUTS)}
    svc.update(extra)
    return svc


class Result(dict):
    pass


def one(conn_holder, addr, method, path, headers=None, body=None, timeout=10.0):
    """One request on a keep-alive connection held in conn_holder[0] (reconnects as needed)."""
    start = time.monotonic()
    try:
        if conn_holder[0] is None:
            conn_holder[0] = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
            conn_holder[0].connect()
        c = conn_holder[0]
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        res = Result(start=start, end=time.monotonic(), status=r.status, body=data,
                     instance=r.getheader("x-fake-instance"), reason=r.getheader("x-hawser-reason"),
                     retry_after=r.getheader("retry-after"), error=None)
        if r.will_close:
            c.close()
            conn_holder[0] = None
        return res
    except Exception as e:  # noqa: BLE001 - recorded as a client failure
        if conn_holder[0] is not None:
            conn_holder[0].close()
            conn_holder[0] = None
        return Result(start=start, end=time.monotonic(), status=None, body=b"", instance=None,
                      reason=None, retry_after=None, error=repr(e))


def run_load(addr, threads, duration, path, headers=None, interval=None, method="GET", body=None):
    """`threads` keep-alive clients for `duration` seconds; with `interval`, each thread sends
    on a fixed schedule (one request every `interval` s, threads staggered) instead of
    back to back.  Returns (results, wall seconds)."""
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    t0_box = []

    def worker(k):
        holder = [None]
        mine = []
        barrier.wait()
        t0 = t0_box[0]
        i = 0
        while True:
            if interval:
                at = t0 + (k / threads) * interval + i * interval
                if at >= t0 + duration:
                    break
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            elif time.monotonic() >= t0 + duration:
                break
            mine.append(one(holder, addr, method, "%s?t=%d&i=%d" % (path, k, i), headers, body))
            i += 1
        if holder[0] is not None:
            holder[0].close()
        with lock:
            results.extend(mine)

    ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    for t in ts:
        t.start()
    t0_box.append(time.monotonic() + 0.05)
    barrier.wait()
    for t in ts:
        t.join(duration + 30)
        if t.is_alive():
            raise AssertionError("load thread did not finish")
    wall = max(r["end"] for r in results) - t0_box[0]
    return results, wall


def run_threads(target, args, timeout):
    """target(a) for each a in `args`, each in its own daemon thread, all at once;
    waits at most `timeout` seconds for each and fails if one is still running."""
    ts = [threading.Thread(target=target, args=(a,), daemon=True) for a in args]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("a client thread did not finish within %g s" % timeout)


def summary(results, n=5):
    bad = [r for r in results if r["status"] != 200]
    return "%d of %d not 200; first: %r" % (
        len(bad), len(results),
        [{k: v for k, v in r.items() if k != "body"} for r in bad[:n]])


class ResilienceBase(unittest.TestCase):
    def fake(self, name, **defaults):
        f = FakeUpstream(name, defaults={k.replace("_", "-"): v for k, v in defaults.items()})
        f.start()
        self.addCleanup(f.stop)
        return f

    def hawser(self, services=None, inbound=None):
        cfg = hh.base_config(node={"service": "caller", "namespace": "demo"})
        if services:
            cfg["outbound"] = {"services": services}
        if inbound:
            cfg["inbound"] = inbound
        self.h = hh.start_hawser(self, cfg, name=self.id().rsplit(".", 1)[-1])
        return self.h

    def seen(self, fakes, path=None):
        """Requests each fake received (with `path`: those whose path starts with it; the
        per-request log keeps the last 2000 only, so high-volume tests count them all)."""
        if path is None:
            return {f.name: f.stats()["requests"] for f in fakes}
        return {f.name: len(f.requests_for(path)) for f in fakes}

    def metric(self, name, **labels):
        return self.h.metric(name, **labels)


class Retries(ResilienceBase):
    def test_1_one_instance_always_503_client_sees_no_failures(self):
        """Acceptance 1 (retry half): three instances, one always 503; retry on gateway-error."""
        bad = self.fake("bad", x_fake_status="503")
        good = [self.fake("good-a"), self.fake("good-b")]
        fakes = [bad] + good
        # A third of first attempts fail, more than a 20% budget admits by design (the
        # budget is test 2's subject), so this service's budget and max_retries leave room.
        self.hawser([service("svc", [f.address for f in fakes], load_balancer="round_robin",
                             retry={"attempts": 3, "on": ["gateway-error"],
                                    "backoff": {"base": "5ms", "max": "20ms"},
                                    "budget": {"percent": 100, "min_per_second": 1000}},
                             circuit_breaker={"max_retries": 100})])
        results, _ = run_load(self.h.listener("svc"), threads=4, duration=1.5, path="/one")
        self.assertGreater(len(results), 100)
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual(set(), {r["instance"] for r in results} - {"good-a", "good-b"})
        seen = self.seen(fakes)
        # Round robin over three: about a third of first attempts land on the bad one.
        self.assertGreater(seen["bad"], len(results) / 6, seen)
        # Each of those was retried exactly once, on a good instance (never the bad one again).
        self.assertEqual(sum(seen.values()), len(results) + seen["bad"], seen)
        self.assertEqual(self.metric("hawser_retries_total", service="svc"), seen["bad"])
        self.assertEqual(self.metric("hawser_retry_budget_exhausted_total", service="svc"), 0)

    def test_1b_bad_instance_ejected_then_returns(self):
        """Acceptance 1 (outlier half): the always-503 instance is ejected after the
        configured consecutive gateway errors, gets no traffic while ejected, and
        returns after base_ejection; clients never see a failure."""
        bad = self.fake("bad", x_fake_status="503")
        good = [self.fake("good-a"), self.fake("good-b")]
        fakes = [bad] + good
        self.hawser([service("svc", [f.address for f in fakes], load_balancer="round_robin",
                             retry={"attempts": 3, "on": ["gateway-error"],
                                    "backoff": {"base": "5ms", "max": "20ms"},
                                    "budget": {"percent": 100, "min_per_second": 1000}},
                             circuit_breaker={"max_retries": 100},
                             outlier_detection={"consecutive_gateway_errors": 3, "consecutive_5xx": 0,
                                                "base_ejection": "1500ms", "interval": "10s",
                                                "max_ejection_percent": 50})])
        addr = self.h.listener("svc")

        def bad_state():
            eps = self.h.admin_json("/clusters")["clusters"]
            svc = next(c for c in eps if c["name"] == "svc")
            return next(e for e in svc["endpoints"] if e["address"] == bad.address)

        results, _ = run_load(addr, threads=2, duration=0.5, path="/eject")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertTrue(bad_state()["ejected"], "the failing instance is ejected")
        self.assertEqual(self.metric("hawser_outlier_ejections_total", service="svc"), 1)
        # Ejected at the 3rd consecutive gateway error; a request each client thread
        # already had in flight to it at that moment may still land (at most 2).
        self.assertGreaterEqual(self.seen([bad])["bad"], 3)
        self.assertLessEqual(self.seen([bad])["bad"], 3 + 2, "ejected after 3 consecutive gateway errors")
        # While ejected it gets nothing.
        before = self.seen([bad])["bad"]
        results, _ = run_load(addr, threads=2, duration=0.5, path="/while-ejected")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual(self.seen([bad])["bad"], before, "no traffic to an ejected endpoint")
        # It returns once base_ejection (1.5 s) has passed.
        hh.wait_until(lambda: not bad_state()["ejected"], timeout=5, message="ejected endpoint returns")
        results, _ = run_load(addr, threads=1, duration=0.3, path="/after")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertGreater(self.seen([bad])["bad"], before, "the returned endpoint is tried again")

    def test_2_every_instance_failing_budget_caps_amplification(self):
        """Acceptance 2: attempts <= (1 + percent/100) x requests + min_per_second x (duration + 1 s
        burst) + slack, and exhaustion is counted."""
        fakes = [self.fake("down-%d" % i, x_fake_status="503") for i in range(3)]
        percent, floor = 20, 10
        self.hawser([service("svc", [f.address for f in fakes],
                             retry={"attempts": 3, "per_try_timeout": "100ms",
                                    "on": ["gateway-error", "connect-failure", "reset"],
                                    "backoff": {"base": "25ms", "max": "250ms"},
                                    "budget": {"percent": percent, "min_per_second": floor}})])
        results, wall = run_load(self.h.listener("svc"), threads=8, duration=3.0, path="/two")
        n = len(results)
        self.assertGreater(n, 500, "too little load to test the budget")
        self.assertEqual([], [r for r in results if r["status"] != 503 or r["instance"] is None],
                         "every client response should be the upstream's 503")
        attempts = sum(self.seen(fakes).values())
        bound = (1 + percent / 100.0) * n + floor * (wall + 1.0) + 5
        self.assertLessEqual(attempts, bound, "attempts %d, requests %d, wall %.2fs" % (attempts, n, wall))
        self.assertGreater(attempts, n, "no retries at all: the floor should admit some")
        self.assertEqual(self.metric("hawser_retries_total", service="svc"), attempts - n)
        exhausted = self.metric("hawser_retry_budget_exhausted_total", service="svc")
        overflow_retries = self.metric("hawser_circuit_breaker_overflow_total", service="svc",
                                       threshold="max_retries")
        self.assertGreater(exhausted, 0)
        # Every refused retry is counted once, as budget exhaustion or max_retries overflow:
        # each request made 1 attempt + its retries, and stopped for the budget unless it
        # had used all 3 attempts.
        self.assertLessEqual(exhausted + overflow_retries, n)

    def test_9_per_try_timeout_on_hanging_instance_retries_elsewhere(self):
        """Acceptance 9: per_try_timeout 100 ms, one instance hangs."""
        hang = self.fake("hang", x_fake_hang="1")
        fakes = [hang, self.fake("ok-a"), self.fake("ok-b")]
        self.hawser([service("svc", [f.address for f in fakes], load_balancer="round_robin",
                             retry={"attempts": 3, "per_try_timeout": "100ms", "on": ["gateway-error"],
                                    "backoff": {"base": "25ms", "max": "250ms"}})])
        addr = self.h.listener("svc")
        holder = [None]
        results = [one(holder, addr, "GET", "/nine/%d" % i) for i in range(9)]
        if holder[0] is not None:
            holder[0].close()
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual(set(), {r["instance"] for r in results} - {"ok-a", "ok-b"})
        hung = len(hang.requests_for("/nine/"))
        self.assertGreaterEqual(hung, 1, "the hanging instance was never tried")
        self.assertEqual(self.metric("hawser_retries_total", service="svc"), hung)
        worst = max(r["end"] - r["start"] for r in results)
        # 100 ms per-try + at most 25 ms backoff + the fast answer; the request timeout is 5 s.
        self.assertLess(worst, 0.6, "slowest request %.3fs" % worst)
        slow = [r["end"] - r["start"] for r in results if r["end"] - r["start"] > 0.09]
        self.assertEqual(len(slow), hung, "requests that waited out a per-try timeout")

    def test_9b_every_instance_hangs_504_upstream_timeout(self):
        """Per-try timeouts on every attempt: 504 upstream-timeout after `attempts` tries,
        long before the request timeout."""
        fakes = [self.fake("hang-%d" % i, x_fake_hang="1") for i in range(3)]
        self.hawser([service("svc", [f.address for f in fakes],
                             retry={"attempts": 3, "per_try_timeout": "100ms", "on": ["gateway-error"],
                                    "backoff": {"base": "25ms", "max": "250ms"}})])
        t = time.monotonic()
        st, hdrs, _ = hh.http_request(self.h.listener("svc"), "GET", "/nine-b", timeout=10)
        elapsed = time.monotonic() - t
        self.assertEqual((st, hdrs.get("x-hawser-reason")), (504, "upstream-timeout"))
        self.assertEqual(sum(self.seen(fakes, "/nine-b").values()), 3)
        order = [name for _, name in sorted((r["time"], f.name) for f in fakes for r in f.requests_for("/nine-b"))]
        self.assertTrue(all(a != b for a, b in zip(order, order[1:])),
                        "each retry on another instance than the attempt before: %r" % order)
        self.assertLess(elapsed, 1.5, "3 x 100 ms + backoff, not the 5 s request timeout")
        self.assertGreaterEqual(elapsed, 0.3)


class NonIdempotent(ResilienceBase):
    def setUp(self):
        self.fakes = [self.fake("p-a"), self.fake("p-b"), self.fake("p-c")]
        self.refused_sock, refused = refused_address()
        self.addCleanup(self.refused_sock.close)
        self.fb = [self.fake("r-a"), self.fake("r-b")]
        retry = {"attempts": 3, "on": ["gateway-error", "server-error", "connect-failure", "reset"],
                 "backoff": {"base": "5ms", "max": "20ms"}}
        self.hawser([service("svc", [f.address for f in self.fakes], retry=retry),
                     service("half-down", [refused] + [f.address for f in self.fb],
                             load_balancer="round_robin", retry=retry)])

    def test_6a_post_answered_503_is_not_retried(self):
        addr = self.h.listener("svc")
        body = b'{"charge": 100}'
        st, hdrs, data = hh.http_request(addr, "POST", "/six-a/pay", body=body,
                                         headers={"x-fake-status": "503", "content-type": "application/json"})
        self.assertEqual(st, 503)
        self.assertIsNotNone(hdrs.get("x-fake-instance"), "the upstream's own 503 goes to the client")
        self.assertEqual(sum(self.seen(self.fakes, "/six-a/pay").values()), 1,
                         "the POST reached exactly one instance once")
        self.assertEqual(self.metric("hawser_retries_total", service="svc"), 0)
        # Control: the same 503 on a GET is retried (attempts: 3).
        st, _, _ = hh.http_request(addr, "GET", "/six-a/get", headers={"x-fake-status": "503"})
        self.assertEqual(st, 503)
        self.assertEqual(sum(self.seen(self.fakes, "/six-a/get").values()), 3)
        self.assertEqual(self.metric("hawser_retries_total", service="svc"), 2)

    def test_6b_post_with_connection_refused_is_retried_elsewhere(self):
        addr = self.h.listener("half-down")
        n = 9
        for i in range(n):
            body = ("order %d" % i).encode()
            st, hdrs, data = hh.http_request(addr, "POST", "/six-b/%d" % i, body=body)
            self.assertEqual((st, data), (200, body), "request %d: %r" % (i, hdrs))
            self.assertIn(hdrs["x-fake-instance"], ("r-a", "r-b"))
            self.assertEqual(sum(len(f.requests_for("/six-b/%d" % i)) for f in self.fb), 1,
                             "request %d reached the upstreams exactly once" % i)
        # Round robin over [refused, r-a, r-b]: some first picks were the refused endpoint.
        self.assertGreaterEqual(self.metric("hawser_retries_total", service="half-down"), 1)


class LoadBalancing(ResilienceBase):
    def test_3_least_request_avoids_slow_instance(self):
        slow = self.fake("slow", x_fake_delay_ms="200")
        fakes = [slow, self.fake("fast-a"), self.fake("fast-b")]
        self.hawser([service("svc", [f.address for f in fakes], load_balancer="least_request")])
        results, _ = run_load(self.h.listener("svc"), threads=12, duration=3.0, path="/three")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        counts = {f.name: sum(1 for r in results if r["instance"] == f.name) for f in fakes}
        share = counts["slow"] / float(len(results))
        self.assertGreater(len(results), 300, counts)
        self.assertLess(share, 1 / 6.0, "slow share %.3f of %d: %r" % (share, len(results), counts))


class CircuitBreaking(ResilienceBase):
    def test_4_max_requests_overflow_fails_fast(self):
        up = self.fake("held", x_fake_delay_ms="1500")
        self.hawser([service("svc", [up.address], circuit_breaker={"max_requests": 10})])
        addr = self.h.listener("svc")
        n = 50
        conns = []
        for _ in range(n):
            c = http.client.HTTPConnection(addr[0], addr[1], timeout=10)
            c.connect()
            conns.append(c)
            self.addCleanup(c.close)
        barrier = threading.Barrier(n)
        results = [None] * n

        def go(i):
            barrier.wait()
            results[i] = one([conns[i]], addr, "GET", "/four/%d" % i)

        run_threads(go, range(n), 15)
        self.assertTrue(all(r is not None for r in results))
        ok = [r for r in results if r["status"] == 200]
        over = [r for r in results if r["status"] == 503 and r["reason"] == "overflow"]
        self.assertEqual((len(ok), len(over)), (10, 40),
                         [(r["status"], r["reason"], r["error"]) for r in results])
        slowest_overflow = max(r["end"] - r["start"] for r in over)
        self.assertLess(slowest_overflow, 0.3, "overflow took %.3fs; the upstream holds 1.5 s"
                        % slowest_overflow)
        self.assertTrue(all(r["end"] - r["start"] >= 1.4 for r in ok))
        self.assertEqual(len(up.requests_for("/four/")), 10)
        self.assertEqual(self.metric("hawser_circuit_breaker_overflow_total", service="svc",
                                     threshold="max_requests"), 40)
        # The slots come back: a request after the burst is admitted.
        st, _, _ = hh.http_request(addr, "GET", "/four/after", headers={"x-fake-delay-ms": "0"})
        self.assertEqual(st, 200)


def endpoint(fake, **attributes):
    """A static discovery item with endpoint attributes (version, AVAILABILITY_ZONE, ...)."""
    return {"address": fake.address, "attributes": {k: str(v) for k, v in attributes.items()}}


class Subsets(ResilienceBase):
    def test_5_weighted_split_90_10_and_header_pin(self):
        """Acceptance 5: a 90/10 split over subsets v1/v2 lands within 88-92 / 8-12 over
        10,000 requests; x-hawser-subset: v2 pins v2."""
        v1 = [self.fake("v1-a"), self.fake("v1-b")]
        v2 = [self.fake("v2-a")]
        eps = [endpoint(f, version="v1") for f in v1] + [endpoint(f, version="v2") for f in v2]
        self.hawser([service("svc", [], load_balancer="round_robin",
                             discovery={"static": eps},
                             routes=[{"split": [{"subset": {"version": "v1"}, "weight": 90},
                                                {"subset": {"version": "v2"}, "weight": 10}]}])])
        addr = self.h.listener("svc")
        counts = {"v1": 0, "v2": 0}
        lock = threading.Lock()
        errors = []

        def client(n):
            holder = [None]
            for i in range(n):
                r = one(holder, addr, "GET", "/split?i=%d" % i)
                with lock:
                    if r["status"] != 200:
                        errors.append(r)
                    else:
                        counts[r["instance"].split("-")[0]] += 1
            if holder[0] is not None:
                holder[0].close()

        run_threads(client, [2500] * 4, 120)
        self.assertEqual([], errors[:5])
        total = counts["v1"] + counts["v2"]
        self.assertEqual(total, 10000)
        self.assertTrue(8800 <= counts["v1"] <= 9200, counts)
        self.assertTrue(800 <= counts["v2"] <= 1200, counts)

        holder = [None]
        pinned = [one(holder, addr, "GET", "/pin", headers={"x-hawser-subset": "v2"}) for _ in range(50)]
        self.assertEqual({"v2-a"}, {r["instance"] for r in pinned}, summary(pinned))
        pinned = [one(holder, addr, "GET", "/pin", headers={"x-hawser-subset": "v1"}) for _ in range(50)]
        self.assertEqual({"v1-a", "v1-b"}, {r["instance"] for r in pinned}, summary(pinned))
        holder[0].close()

    def test_5b_pin_subset_at_weight_zero_and_empty_subset(self):
        """A canary at weight 0 takes no traffic until pinned; a subset with no endpoints
        gives its share to the others, and pinning it is 503 no-healthy-upstream."""
        v1 = self.fake("v1")
        canary = self.fake("canary")
        eps = [endpoint(v1, version="v1"), endpoint(canary, version="v2")]
        self.hawser([service("svc", [], discovery={"static": eps},
                             routes=[{"split": [{"subset": {"version": "v1"}, "weight": 100},
                                                {"subset": {"version": "v2"}, "weight": 0},
                                                {"subset": {"version": "v3"}, "weight": 50}]}])])
        addr = self.h.listener("svc")
        holder = [None]
        plain = [one(holder, addr, "GET", "/") for _ in range(100)]
        self.assertEqual({"v1"}, {r["instance"] for r in plain}, summary(plain))
        pinned = one(holder, addr, "GET", "/", headers={"x-hawser-subset": "v2"})
        self.assertEqual((200, "canary"), (pinned["status"], pinned["instance"]))
        empty = one(holder, addr, "GET", "/", headers={"x-hawser-subset": "v3"})
        self.assertEqual(503, empty["status"])
        self.assertEqual("no-healthy-upstream", empty["reason"])
        holder[0].close()


class Zones(ResilienceBase):
    def test_8_traffic_stays_in_zone_until_its_instances_are_ejected(self):
        """Acceptance 8: instances in two zones; traffic stays in the task's zone until the
        zone's instances are ejected, then fails over to the other zone (without failures,
        thanks to retries), and comes back when the ejection ends."""
        local = [self.fake("a-1"), self.fake("a-2")]
        remote = [self.fake("b-1"), self.fake("b-2")]
        eps = ([endpoint(f, AVAILABILITY_ZONE="zone-a") for f in local] +
               [endpoint(f, AVAILABILITY_ZONE="zone-b") for f in remote])
        cfg = hh.base_config(node={"service": "caller", "namespace": "demo", "zone": "zone-a"})
        # Five attempts: when the requests happen to run one after another (a loaded
        # machine), one request can meet all four failures that eject both local
        # instances (two each) before its fifth attempt reaches zone-b; three attempts
        # were enough only when the two client threads shared those failures.
        cfg["outbound"] = {"services": [service(
            "svc", [], discovery={"static": eps}, load_balancer="round_robin",
            retry={"attempts": 5, "on": ["gateway-error"], "backoff": {"base": "5ms", "max": "20ms"},
                   "budget": {"percent": 100, "min_per_second": 1000}},
            circuit_breaker={"max_retries": 100},
            outlier_detection={"consecutive_gateway_errors": 2, "consecutive_5xx": 0,
                               "base_ejection": "2s", "interval": "10s", "max_ejection_percent": 50})]}
        self.h = hh.start_hawser(self, cfg, name="zones")
        addr = self.h.listener("svc")

        results, _ = run_load(addr, threads=2, duration=0.5, path="/local")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual({"a-1", "a-2"}, {r["instance"] for r in results})

        # The local zone fails: its instances are ejected and traffic moves to zone-b.
        for f in local:
            f.defaults = {"x-fake-status": "503"}
        results, _ = run_load(addr, threads=2, duration=1.0, path="/failover")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        late = [r for r in results if r["start"] > results[0]["start"] + 0.3]
        self.assertTrue(late)
        self.assertEqual({"b-1", "b-2"}, {r["instance"] for r in late})
        self.assertGreaterEqual(self.metric("hawser_outlier_ejections_total", service="svc"), 2)

        # Healed and back from ejection: traffic returns to zone-a.
        for f in local:
            f.defaults = {}
        hh.wait_until(lambda: not any(e["ejected"] for c in self.h.admin_json("/clusters")["clusters"]
                                      if c["name"] == "svc" for e in c["endpoints"]),
                      timeout=10, message="ejections to end")
        results, _ = run_load(addr, threads=2, duration=0.5, path="/back")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual({"a-1", "a-2"}, {r["instance"] for r in results})

    def test_8b_zone_spill_when_local_capacity_is_short(self):
        """With one of two local instances ejected (50% < the 70% spill threshold), every
        usable instance of every zone takes traffic."""
        local = [self.fake("a-1"), self.fake("a-2")]
        remote = [self.fake("b-1"), self.fake("b-2")]
        eps = ([endpoint(f, AVAILABILITY_ZONE="zone-a") for f in local] +
               [endpoint(f, AVAILABILITY_ZONE="zone-b") for f in remote])
        cfg = hh.base_config(node={"service": "caller", "namespace": "demo", "zone": "zone-a"})
        cfg["outbound"] = {"services": [service(
            "svc", [], discovery={"static": eps}, load_balancer="round_robin",
            retry={"attempts": 3, "on": ["gateway-error"], "backoff": {"base": "5ms", "max": "20ms"},
                   "budget": {"percent": 100, "min_per_second": 1000}},
            circuit_breaker={"max_retries": 100},
            outlier_detection={"consecutive_gateway_errors": 2, "consecutive_5xx": 0,
                               "base_ejection": "30s", "interval": "10s", "max_ejection_percent": 50})]}
        self.h = hh.start_hawser(self, cfg, name="spill")
        addr = self.h.listener("svc")
        local[0].defaults = {"x-fake-status": "503"}
        run_load(addr, threads=1, duration=0.3, path="/warm")
        results, _ = run_load(addr, threads=2, duration=0.5, path="/spill")
        self.assertEqual([], [r for r in results if r["status"] != 200], summary(results))
        self.assertEqual({"a-2", "b-1", "b-2"}, {r["instance"] for r in results})


class RateLimiting(ResilienceBase):
    def test_7_inbound_rate_limit(self):
        app = self.fake("app")
        self.hawser(inbound=[{"name": "in", "listen": "127.0.0.1:0", "app": app.address,
                              "protocol": "http", "timeouts": dict(TIMEOUTS),
                              "rate_limit": {"rps": 100, "burst": 20}}])
        duration, rate, threads = 10.0, 300.0, 6
        results, wall = run_load(self.h.listener("in"), threads=threads, duration=duration, path="/seven",
                                 interval=threads / rate)
        n = len(results)
        self.assertGreaterEqual(n, 0.95 * rate * duration, "the client did not keep up: %d in %.1fs" % (n, wall))
        self.assertLess(wall, duration + 1.0)
        accepted = [r for r in results if r["status"] == 200]
        limited = [r for r in results if r["status"] == 429]
        self.assertEqual(len(accepted) + len(limited), n, summary(results))
        self.assertTrue(950 <= len(accepted) <= 1250, "accepted %d of %d" % (len(accepted), n))
        self.assertEqual(app.stats()["requests"], len(accepted))
        bad = [r for r in limited if r["reason"] != "rate-limited" or not (r["retry_after"] or "").isdigit()
               or int(r["retry_after"]) < 1]
        self.assertEqual([], bad[:5])
        self.assertEqual(self.metric("hawser_rate_limited_total", listener="in"), len(limited))


if __name__ == "__main__":
    unittest.main()
