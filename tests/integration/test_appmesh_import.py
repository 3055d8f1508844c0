"""`hawser import appmesh` (issue 17, acceptance 4): App Mesh descriptions in, a
hawser configuration out, and a mesh run from what it wrote.

Fixtures (fixtures/appmesh/) are the JSON `aws appmesh describe-*` / `list-*` print
for a mesh `shop`: `checkout` calls the virtual service `payments.shop.local`,
provided by the router `payments-router`, whose route `payments-canary` sends 90% to
the node `payments-v1` and 10% to `payments-v2` (Cloud Map service `payments`,
attribute `version`) and retries server and gateway errors twice. Every node has
mutual TLS with SAN validation, a health check and outlier detection.

Topology (all on 127.0.0.1, ephemeral ports, every wait bounded):

    client --> checkout hawser (alias of payments.shop.local) ==mTLS==> payments-v1 hawser --> fake app v1
                     |   DiscoverInstances(shop.local, payments)  ==mTLS==> payments-v2 hawser --> fake app v2
                     +--> hawser registry (Cloud Map API; the two payments sidecars registered with version=v1/v2)

The test only rewrites what a laptop needs in place of a task: the certificate
paths in the App Mesh JSON (to certificates made with `hawser certs`), and in the
generated YAML the listener ports (to 127.0.0.1:0), the app address, and the Cloud
Map endpoint (to the local registry). Routes, splits, retries, TLS identities,
health checks and outlier detection come from the importer unchanged.
"""

import glob
import http.client
import os
import re
import shutil
import tempfile
import unittest

import hawser_harness as hh
from cloudmap_helpers import CloudMapClient, RegistryProcess

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "appmesh")
MESH = "shop"
SERVICE = "payments.shop.local"
EXIT_INCOMPLETE = 3  # the configuration was written, some fields were not mapped
EXIT_BAD_INPUT = 2


def run_import(node, files, env=None):
    args = [hh.hawser_bin(), "import", "appmesh"] + (["--virtual-node", node] if node else []) + list(files)
    return hh.run_cmd(args, env=env)


def substitute(text, pattern, replacement, count_at_least=1):
    """re.sub that insists the pattern was there (a rewrite that silently does
    nothing would make the run prove nothing)."""
    out, n = re.subn(pattern, replacement, text)
    if n < count_at_least:
        raise AssertionError("pattern %r not in the generated configuration:\n%s" % (pattern, text))
    return out


def runnable(yaml_text, app, cloudmap_endpoint=None):
    """The importer's output with loopback ports, the test's app and registry."""
    t = substitute(yaml_text, r"listen: 0\.0\.0\.0:\d+", "listen: 127.0.0.1:0")
    t = substitute(t, r"app: 127\.0\.0\.1:8080", "app: " + app)
    if cloudmap_endpoint:
        t = substitute(t, r"alias: 127\.0\.0\.1:\d+", "alias: 127.0.0.1:0")
        t = substitute(t, r"http_proxy: 127\.0\.0\.1:\d+", "http_proxy: 127.0.0.1:0")
        t = substitute(t, r"(\n  cloudmap:\n    region: us-west-2\n)",
                       r"\1    endpoint: %s\n    poll_interval: 300ms\n" % cloudmap_endpoint)
    return t + "admin:\n  address: 127.0.0.1:0\nworkers: 2\ndrain_timeout: 2s\n"


class AppMeshImportBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hawser-appmesh-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.certs, cls.ids = hh.make_certs(cls.tmp, namespace=MESH,
                                           services=("checkout", "payments-v1", "payments-v2"))
        # The fixtures as App Mesh returned them, with this run's certificate files.
        cls.inputs = os.path.join(cls.tmp, "appmesh")
        os.makedirs(cls.inputs)
        for src in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))):
            with open(src) as f:
                text = f.read()
            text = text.replace("/keys/ca_cert_chain.pem", cls.certs.ca_pem())
            for name, (cert, key) in cls.ids.items():
                text = text.replace("/keys/%s_cert_chain.pem" % name, cert)
                text = text.replace("/keys/%s_key.pem" % name, key)
            assert "/keys/" not in text, "a certificate path of %s was not substituted" % src
            with open(os.path.join(cls.inputs, os.path.basename(src)), "w") as f:
                f.write(text)
        cls.files = sorted(glob.glob(os.path.join(cls.inputs, "*.json")))

    def setUp(self):
        # No ambient AWS settings: the region comes from the ARNs, no credentials are needed.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "APPMESH_", "ENABLE_ENVOY"))}
        self.addCleanup(os.environ.update, saved)

    def imported(self, node, env=None):
        rc, out, err = run_import(node, self.files, env=env)
        self.assertIn(rc, (0, EXIT_INCOMPLETE), "import %s: rc=%d\n%s" % (node, rc, err))
        path = os.path.join(self.tmp, "%s-%d.yaml" % ((node or "env").replace("/", "_"), len(os.listdir(self.tmp))))
        with open(path, "w") as f:
            f.write(out)
        check_rc, check_err = hh.check_config(path)
        self.assertEqual((check_rc, check_err), (0, ""), "check-config of the imported %s:\n%s" % (node, out))
        return rc, out, err


