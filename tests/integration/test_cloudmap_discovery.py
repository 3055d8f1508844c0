"""Cloud Map discovery end to end: real `hawser proxy` sidecars polling a real
`hawser registry` (or a fake Cloud Map endpoint written here), real fake-upstream
instances, all on loopback with ephemeral ports.

  1. TrafficShiftTest   registering/deregistering instances moves traffic within about
                        one poll interval; a planned deregistration loses no request
  2. OutageTest         registry stopped for several poll intervals: last-known set
                        keeps serving, /ready stays 200, errors counted; updates resume
  3. ReadinessTest      a sidecar started while the registry is down is not ready
                        until the registry answers
  4. MalformedTest      not JSON, wrong types, missing attributes, bad port, empty
                        list, throttling: counted, last-known set kept, no crash
  5. CredentialsTest    ECS container credentials refreshed before expiry; requests
                        carry the new session token; a wrong secret keeps the last set

Standard library only.
"""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

from hawser_harness import (Hawser, LoadLoop, base_config, http_request, parse_addr,  # noqa: E402
                            start_fake, wait_until)
from cloudmap_helpers import (CloudMapClient, ContainerCredentialsServer, FakeCloudMap,  # noqa: E402
                              RecordingProxy, RegistryProcess)

POLL = 0.3                      # poll_interval (jitter +-10%)
HEALTH_REFRESH = 1.0            # health_refresh
MOVE_BOUND = 1.0                # "about one poll interval": 330 ms worst-case wait + the fetch + margin
REFRESH_FAILED = "Cloud Map refresh failed; keeping the last endpoints"
NS, SVC = "demo", "responder"
ACCESS_KEY, SECRET = "AKIDCLOUDMAPTEST", "cloudmap-test-secret"


class CloudMapTestBase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hawser-cloudmap-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # No ambient AWS credentials: each test decides what the sidecar gets.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
        self.addCleanup(os.environ.update, saved)

    # --- processes ---
    def registry(self, name="registry", start=True, **kw):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        reg = RegistryProcess(d, **kw)
        self.addCleanup(reg.stop)
        return reg.start() if start else reg

    def server(self, srv):
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def sidecar(self, endpoint, name="caller", env=None, wait_ready=True, query=None):
        svc = {"name": SVC, "alias": "127.0.0.1:0",
               "discovery": {"cloudmap": {"namespace": NS, "service": SVC}}}
        if query:
            svc["discovery"]["cloudmap"]["query"] = query
        cfg = base_config(
            discovery={"cloudmap": {"endpoint": endpoint, "region": "us-east-1", "poll_interval": "300ms",
                                    "health_refresh": "1s", "health_status": "HEALTHY"}},
            outbound={"services": [svc]})
        h = Hawser(cfg, name=name, env=env)
        self.addCleanup(h.stop)
        h.start(wait_ready=wait_ready)
        return h

    def setup_registry_service(self, reg, sign=None):
        cm = CloudMapClient(reg.address, sign=sign)
        ns_id = cm.create_namespace(NS)
        svc_id = cm.create_service(ns_id, SVC)
        return cm, svc_id

    # --- observations ---
    @staticmethod
    def errors(h):
        return h.metric("hawser_discovery_errors_total")

    @staticmethod
    def gauge(h):
        return h.metric("hawser_endpoints", service=SVC, state="healthy")

    @staticmethod
    def ready_status(h):
        return h.admin_get("/ready", timeout=2)[0]

    @staticmethod
    def cluster_addresses(h):
        doc = h.admin_json("/clusters")
        return sorted(e["address"] for c in doc["clusters"] if c["name"] == SVC for e in c["endpoints"])

    @staticmethod
    def refresh_failures(h, since=0):
        lines = [d for d in h.log_lines() if d.get("msg") == REFRESH_FAILED]
        return lines[since:]

    def probe(self, h, n=10):
        """n requests on fresh connections -> list of (status, x-fake-instance)."""
        out = []
        for i in range(n):
            st, hdrs, _ = http_request(h.listener(SVC), "GET", "/probe?%d" % i, timeout=5)
            out.append((st, hdrs.get("x-fake-instance")))
        return out

    def wait_instances(self, h, want, timeout=5.0):
        """Until a round of probes hits exactly the instances `want` (a set)."""
        last = {}

        def check():
            got = self.probe(h, 3 * len(want) + 3)
            last["got"] = got
            return all(st == 200 for st, _ in got) and {i for _, i in got} == set(want)
        wait_until(check, timeout=timeout, interval=0.05,
                   message="%s routed to exactly %s (last probes %r)" % (h.name, sorted(want), last))

    def admin_address(self, h, timeout=10):
        def known():
            if not h.alive():
                raise AssertionError("%s exited: %s" % (h.name, h._diag()))
            try:
                with open(h.admin_path) as f:
                    return f.read().strip() or None
            except FileNotFoundError:
                return None
        h.admin = parse_addr(wait_until(known, timeout=timeout, message="%s admin address" % h.name))
        return h.admin


