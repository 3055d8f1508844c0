"""Self-registration end to end: a real `hawser registry`, real `hawser proxy`
sidecars with `node.register: true`, and small local apps whose health endpoint
the test flips. Loopback only, ephemeral ports, every wait bounded.

  1. LifecycleTest   not registered while the app's health check fails; registered
                     (with its attributes) once it passes; UNHEALTHY while it fails
                     again and HEALTHY when it recovers; deregistered on SIGTERM
                     before the listeners close; /server_info "registration"
  2. PlannedDrainTest  a caller sidecar discovering through Cloud Map sees zero failed
                     requests while a self-registered responder drains
  3. ConfigTest      node.register without discovery.cloudmap / node.cloudmap, or with
                     reserved attributes: errors that name the key

Standard library only.
"""

import http.server
import json
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

from hawser_harness import (Hawser, LoadLoop, base_config, check_config, http_request,  # noqa: E402
                            plaintext_defaults, to_yaml, wait_until)
from cloudmap_helpers import CloudMapClient, RegistryProcess  # noqa: E402

NS, SVC = "demo", "responder"


class App:
    """A tiny HTTP/1.1 app: GET /healthz answers 200 or 503 as `healthy` says; every
    other request answers 200 with x-fake-instance: NAME."""

    def __init__(self, name):
        self.name = name
        self.healthy = False
        self.health_checks = 0
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path == "/healthz":
                    app.health_checks += 1
                    status, body = (200, b"ok\n") if app.healthy else (503, b"failing\n")
                else:
                    status, body = 200, app.name.encode() + b"\n"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-fake-instance", app.name)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.address = "127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