class Report(AppMeshImportBase):
    def test_unmapped_fields_are_reported_by_path_and_exit_3(self):
        rc, out, err = self.imported("checkout")
        self.assertEqual(rc, EXIT_INCOMPLETE, err)
        lines = err.splitlines()

        def line(file, path, starts):
            want = "%s: %s: %s" % (os.path.join(self.inputs, file), path, starts)
            self.assertTrue(any(l.startswith(want) for l in lines), "no line starting %r in:\n%s" % (want, err))

        line("checkout.json", "virtualNode.spec.listeners[0].connectionPool.http", "not mapped: hawser's inbound")
        line("checkout.json", "virtualNode.spec.logging.accessLog.file.format", "not mapped")
        line("route-payments-refunds-admin.json", "route.spec.httpRoute.match.method",
             "not mapped: hawser routes do not match the method; this route is left out")
        line("virtual-service-payments.json", "virtualService.spec.provider.virtualRouter",
             'not mapped: route "payments-legacy" of payments-router is listed by list-routes')
        unmapped = [l for l in lines if ": not mapped" in l or ": not supported" in l]
        self.assertEqual(len(unmapped), 4, err)
        self.assertIn("hawser import: 4 App Mesh fields were not mapped", lines[-1])
        # What was mapped is in the configuration.
        for text in ("sans: [spiffe://shop/payments-v1, spiffe://shop/payments-v2]",
                     "allow: [spiffe://shop/frontend]", "weight: 90", "weight: 10", "attempts: 3",
                     "per_try_timeout: 2s", "on: [server-error, gateway-error, reset, connect-failure]",
                     "consecutive_5xx: 5", "path: /health", "namespace: shop.local", "service: payments",
                     "region: us-west-2", "subset: {version: v1}"):
            self.assertIn(text, out)

    def test_a_node_itself_reports_its_listener_connection_pool(self):
        rc, out, err = self.imported("mesh/shop/virtualNode/payments-v2")
        self.assertEqual(rc, EXIT_INCOMPLETE, err)
        self.assertIn("virtualNode.spec.listeners[0].connectionPool.http: not mapped", err)
        self.assertIn("allow: [spiffe://shop/checkout]", out)
        self.assertNotIn("outbound", out)

    def test_environment_names_the_node_and_turns_on_xray_tracing(self):
        rc, out, err = self.imported(None, env={"APPMESH_VIRTUAL_NODE_NAME": "mesh/shop/virtualNode/payments-v1",
                                                "ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RATE": "0.05"})
        self.assertIn("service: payments-v1", out)
        self.assertIn("propagation: [xray, w3c]", out)
        self.assertIn("sample_ratio: 0.05", out)
        self.assertIn("ENABLE_ENVOY_XRAY_TRACING: note:", err)

    def test_bad_input_exits_2_naming_the_file_and_path(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"virtualNode": {"meshName": "shop", "virtualNodeName": "x", '
                    '"spec": {"listeners": [{"portMapping": {"port": "8080"}}]}}}')
        rc, out, err = run_import("x", [bad])
        self.assertEqual(rc, EXIT_BAD_INPUT)
        self.assertEqual(out, "")
        self.assertIn("%s: virtualNode.spec.listeners[0].portMapping.port: expected a whole number" % bad, err)

        with open(bad, "w") as f:
            f.write('{"virtualNode": ')
        rc, _, err = run_import("x", [bad])
        self.assertEqual(rc, EXIT_BAD_INPUT)
        self.assertIn("%s: (document): not valid JSON" % bad, err)

        rc, _, err = run_import("nobody", self.files)
        self.assertEqual(rc, EXIT_BAD_INPUT)
        self.assertIn('virtual node "nobody" is not described in the input', err)
        rc, _, err = run_import("checkout", [os.path.join(self.tmp, "missing.json")])
        self.assertEqual(rc, EXIT_BAD_INPUT)
        self.assertIn("missing.json: cannot read the file", err)
        rc, _, err = run_import(None, self.files)
        self.assertEqual(rc, EXIT_BAD_INPUT)
        self.assertIn("APPMESH_VIRTUAL_NODE_NAME", err)


class MeshFromImport(AppMeshImportBase):
    """Three sidecars, each from its own import, route 90/10 and retry as the route says."""

    def test_route_splits_90_10_and_retries_per_the_retry_policy(self):
        reg = RegistryProcess(os.path.join(self.tmp, "registry"))
        os.makedirs(reg.tmpdir, exist_ok=True)
        self.addCleanup(reg.stop)
        reg.start()
        cm = CloudMapClient(reg.address)
        svc_id = cm.create_service(cm.create_namespace("shop.local"), "payments")

        apps = {}
        for version in ("v1", "v2"):
            apps[version] = hh.start_fake(self, version)
            _, out, _ = self.imported("payments-" + version)
            h = hh.start_hawser(self, None, name="payments-" + version,
                                config_text=runnable(out, apps[version].address))
            # As ECS registers a task: its address, hawser's inbound port, the node's Cloud Map attributes.
            cm.register(svc_id, "payments-" + version, "127.0.0.1", h.listener("http-8080")[1], version=version)

        _, out, _ = self.imported("checkout")
        checkout_app = hh.start_fake(self, "checkout-app")
        checkout = hh.start_hawser(self, None, name="checkout",
                                   config_text=runnable(out, checkout_app.address, reg.endpoint))

        # Active health checks (5 s interval, from the payments listeners) mark both healthy.
        def both_healthy():
            for c in checkout.admin_json("/clusters")["clusters"]:
                if c["name"] == SERVICE:
                    eps = c["endpoints"]
                    return len(eps) == 2 and all(e["health"] == "healthy" for e in eps)
            return False
        hh.wait_until(both_healthy, timeout=20, interval=0.1, message="both payments endpoints healthy")
        self.assertTrue(apps["v1"].requests_for("/health") and apps["v2"].requests_for("/health"))

        alias = checkout.listener(SERVICE)
        conn = http.client.HTTPConnection(*alias, timeout=10)
        self.addCleanup(conn.close)
        counts = {"v1": 0, "v2": 0}
        n = 1000
        for i in range(n):
            conn.request("GET", "/charge/%d" % i)
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200, "request %d: %d %r" % (i, resp.status, resp.getheaders()))
            counts[resp.getheader("x-fake-instance")] += 1
        share = counts["v1"] / n
        self.assertTrue(0.85 <= share <= 0.95, "payments-v1 got %.1f%% (%r); the route says 90%%" % (share * 100, counts))
        self.assertEqual(counts["v1"] + counts["v2"], n)
        self.assertGreater(counts["v2"], 0)

        # A failing upstream: maxRetries 2 (server-error) -> 3 attempts in all, then the 503.
        retries_before = checkout.metric("hawser_retries_total", service=SERVICE)
        conn.request("GET", "/refund-fails", headers={"x-fake-status": "503"})
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 503)
        attempts = len(apps["v1"].requests_for("/refund-fails")) + len(apps["v2"].requests_for("/refund-fails"))
        self.assertEqual(attempts, 3, "the route's retryPolicy (maxRetries 2) means 3 attempts")
        self.assertEqual(checkout.metric("hawser_retries_total", service=SERVICE) - retries_before, 2)
        # The identity App Mesh's listener validation named reached the app, verified.
        xfcc = apps["v1"].requests_for("/charge/")[0]["h"].get("x-forwarded-client-cert", "")
        self.assertEqual(xfcc, "By=spiffe://shop/payments-v1;URI=spiffe://shop/checkout")


if __name__ == "__main__":
    unittest.main()