# ======================================================================================
# 1. traffic shifts with registrations; a planned deregistration loses nothing

class TrafficShiftTest(CloudMapTestBase):

    def test_register_deregister_and_planned_drain(self):
        reg = self.registry()
        cm, svc_id = self.setup_registry_service(reg)
        f1, f2, f3 = (start_fake(self, "i-%d" % i) for i in (1, 2, 3))
        v1 = start_fake(self, "i-v1")
        cm.register(svc_id, "i-1", "127.0.0.1", f1.port, version="v2", AVAILABILITY_ZONE="us-east-1a")
        cm.register(svc_id, "i-2", "127.0.0.1", f2.port, version="v2", AVAILABILITY_ZONE="us-east-1b")
        cm.register(svc_id, "i-v1", "127.0.0.1", v1.port, version="v1")   # filtered out by query
        # Two sidecars (two caller tasks) discover the same service.
        sidecars = [self.sidecar(reg.endpoint, name=n, query={"version": "v2"}) for n in ("caller-a", "caller-b")]
        for h in sidecars:
            self.wait_instances(h, {"i-1", "i-2"})
            self.assertEqual(self.gauge(h), 2)
            self.assertEqual(self.cluster_addresses(h), sorted([f1.address, f2.address]))
        loops = [LoadLoop(h.listener(SVC), pause=0.005).start() for h in sidecars]
        try:
            time.sleep(0.5)

            # Register i-3: both sidecars send it traffic within about one poll interval.
            cm.register(svc_id, "i-3", "127.0.0.1", f3.port, version="v2")
            t_reg = time.monotonic()
            for h, loop in zip(sidecars, loops):
                first = wait_until(lambda: next((r for r in loop.snapshot() if r["instance"] == "i-3"), None),
                                   timeout=5, message="%s: first request to i-3" % h.name)
                self.assertLessEqual(first["end"] - t_reg, MOVE_BOUND,
                                     "%s: i-3 got traffic %.3fs after RegisterInstance" % (h.name, first["end"] - t_reg))
            time.sleep(0.5)
            for h in sidecars:
                self.assertEqual(self.gauge(h), 3)

            # Deregister i-1 (left running): no request that starts later than about one poll
            # interval after the deregistration goes to it.
            cm.deregister(svc_id, "i-1")
            t_dereg = time.monotonic()
            time.sleep(MOVE_BOUND + 0.5)
            for h, loop in zip(sidecars, loops):
                late = [r for r in loop.snapshot() if r["instance"] == "i-1" and r["start"] > t_dereg + MOVE_BOUND]
                self.assertEqual(late, [], "%s: requests to i-1 after deregistration" % h.name)
                last_i1 = max((r["end"] for r in loop.snapshot() if r["instance"] == "i-1"), default=t_dereg)
                self.assertLessEqual(last_i1 - t_dereg, MOVE_BOUND)

            # Planned deregistration of i-2: deregister, wait one poll interval + margin, stop it.
            cm.deregister(svc_id, "i-2")
            t_plan = time.monotonic()
            time.sleep(POLL * 1.1 + 0.7)
            f2.stop()
            t_stopped = time.monotonic()
            time.sleep(1.5)
        finally:
            results = [loop.stop() for loop in loops]

        for h, res in zip(sidecars, results):
            failed = [r for r in res if not r["ok"]]
            self.assertEqual(failed, [], "%s: failed requests (%d of %d)" % (h.name, len(failed), len(res)))
            self.assertGreater(len(res), 200, "%s: too few requests in the loop" % h.name)
            self.assertNotIn("i-v1", {r["instance"] for r in res}, "query {version: v2} ignored")
            after_plan = {r["instance"] for r in res if r["start"] > t_plan + MOVE_BOUND}
            self.assertEqual(after_plan, {"i-3"})
            self.assertEqual({r["instance"] for r in res if r["start"] > t_stopped}, {"i-3"})
            self.assertEqual(self.gauge(h), 1)
            self.assertEqual(self.cluster_addresses(h), [f3.address])
            self.assertEqual(self.errors(h), 0)
            self.assertEqual(self.ready_status(h), 200)