class SelfRegistrationBase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hawser-selfreg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
        self.addCleanup(os.environ.update, saved)
        d = os.path.join(self.tmp, "registry")
        os.makedirs(d)
        self.reg = RegistryProcess(d)
        self.addCleanup(self.reg.stop)
        self.reg.start()
        self.cm = CloudMapClient(self.reg.address)
        self.ns_id = self.cm.create_namespace(NS)
        self.svc_id = self.cm.create_service(self.ns_id, SVC)   # with HealthCheckCustomConfig

    def app(self, name, healthy=False):
        a = App(name)
        a.healthy = healthy
        a.start()
        self.addCleanup(a.stop)
        return a

    def cloudmap_block(self):
        return {"cloudmap": {"endpoint": self.reg.endpoint, "region": "us-east-1", "poll_interval": "300ms",
                             "health_refresh": "600ms"}}

    def responder(self, app, instance_id, grace="0s", name=None, attributes=None):
        cfg = base_config(
            node={"service": SVC, "namespace": NS, "register": True, "instance_id": instance_id,
                  "attributes": attributes or {"version": "v2", "AVAILABILITY_ZONE": "use1-az1"},
                  "cloudmap": {"namespace": NS, "service": SVC},
                  "app_health": {"path": "/healthz", "interval": "200ms", "timeout": "500ms"},
                  "advertise_address": "127.0.0.1:0", "deregister_grace": grace},
            discovery=self.cloudmap_block(),
            inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": app.address}])
        h = Hawser(cfg, name=name or instance_id)
        self.addCleanup(h.stop)
        h.start()
        return h

    def instances(self):
        return {i["Id"]: i["Attributes"] for i in self.cm.call("ListInstances", {"ServiceId": self.svc_id})["Instances"]}

    def discovered(self):
        return {i["InstanceId"]: i for i in self.cm.discover(NS, SVC, health_status="ALL")["Instances"]}

    @staticmethod
    def registration(h):
        return h.admin_json("/server_info")["registration"]


class LifecycleTest(SelfRegistrationBase):

    def test_gated_on_app_health_then_unhealthy_then_deregistered_on_sigterm(self):
        app = self.app("r-1", healthy=False)
        h = self.responder(app, "r-1")
        port = h.listener("app")[1]

        # The app fails its health check: nothing is registered.
        wait_until(lambda: app.health_checks >= 4, timeout=5, message="health checks against the app")
        self.assertEqual(self.instances(), {})
        self.assertEqual(self.registration(h), "unregistered")
        self.assertEqual(h.admin_get("/ready")[0], 200, "readiness is not tied to registration")

        # It passes: registered, with the configured attributes and the bound port.
        app.healthy = True
        t0 = time.monotonic()
        found = wait_until(lambda: self.discovered().get("r-1"), timeout=5, message="r-1 registered")
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(found["Attributes"], {"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": str(port),
                                               "version": "v2", "AVAILABILITY_ZONE": "use1-az1"})
        self.assertEqual(found["HealthStatus"], "HEALTHY")
        self.assertEqual(self.registration(h), "registered")
        st, hdrs, _ = http_request(("127.0.0.1", port), "GET", "/via-registered-port")
        self.assertEqual((st, hdrs.get("x-fake-instance")), (200, "r-1"))

        # It fails again: UNHEALTHY (and out of HEALTHY discovery), still registered.
        app.healthy = False
        wait_until(lambda: self.cm.health(self.svc_id).get("r-1") == "UNHEALTHY", timeout=5,
                   message="r-1 marked UNHEALTHY")
        self.assertEqual(self.cm.discover(NS, SVC)["Instances"], [])
        self.assertIn("r-1", self.instances())
        self.assertEqual(self.registration(h), "unhealthy")

        # It recovers: HEALTHY again.
        app.healthy = True
        wait_until(lambda: self.cm.health(self.svc_id).get("r-1") == "HEALTHY", timeout=5,
                   message="r-1 marked HEALTHY again")
        wait_until(lambda: self.registration(h) == "registered", timeout=2, message="registration: registered")

        # SIGTERM: deregistered, and that happens before the listeners close.
        h.sigterm()
        self.assertEqual(h.wait_exit(10), 0)
        self.assertEqual(self.instances(), {})
        msgs = [d.get("msg", "") for d in h.log_lines()]
        dereg = msgs.index("self-registration: deregistered")
        closing = next(i for i, m in enumerate(msgs) if m == "draining")
        self.assertLess(dereg, closing, "deregistered only after the listeners started closing: %r" % msgs[-12:])

    def test_registry_errors_are_counted_and_retried(self):
        # The service does not exist yet: ListServices finds nothing, errors are counted,
        # and the registration succeeds once the service appears.
        app = self.app("r-2", healthy=True)
        cfg_node_service = "late"
        cfg = base_config(
            node={"service": SVC, "namespace": NS, "register": True, "instance_id": "r-2",
                  "cloudmap": {"namespace": NS, "service": cfg_node_service},
                  "app_health": {"interval": "200ms"}, "advertise_address": "127.0.0.1:0"},
            discovery=self.cloudmap_block(),
            inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": app.address}])
        h = Hawser(cfg, name="r-2")
        self.addCleanup(h.stop)
        h.start()
        wait_until(lambda: h.metric("hawser_discovery_errors_total") >= 2, timeout=5,
                   message="registration errors counted")
        self.assertEqual(self.registration(h), "unregistered")
        late_id = self.cm.create_service(self.ns_id, cfg_node_service)
        wait_until(lambda: "r-2" in {i["Id"] for i in self.cm.call("ListInstances", {"ServiceId": late_id})["Instances"]},
                   timeout=10, message="r-2 registered once the service exists")
        self.assertEqual(self.registration(h), "registered")


class PlannedDrainTest(SelfRegistrationBase):

    def test_caller_sees_no_failed_request_while_a_responder_drains(self):
        apps = [self.app("r-a", healthy=True), self.app("r-b", healthy=True)]
        # Grace: the caller's poll interval (300 ms +-10%) plus its fetch, with margin.
        responders = [self.responder(a, a.name, grace="1s") for a in apps]
        caller_cfg = base_config(
            discovery=self.cloudmap_block(),
            outbound={"services": [{"name": SVC, "alias": "127.0.0.1:0",
                                    "discovery": {"cloudmap": {"namespace": NS, "service": SVC}}}]})
        caller = Hawser(caller_cfg, name="caller")
        self.addCleanup(caller.stop)
        wait_until(lambda: set(self.discovered()) == {"r-a", "r-b"}, timeout=5, message="both responders registered")
        caller.start()
        loop = LoadLoop(caller.listener(SVC), pause=0.005).start()
        try:
            wait_until(lambda: {r["instance"] for r in loop.snapshot()} >= {"r-a", "r-b"}, timeout=5,
                       message="traffic on both responders")
            t_drain = time.monotonic()
            responders[0].sigterm()
            self.assertEqual(responders[0].wait_exit(15), 0)
            t_exit = time.monotonic()
            self.assertNotIn("r-a", self.instances())
            time.sleep(1.0)
        finally:
            results = loop.stop()
        failed = [r for r in results if not r["ok"]]
        self.assertEqual(failed, [], "failed requests during the planned deregistration (%d of %d)" %
                         (len(failed), len(results)))
        self.assertGreater(len(results), 20)
        after = {r["instance"] for r in results if r["start"] > t_exit}
        self.assertEqual(after, {"r-b"})
        self.assertGreaterEqual(t_exit - t_drain, 1.0, "the responder did not serve through its grace")


class ConfigTest(unittest.TestCase):

    def check(self, cfg):
        d = tempfile.mkdtemp(prefix="hawser-selfreg-cfg-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "hawser.yaml")
        with open(path, "w") as f:
            f.write(to_yaml(plaintext_defaults(cfg)) + "\n")
        return check_config(path)

    def base(self, node_extra, with_discovery=True):
        node = {"service": SVC, "namespace": NS, "register": True}
        node.update(node_extra)
        kw = {"node": node, "inbound": [{"name": "app", "listen": "127.0.0.1:0", "app": "127.0.0.1:8080"}]}
        if with_discovery:
            kw["discovery"] = {"cloudmap": {"endpoint": "http://127.0.0.1:1"}}
        return base_config(**kw)

    def test_errors_name_the_key(self):
        cases = [
            (self.base({"cloudmap": {"namespace": NS, "service": SVC}}, with_discovery=False),
             "node.register", "discovery.cloudmap"),
            (self.base({}), "node.cloudmap", "required"),
            (self.base({"cloudmap": {"namespace": NS}}), "node.cloudmap.service", "required"),
            (self.base({"cloudmap": {"namespace": NS, "service": SVC}, "attributes": {"AWS_INSTANCE_PORT": "1"}}),
             "node.attributes.AWS_INSTANCE_PORT", "advertise_address"),
            (self.base({"cloudmap": {"namespace": NS, "service": SVC}, "advertise_address": "example.com:80"}),
             "node.advertise_address", "IPv4"),
            (self.base({"cloudmap": {"namespace": NS, "service": SVC}, "app_health": {"path": "healthz"}}),
             "node.app_health.path", "must start with /"),
            (self.base({"cloudmap": {"namespace": NS, "service": SVC}, "instance_id": "a b"}),
             "node.instance_id", "letters"),
            (self.base({"cloudmap": {"namespace": NS, "service": SVC}, "deregister_grace": "soon"}),
             "node.deregister_grace", "invalid duration"),
        ]
        for cfg, key, words in cases:
            with self.subTest(key=key):
                rc, err = self.check(cfg)
                self.assertNotEqual(rc, 0, err)
                self.assertIn(key + ":", err)
                self.assertIn(words, err)

    def test_valid_registration_config(self):
        rc, err = self.check(self.base({"cloudmap": {"namespace": NS, "service": SVC},
                                        "attributes": {"version": "v2"}, "deregister_grace": "5s",
                                        "app_health": {"path": "/ready", "interval": "2s", "timeout": "1s"}}))
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main()