# ======================================================================================
# 2. registry outage

class OutageTest(CloudMapTestBase):

    def test_outage_keeps_last_set_and_recovers(self):
        reg = self.registry(data=True)
        cm, svc_id = self.setup_registry_service(reg)
        f1, f2, f3 = (start_fake(self, "i-%d" % i) for i in (1, 2, 3))
        cm.register(svc_id, "i-1", "127.0.0.1", f1.port)
        cm.register(svc_id, "i-2", "127.0.0.1", f2.port)
        h = self.sidecar(reg.endpoint)
        self.wait_instances(h, {"i-1", "i-2"})
        self.assertEqual(self.errors(h), 0)
        loop = LoadLoop(h.listener(SVC), pause=0.005).start()
        try:
            time.sleep(0.3)
            e0 = self.errors(h)
            fail_lines0 = len(self.refresh_failures(h))
            self.assertEqual(reg.stop(), 0)
            t_down = time.monotonic()
            ready = []
            while time.monotonic() < t_down + 2.5:           # ~8 poll intervals
                ready.append(self.ready_status(h))
                time.sleep(0.1)
            t_up = time.monotonic()
            e1 = self.errors(h)
            self.assertEqual(set(ready), {200}, "/ready during the outage: %r" % ready)
            self.assertGreaterEqual(e1 - e0, 4, "errors counted during a 2.5 s outage at 300 ms polling")
            kinds = {d.get("kind") for d in self.refresh_failures(h, fail_lines0)}
            self.assertEqual(kinds, {"transport"})
            self.assertEqual(self.gauge(h), 2)
            self.assertEqual(self.cluster_addresses(h), sorted([f1.address, f2.address]))
            self.assertTrue(h.alive())

            # The registry comes back on the same port with its --data state; a new instance
            # is picked up.
            reg.start()
            self.assertEqual(cm.discover(NS, SVC)["Instances"][0]["InstanceId"], "i-1", "state not persisted")
            cm.register(svc_id, "i-3", "127.0.0.1", f3.port)
            t_reg = time.monotonic()
            first = wait_until(lambda: next((r for r in loop.snapshot() if r["instance"] == "i-3"), None),
                               timeout=6, message="first request to i-3 after the registry returned")
            latency = first["end"] - t_reg
            self.assertLessEqual(latency, POLL * 1.1 + HEALTH_REFRESH + 0.5,
                                 "i-3 picked up %.3fs after registering" % latency)
            time.sleep(0.5)
            e2 = self.errors(h)
            time.sleep(1.5)
            self.assertEqual(self.errors(h), e2, "errors still counted after the registry returned")
        finally:
            res = loop.stop()
        outage = [r for r in res if t_down <= r["start"] <= t_up]
        self.assertGreater(len(outage), 100)
        self.assertEqual([r for r in res if not r["ok"]], [], "failed requests")
        self.assertEqual({r["instance"] for r in outage}, {"i-1", "i-2"})
        self.assertEqual(self.gauge(h), 3)
        self.assertEqual(self.ready_status(h), 200)
        self.wait_instances(h, {"i-1", "i-2", "i-3"})


# ======================================================================================
# 3. readiness before the first answer

class ReadinessTest(CloudMapTestBase):

    def test_not_ready_until_registry_answers(self):
        reg = self.registry(data=True)
        cm, svc_id = self.setup_registry_service(reg)
        f1 = start_fake(self, "i-1")
        cm.register(svc_id, "i-1", "127.0.0.1", f1.port)
        self.assertEqual(reg.stop(), 0)

        h = self.sidecar(reg.endpoint, wait_ready=False)
        self.admin_address(h)
        statuses = []
        t0 = time.monotonic()
        while time.monotonic() < t0 + 2.0:
            try:
                statuses.append(self.ready_status(h))
            except OSError as e:          # admin not accepting yet
                statuses.append(repr(e))
            time.sleep(0.1)
        self.assertEqual(set(statuses), {503}, "/ready while the registry is down: %r" % statuses)
        self.assertTrue(h.alive())
        self.assertGreaterEqual(self.errors(h), 3)
        self.assertEqual({d.get("kind") for d in self.refresh_failures(h)}, {"transport"})
        st, hdrs, _ = http_request(h.listener(SVC), "GET", "/before-ready", timeout=5)
        self.assertEqual((st, hdrs.get("x-hawser-reason")), (503, "no-healthy-upstream"))

        reg.start()
        t_up = time.monotonic()
        wait_until(lambda: self.ready_status(h) == 200, timeout=POLL * 1.1 + 1.5, interval=0.05,
                   message="/ready 200 after the registry came up")
        became_ready = time.monotonic() - t_up
        self.assertEqual(self.probe(h, 5), [(200, "i-1")] * 5)
        self.assertEqual(self.gauge(h), 1)
        for _ in range(5):
            self.assertEqual(self.ready_status(h), 200)
            time.sleep(0.1)
        self.assertLess(became_ready, 2.0)


# ======================================================================================
# 4. malformed Cloud Map responses

class MalformedTest(CloudMapTestBase):

    def test_malformed_responses_keep_last_set(self):
        fake = self.server(FakeCloudMap())
        f1 = start_fake(self, "i-1")
        f2 = start_fake(self, "i-2")
        good = FakeCloudMap.instance("i-1", "127.0.0.1", f1.port)
        fake.instances = [good]
        state = {"rev": 1, "mode": None}

        def respond(op, req):
            mode = state["mode"]
            if mode is not None:
                r = mode(op, req)
                if r is not None:
                    return r
            if op == "DiscoverInstancesRevision":
                return 200, {"InstancesRevision": state["rev"]}
            if op == "DiscoverInstances":
                return 200, {"Instances": fake.instances, "InstancesRevision": state["rev"]}
            return 400, {"__type": "UnknownOperationException", "message": op}
        fake.set_respond(respond)

        h = self.sidecar(fake.endpoint)
        self.assertEqual(self.probe(h, 4), [(200, "i-1")] * 4)
        self.assertEqual(self.errors(h), 0)
        self.assertGreaterEqual(fake.count("DiscoverInstances"), 1)
        # The request body is the documented one.
        first_req = {}

        def full(body_json):
            def mode(op, req):
                if op == "DiscoverInstances":
                    first_req.setdefault("req", req)
                    return body_json
                return None
            return mode

        def instance(**attrs):
            return {"InstanceId": "i-bad", "NamespaceName": NS, "ServiceName": SVC, "HealthStatus": "HEALTHY",
                    "Attributes": attrs}

        port1 = str(f1.port)

        def with_rev(doc):
            return 200, dict(doc, InstancesRevision=state["rev"])

        throttles = {"n": 0}

        def throttle(status, body, limit=3):
            def mode(op, req):
                if throttles["n"] < limit:
                    throttles["n"] += 1
                    return status, body
                return None
            return mode

        cases = [
            # (name, mode factory, expected error kinds, wait for at least this many errors)
            ("not JSON", lambda: full((200, "<html>this is not json")), {"not_json"}, 2),
            ("not an object", lambda: full((200, "[1, 2, 3]")), {"wrong_type"}, 2),
            ("Instances not a list", lambda: full(with_rev({"Instances": "i-1"})), {"wrong_type"}, 2),
            ("InstancesRevision not an integer",
             lambda: full((200, {"Instances": [good], "InstancesRevision": "seven"})), {"wrong_type"}, 2),
            ("attribute of the wrong type",
             lambda: full(with_rev({"Instances": [instance(AWS_INSTANCE_IPV4=127, AWS_INSTANCE_PORT=port1)]})),
             {"wrong_type"}, 2),
            ("missing AWS_INSTANCE_IPV4",
             lambda: full(with_rev({"Instances": [instance(AWS_INSTANCE_PORT=port1)]})), {"missing_attribute"}, 2),
            ("missing AWS_INSTANCE_PORT",
             lambda: full(with_rev({"Instances": [instance(AWS_INSTANCE_IPV4="127.0.0.1")]})),
             {"missing_attribute"}, 2),
            ("port out of range",
             lambda: full(with_rev({"Instances": [instance(AWS_INSTANCE_IPV4="127.0.0.1", AWS_INSTANCE_PORT="70000")]})),
             {"bad_port"}, 2),
            ("port 0",
             lambda: full(with_rev({"Instances": [instance(AWS_INSTANCE_IPV4="127.0.0.1", AWS_INSTANCE_PORT="0")]})),
             {"bad_port"}, 2),
            ("bad IPv4",
             lambda: full(with_rev({"Instances": [instance(AWS_INSTANCE_IPV4="999.1.1.1", AWS_INSTANCE_PORT=port1)]})),
             {"bad_address"}, 2),
            ("empty list", lambda: full(with_rev({"Instances": []})), {"empty_list"}, 2),
            ("revision not JSON",
             lambda: (lambda op, req: (200, "{{{") if op == "DiscoverInstancesRevision" else None),
             {"not_json"}, 2),
            ("AWS error 500", lambda: full((500, {"__type": "InternalServerError", "message": "boom"})),
             {"aws_error"}, 2),
            ("400 ThrottlingException",
             lambda: throttle(400, {"__type": "ThrottlingException", "message": "Rate exceeded"}), {"throttled"}, 3),
            ("429 RequestLimitExceeded",
             lambda: throttle(429, {"__type": "RequestLimitExceeded", "message": "slow down"}), {"throttled"}, 3),
        ]
        failures = []
        for name, make_mode, kinds, min_errors in cases:
            with self.subTest(case=name):
                try:
                    self._one_case(h, fake, state, name, make_mode, kinds, min_errors, throttles)
                except AssertionError as e:
                    failures.append("%s: %s" % (name, e))
                    raise
        # The request carried the configured members.
        req = first_req.get("req") or {}
        self.assertEqual((req.get("NamespaceName"), req.get("ServiceName"), req.get("HealthStatus")),
                         (NS, SVC, "HEALTHY"))

        # A response mixing a good and an unusable instance: the unusable one is skipped and
        # reported, the good ones served.
        e0 = self.errors(h)
        lines0 = len(self.refresh_failures(h))
        fake.instances = [good, FakeCloudMap.instance("i-2", "127.0.0.1", f2.port),
                          instance(AWS_INSTANCE_PORT=port1)]
        state["mode"] = None
        state["rev"] += 1
        self.wait_instances(h, {"i-1", "i-2"}, timeout=5)
        wait_until(lambda: self.errors(h) > e0, timeout=3, message="skipped instance counted")
        self.assertEqual({d.get("kind") for d in self.refresh_failures(h, lines0)}, {"skipped_instance"})
        self.assertEqual(self.gauge(h), 2)
        self.assertTrue(h.alive())
        self.assertEqual(self.ready_status(h), 200)

    def _one_case(self, h, fake, state, name, make_mode, kinds, min_errors, throttles):
        # Settle on the valid set first.
        state["mode"] = None
        throttles["n"] = 0
        state["rev"] += 1
        t_ok = time.time()
        wait_until(lambda: any(r["op"] == "DiscoverInstances" and r["status"] == 200 and r["time"] > t_ok
                               for r in list(fake.requests)),
                   timeout=8, message="a valid DiscoverInstances before case %r" % name)
        time.sleep(0.1)
        e0 = self.errors(h)
        lines0 = len(self.refresh_failures(h))
        state["rev"] += 1
        state["mode"] = make_mode()
        wait_until(lambda: self.errors(h) >= e0 + min_errors, timeout=6,
                   message="%d errors counted for %s (have %s)" % (min_errors, name, self.errors(h) - e0))
        got = self.probe(h, 10)
        self.assertEqual(got, [(200, "i-1")] * 10, "requests during %s" % name)
        self.assertTrue(h.alive(), "hawser died on %s" % name)
        self.assertEqual(self.ready_status(h), 200)
        self.assertEqual(self.gauge(h), 1)
        self.assertEqual(self.cluster_addresses(h), ["127.0.0.1:%d" % int(fake.instances[0]["Attributes"]
                                                                        ["AWS_INSTANCE_PORT"])])
        got_kinds = {d.get("kind") for d in self.refresh_failures(h, lines0)}
        self.assertEqual(got_kinds, kinds, "error kinds logged for %s" % name)
        if kinds == {"throttled"}:
            self.assertEqual(self.errors(h) - e0, 3, "one error per throttled response")


# ======================================================================================
# 5. credentials

class CredentialsTest(CloudMapTestBase):

    def test_container_credentials_refreshed_before_expiry(self):
        reg = self.registry(credentials=(ACCESS_KEY, SECRET), log_requests=True)
        cm, svc_id = self.setup_registry_service(reg, sign=(ACCESS_KEY, SECRET))
        f1 = start_fake(self, "i-1")
        cm.register(svc_id, "i-1", "127.0.0.1", f1.port)
        rec = self.server(RecordingProxy(reg.address))
        lifetime = 12.0
        creds = self.server(ContainerCredentialsServer("ecs-auth-token-1", ACCESS_KEY,
                                                       [(SECRET, "T1"), (SECRET, "T2"), (SECRET, "T3")],
                                                       lifetime=lifetime))
        h = self.sidecar(rec.endpoint, env=creds.env())
        self.assertEqual(self.probe(h, 3), [(200, "i-1")] * 3)
        served = creds.served()
        self.assertEqual(len(served), 1, served)
        self.assertEqual(served[0]["authorization"], "ecs-auth-token-1")
        first = served[0]
        t1_records = rec.snapshot()
        self.assertTrue(t1_records)
        self.assertEqual({r["token"] for r in t1_records}, {"T1"})
        self.assertTrue(all(("Credential=%s/" % ACCESS_KEY) in (r["authorization"] or "") for r in t1_records))

        # The refresh comes before the first credentials expire.
        second = wait_until(lambda: (creds.served()[1:2] or [None])[0], timeout=lifetime + 3,
                            message="a second container-credentials request")
        self.assertLess(second["time"], first["expiration"],
                        "refreshed %.1fs after the first fetch, expiry was at %.1fs" % (
                            second["time"] - first["time"], first["expiration"] - first["time"]))
        self.assertEqual(second["authorization"], "ecs-auth-token-1")
        after = wait_until(lambda: [r for r in rec.snapshot() if r["time"] > second["time"] + 0.5][3:] and
                           [r for r in rec.snapshot() if r["time"] > second["time"] + 0.5],
                           timeout=5, message="Cloud Map requests after the refresh")
        self.assertEqual({r["token"] for r in after}, {"T2"}, "session token after the refresh")
        self.assertEqual({r["status"] for r in rec.snapshot()}, {200})
        logs = [d for d in reg.request_logs() if d.get("operation", "").startswith("DiscoverInstances")]
        self.assertTrue(logs)
        self.assertTrue(all(d["access_key"] == ACCESS_KEY and d["session_token"] is True and d["status"] == 200
                            for d in logs), logs[-3:])
        self.assertEqual(self.errors(h), 0)
        self.assertEqual(self.ready_status(h), 200)
        self.assertFalse(any("no AWS credentials found" in json.dumps(d) for d in h.log_lines()))
        # Nothing secret in the sidecar's output.
        out = "\n".join(h.stdout.snapshot() + h.stderr.snapshot())
        for secret in (SECRET, "ecs-auth-token-1", "T1", "T2"):
            self.assertNotIn('"%s"' % secret, out)

    def test_wrong_secret_keeps_last_set(self):
        reg = self.registry(credentials=(ACCESS_KEY, SECRET), log_requests=True)
        cm, svc_id = self.setup_registry_service(reg, sign=(ACCESS_KEY, SECRET))
        f1, f2 = start_fake(self, "i-1"), start_fake(self, "i-2")
        cm.register(svc_id, "i-1", "127.0.0.1", f1.port)
        lifetime = 4.0       # refreshed after ~3.4 s, with the wrong secret
        creds = self.server(ContainerCredentialsServer("ecs-auth-token-2", ACCESS_KEY,
                                                       [(SECRET, "T1"), ("not-the-secret", "T2")],
                                                       lifetime=lifetime))
        token_file = os.path.join(self.tmp, "auth-token")
        with open(token_file, "w") as f:
            f.write("ecs-auth-token-2")
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": creds.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": token_file}
        h = self.sidecar(reg.endpoint, env=env)
        self.assertEqual(self.probe(h, 3), [(200, "i-1")] * 3)
        self.assertEqual(self.errors(h), 0)
        self.assertEqual(creds.served()[0]["authorization"], "ecs-auth-token-2")
        wait_until(lambda: len(creds.served()) >= 2, timeout=lifetime + 2, message="credentials refresh")
        e0 = self.errors(h)
        cm.register(svc_id, "i-2", "127.0.0.1", f2.port)     # must not be seen: every call now fails
        wait_until(lambda: self.errors(h) >= e0 + 3, timeout=4, message="signature errors counted")
        time.sleep(1.5)
        self.assertEqual(self.probe(h, 6), [(200, "i-1")] * 6)
        self.assertEqual(self.gauge(h), 1)
        self.assertEqual(self.ready_status(h), 200)
        self.assertTrue(h.alive())
        fails = self.refresh_failures(h)
        self.assertTrue(fails)
        self.assertEqual({d.get("kind") for d in fails}, {"aws_error"})
        self.assertTrue(all("InvalidSignatureException" in d.get("error", "") for d in fails), fails[:2])
        rejected = [d for d in reg.request_logs() if d.get("status") == 403]
        self.assertTrue(rejected)
        self.assertEqual({d["error"] for d in rejected}, {"InvalidSignatureException"})


if __name__ == "__main__":
    unittest.main()
