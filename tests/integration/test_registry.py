"""`hawser registry`: driven by a real AWS client (the AWS SDK for JavaScript v3),
plus error statuses, SigV4 enforcement and --data persistence.

Standard library only; the SDK part needs `node` and the npm packages that
scripts/setup installs into tests/support/node/node_modules.
"""

import hashlib
import hmac
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime, timezone

from hawser_harness import hawser_bin, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.normpath(os.path.join(HERE, "..", "support", "node"))
CLIENT = os.path.join(NODE_DIR, "cloudmap_client.mjs")
SDK = os.path.join(NODE_DIR, "node_modules", "@aws-sdk", "client-servicediscovery")
ACCESS_KEY, SECRET = "AKIDHAWSERTEST", "hawser-test-secret"
TARGET_PREFIX = "Route53AutoNaming_v20170314."


class Registry:
    """A running `hawser registry`; stdout is drained by a thread so it never blocks."""

    def __init__(self, test, *extra):
        self.tmp = tempfile.mkdtemp(prefix="hawser-registry-")
        test.addCleanup(shutil.rmtree, self.tmp, True)
        addr_file = os.path.join(self.tmp, "address")
        self.proc = subprocess.Popen([hawser_bin(), "registry", "--listen", "127.0.0.1:0",
                                      "--address-file", addr_file, *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        test.addCleanup(self.stop)
        self.lines = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        line = wait_until(lambda: next((l for l in self.lines if "registry listening" in l), None)
                          or self._check_alive(), timeout=10, message="registry listening line")
        self.address = json.loads(line)["address"]
        with open(addr_file) as f:
            assert f.read().strip() == self.address
        host, _, port = self.address.rpartition(":")
        self.host, self.port = host, int(port)

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise AssertionError("registry exited %s: %s" % (self.proc.returncode, self.proc.stderr.read()))
        return None

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)  # EOF after exit; then the pipes can close
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream and not self._reader.is_alive():
                stream.close()
        return self.proc.returncode

    @property
    def endpoint(self):
        return "http://%s" % self.address

    def call(self, op, body, sign=None, headers=None):
        """POST one operation; `sign` = (access_key, secret[, token]) signs it with SigV4."""
        payload = json.dumps(body).encode()
        hdrs = {"Host": self.address, "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": TARGET_PREFIX + op}
        if sign:
            hdrs.update(sigv4_headers(hdrs, payload, *sign))
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("POST", "/", body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, (json.loads(data) if data else {})
        finally:
            conn.close()


def sigv4_headers(headers, payload, access_key, secret, token=None, region="us-east-1"):
    """A minimal SigV4 signer for POST / (an independent check of the C++ verifier)."""
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed["x-amz-date"] = amz_date
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical = "\n".join(["POST", "/", "", "".join("%s:%s\n" % (n, signed[n]) for n in names),
                           ";".join(names), hashlib.sha256(payload).hexdigest()])
    scope = "%s/%s/servicediscovery/aws4_request" % (amz_date[:8], region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, "servicediscovery", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {"X-Amz-Date": amz_date,
           "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
               access_key, scope, ";".join(names), signature)}
    if token:
        out["X-Amz-Security-Token"] = token
    return out


def sdk_available():
    return shutil.which("node") is not None and os.path.isdir(SDK)


def run_node(registry, *args, secret=SECRET, token="session-token-1"):
    env = dict(os.environ, CLOUDMAP_ENDPOINT=registry.endpoint, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token,
               NODE_NO_WARNINGS="1")
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(k, None)
    p = subprocess.run(["node", CLIENT, *args], env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("node %s failed (%d): %s %s" % (args, p.returncode, p.stdout, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


class SdkTest(unittest.TestCase):
    """The AWS SDK for JavaScript v3 drives the registry, signing with SigV4."""

    @classmethod
    def setUpClass(cls):
        if not sdk_available():
            msg = ("SKIPPED: AWS SDK for JavaScript v3 not installed (node=%s, %s missing); "
                   "run scripts/setup test" % (shutil.which("node"), SDK))
            print("\n" + "!" * 78 + "\n" + msg + "\n" + "!" * 78, file=sys.stderr)
            raise unittest.SkipTest(msg)

    def test_sdk_lifecycle(self):
        reg = Registry(self, "--credentials", "%s:%s" % (ACCESS_KEY, SECRET), "--log-requests")
        report = run_node(reg, "flow", "sdk.local", "web")
        steps = report["steps"]
        self.assertEqual(steps["operation"]["status"], "SUCCESS")
        self.assertEqual(steps["operation"]["type"], "CREATE_NAMESPACE")
        ns_id = steps["operation"]["targets"]["NAMESPACE"]
        self.assertEqual(steps["namespaces"], [{"Id": ns_id, "Name": "sdk.local", "Type": "HTTP"}])
        self.assertEqual(steps["service"]["NamespaceId"], ns_id)
        self.assertEqual(steps["get_service"], "web")
        self.assertEqual(steps["services"], ["web"])
        self.assertEqual([i["InstanceId"] for i in steps["discovered"]], ["i-1", "i-2", "i-3"])
        first = steps["discovered"][0]
        self.assertEqual(first["Attributes"], {"AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": "8081",
                                               "version": "v1", "AVAILABILITY_ZONE": "us-east-1a"})
        self.assertEqual(first["HealthStatus"], "HEALTHY")
        self.assertEqual(steps["query_v2"], ["i-3"])
        self.assertEqual(steps["health"], {"i-1": "HEALTHY", "i-2": "UNHEALTHY", "i-3": "HEALTHY"})
        self.assertEqual(steps["healthy"], ["i-1", "i-3"])
        self.assertEqual(steps["unhealthy"], ["i-2"])
        self.assertEqual(steps["after_deregister"], ["i-2", "i-3"])
        r0, r_registered, r_health, r_deregistered = steps["revisions"]
        self.assertEqual(r_registered, r0 + 3, "one revision per registration")
        self.assertEqual(r_health, r_registered, "health changes do not bump the revision")
        self.assertEqual(r_deregistered, r_registered + 1)
        # The registry saw signed requests carrying the session token.
        logs = [json.loads(l) for l in reg.lines if "registry request" in l]
        self.assertTrue(logs)
        self.assertTrue(all(l["access_key"] == ACCESS_KEY and l["session_token"] for l in logs))

    def test_sidecar_reads_what_the_sdk_wrote(self):
        """hawser's own Cloud Map client (SigV4-signed, from the environment's
        credentials) discovers exactly the instances the AWS SDK registered."""
        import hawser_harness as hh
        reg = Registry(self, "--credentials", "%s:%s" % (ACCESS_KEY, SECRET))
        steps = run_node(reg, "flow", "sdk.local", "web")["steps"]
        discovered = {i["InstanceId"]: i["Attributes"] for i in steps["discovered"]}
        left = {i: discovered[i] for i in steps["after_deregister"]}
        expected_healthy = sorted("%s:%s" % (left[i]["AWS_INSTANCE_IPV4"], left[i]["AWS_INSTANCE_PORT"])
                                  for i in left if steps["health"][i] == "HEALTHY")
        expected_all = sorted("%s:%s" % (a["AWS_INSTANCE_IPV4"], a["AWS_INSTANCE_PORT"]) for a in left.values())
        self.assertEqual(len(expected_all), 2)
        self.assertEqual(len(expected_healthy), 1)
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
               "AWS_SESSION_TOKEN": "session-token-9"}
        for status, expected in (("HEALTHY", expected_healthy), ("ALL", expected_all)):
            cfg = {"admin": {"address": "127.0.0.1:0"}, "workers": 1,
                   "discovery": {"cloudmap": {"endpoint": "http://%s" % reg.address, "poll_interval": "200ms",
                                              "health_refresh": "1s", "health_status": status}},
                   "outbound": {"services": [{"name": "web", "alias": "127.0.0.1:0",
                                              "discovery": {"cloudmap": {"namespace": "sdk.local",
                                                                         "service": "web"}}}]},
                   "telemetry": {"access_log": {"path": "off"}}}
            h = hh.start_hawser(self, cfg, name="sdk-reader-" + status.lower(), env=env)
            got = sorted(e["address"] for e in h.admin_json("/clusters")["clusters"][0]["endpoints"])
            self.assertEqual(got, expected, "health_status %s" % status)
            self.assertEqual(h.metric("hawser_discovery_errors_total"), 0)
            h.stop()

    def test_sdk_errors(self):
        reg = Registry(self, "--credentials", "%s:%s" % (ACCESS_KEY, SECRET))
        r = run_node(reg, "call", "GetService", json.dumps({"Id": "srv-doesnotexist00"}))
        self.assertEqual((r["ok"], r["name"], r["status"]), (False, "ServiceNotFound", 404))
        r = run_node(reg, "call", "ListNamespaces", "{}", secret="wrong-secret")
        self.assertEqual((r["name"], r["status"]), ("InvalidSignatureException", 403))
        r = run_node(reg, "call", "CreateHttpNamespace", json.dumps({"Name": "dup.local"}))
        self.assertTrue(r["ok"], r)
        r = run_node(reg, "call", "CreateHttpNamespace", json.dumps({"Name": "dup.local"}))
        self.assertEqual((r["name"], r["status"]), ("NamespaceAlreadyExists", 409))


class WireTest(unittest.TestCase):
    """Raw AWS JSON 1.1 requests (no SDK needed)."""

    def setup_service(self, reg, sign=None, custom_health=True):
        status, body = reg.call("CreateHttpNamespace", {"Name": "wire.local"}, sign)
        self.assertEqual(status, 200, body)
        status, op = reg.call("GetOperation", {"OperationId": body["OperationId"]}, sign)
        self.assertEqual(status, 200, op)
        ns_id = op["Operation"]["Targets"]["NAMESPACE"]
        req = {"Name": "api", "NamespaceId": ns_id}
        if custom_health:
            req["HealthCheckCustomConfig"] = {}
        status, svc = reg.call("CreateService", req, sign)
        self.assertEqual(status, 200, svc)
        return ns_id, svc["Service"]["Id"]

    def test_sidecar_owner_account_for_shared_namespaces(self):
        """`owner_account` reaches DiscoverInstances as OwnerAccount: the owning
        account's namespace is found; another account's is not (errors counted,
        never ready)."""
        import hawser_harness as hh
        reg = Registry(self, "--account", "111122223333")
        _, svc_id = self.setup_service(reg)
        status, body = reg.call("RegisterInstance", {"ServiceId": svc_id, "InstanceId": "i-1", "Attributes": {
            "AWS_INSTANCE_IPV4": "127.0.0.1", "AWS_INSTANCE_PORT": "8081"}})
        self.assertEqual(status, 200, body)

        def cfg(owner):
            return {"admin": {"address": "127.0.0.1:0"}, "workers": 1,
                    "discovery": {"cloudmap": {"endpoint": "http://%s" % reg.address, "poll_interval": "200ms"}},
                    "outbound": {"services": [{"name": "api", "alias": "127.0.0.1:0", "discovery": {"cloudmap": {
                        "namespace": "wire.local", "service": "api", "owner_account": owner}}}]},
                    "telemetry": {"access_log": {"path": "off"}}}

        h = hh.start_hawser(self, cfg("111122223333"), name="owner-ok")
        got = [e["address"] for e in h.admin_json("/clusters")["clusters"][0]["endpoints"]]
        self.assertEqual(got, ["127.0.0.1:8081"])
        self.assertEqual(h.admin_json("/config_dump")["outbound"]["services"][0]["discovery"]["cloudmap"]
                         ["owner_account"], "111122223333")
        other = hh.Hawser(cfg("999988887777"), name="owner-other")
        self.addCleanup(other.stop)
        other.start(wait_ready=False)
        hh.wait_until(lambda: os.path.exists(other.admin_path), timeout=10, message="admin address written")
        with open(other.admin_path) as f:
            other.admin = hh.parse_addr(f.read().strip())
        hh.wait_until(lambda: other.metric("hawser_discovery_errors_total") >= 2, timeout=10,
                      message="errors counted for another account's namespace")
        self.assertEqual(other.admin_get("/ready")[0], 503, "never warmed: not ready")
        self.assertEqual(other.admin_json("/clusters")["clusters"][0]["endpoints"], [])

    def test_sidecar_optional_parameters_and_max_results(self):
        """`optional` is sent as OptionalParameters (matching instances preferred)
        and `max_results` as MaxResults."""
        import hawser_harness as hh
        reg = Registry(self)
        _, svc_id = self.setup_service(reg)
        for i, version in ((1, "v1"), (2, "v2"), (3, "v1")):
            status, body = reg.call("RegisterInstance", {"ServiceId": svc_id, "InstanceId": "i-%d" % i,
                                                         "Attributes": {"AWS_INSTANCE_IPV4": "127.0.0.1",
                                                                        "AWS_INSTANCE_PORT": str(8080 + i),
                                                                        "version": version}})
            self.assertEqual(status, 200, body)

        def endpoints(cloudmap):
            cfg = {"admin": {"address": "127.0.0.1:0"}, "workers": 1,
                   "discovery": {"cloudmap": {"endpoint": "http://%s" % reg.address, "poll_interval": "200ms"}},
                   "outbound": {"services": [{"name": "api", "alias": "127.0.0.1:0", "discovery": {
                       "cloudmap": dict({"namespace": "wire.local", "service": "api"}, **cloudmap)}}]},
                   "telemetry": {"access_log": {"path": "off"}}}
            h = hh.start_hawser(self, cfg, name="cm-options")
            got = sorted(e["address"] for e in h.admin_json("/clusters")["clusters"][0]["endpoints"])
            h.stop()
            return got

        self.assertEqual(endpoints({"optional": {"version": "v2"}}), ["127.0.0.1:8082"])
        self.assertEqual(endpoints({"optional": {"version": "v9"}}),
                         ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"])
        self.assertEqual(len(endpoints({"max_results": 2})), 2)

    def test_error_statuses_and_types(self):
        reg = Registry(self)
        ns_id, svc_id = self.setup_service(reg)
        cases = [
            ("DiscoverInstances", {"NamespaceName": "nope.local", "ServiceName": "api"}, 404, "NamespaceNotFound"),
            ("DiscoverInstances", {"NamespaceName": "wire.local", "ServiceName": "nope"}, 404, "ServiceNotFound"),
            ("DiscoverInstancesRevision", {"NamespaceName": "wire.local", "ServiceName": "nope"}, 404, "ServiceNotFound"),
            ("CreateService", {"Name": "x", "NamespaceId": "ns-nope"}, 404, "NamespaceNotFound"),
            ("GetService", {"Id": "srv-nope"}, 404, "ServiceNotFound"),
            ("DeregisterInstance", {"ServiceId": svc_id, "InstanceId": "i-nope"}, 404, "InstanceNotFound"),
            ("UpdateInstanceCustomHealthStatus", {"ServiceId": svc_id, "InstanceId": "i-nope", "Status": "HEALTHY"},
             404, "InstanceNotFound"),
            ("GetOperation", {"OperationId": "nope"}, 404, "OperationNotFound"),
            ("CreateHttpNamespace", {"Name": "wire.local"}, 409, "NamespaceAlreadyExists"),
            ("CreateService", {"Name": "api", "NamespaceId": ns_id}, 409, "ServiceAlreadyExists"),
            ("DeleteNamespace", {"Id": ns_id}, 409, "ResourceInUse"),
            ("RegisterInstance", {"ServiceId": svc_id, "InstanceId": "i-1",
                                  "Attributes": {"AWS_INSTANCE_PORT": "70000"}}, 400, "InvalidInput"),
            ("DiscoverInstances", {"NamespaceName": "wire.local"}, 400, "InvalidInput"),
            ("DiscoverInstances", {"NamespaceName": "wire.local", "ServiceName": "api", "HealthStatus": "MAYBE"},
             400, "InvalidInput"),
        ]
        for op, body, want_status, want_type in cases:
            with self.subTest(op=op, want=want_type):
                status, resp = reg.call(op, body)
                self.assertEqual((status, resp.get("__type")), (want_status, want_type), resp)
                self.assertTrue(resp.get("message"))
        # DuplicateRequest: one CreatorRequestId for two different namespaces.
        status, _ = reg.call("CreateHttpNamespace", {"Name": "a.local", "CreatorRequestId": "req-1"})
        self.assertEqual(status, 200)
        status, again = reg.call("CreateHttpNamespace", {"Name": "a.local", "CreatorRequestId": "req-1"})
        self.assertEqual(status, 200, "a retry with the same CreatorRequestId is idempotent")
        status, resp = reg.call("CreateHttpNamespace", {"Name": "b.local", "CreatorRequestId": "req-1"})
        self.assertEqual((status, resp["__type"]), (409, "DuplicateRequest"))
        self.assertEqual(resp["DuplicateOperationId"], again["OperationId"])
        # Unknown operation.
        status, resp = reg.call("FrobnicateInstances", {})
        self.assertEqual(resp["__type"], "UnknownOperationException")

    def test_health_filters_and_revision(self):
        reg = Registry(self)
        _, svc_id = self.setup_service(reg)
        for i in (1, 2):
            status, _ = reg.call("RegisterInstance", {"ServiceId": svc_id, "InstanceId": "i-%d" % i, "Attributes": {
                "AWS_INSTANCE_IPV4": "10.0.0.%d" % i, "AWS_INSTANCE_PORT": "80"}})
            self.assertEqual(status, 200)
        q = {"NamespaceName": "wire.local", "ServiceName": "api"}
        _, rev = reg.call("DiscoverInstancesRevision", q)
        reg.call("UpdateInstanceCustomHealthStatus", {"ServiceId": svc_id, "InstanceId": "i-1", "Status": "UNHEALTHY"})
        reg.call("UpdateInstanceCustomHealthStatus", {"ServiceId": svc_id, "InstanceId": "i-2", "Status": "UNHEALTHY"})
        _, rev2 = reg.call("DiscoverInstancesRevision", q)
        self.assertEqual(rev, rev2)

        def ids(flt):
            status, body = reg.call("DiscoverInstances", dict(q, HealthStatus=flt))
            self.assertEqual(status, 200, body)
            return [i["InstanceId"] for i in body["Instances"]]
        self.assertEqual(ids("HEALTHY"), [])
        self.assertEqual(ids("UNHEALTHY"), ["i-1", "i-2"])
        self.assertEqual(ids("ALL"), ["i-1", "i-2"])
        self.assertEqual(ids("HEALTHY_OR_ELSE_ALL"), ["i-1", "i-2"])
        reg.call("UpdateInstanceCustomHealthStatus", {"ServiceId": svc_id, "InstanceId": "i-2", "Status": "HEALTHY"})
        self.assertEqual(ids("HEALTHY_OR_ELSE_ALL"), ["i-2"])

    def test_sigv4_enforced(self):
        reg = Registry(self, "--credentials", "%s:%s" % (ACCESS_KEY, SECRET))
        status, body = reg.call("ListNamespaces", {})
        self.assertEqual(status, 403, body)
        status, body = reg.call("ListNamespaces", {}, sign=(ACCESS_KEY, "wrong-secret"))
        self.assertEqual((status, body["__type"]), (403, "InvalidSignatureException"))
        status, body = reg.call("ListNamespaces", {}, sign=("AKIDUNKNOWN", SECRET))
        self.assertEqual((status, body["__type"]), (403, "UnrecognizedClientException"))
        status, body = reg.call("ListNamespaces", {}, sign=(ACCESS_KEY, SECRET))
        self.assertEqual(status, 200, body)
        status, body = reg.call("ListNamespaces", {}, sign=(ACCESS_KEY, SECRET, "a-session-token"))
        self.assertEqual(status, 200, body)
        # A header added after signing but not listed in SignedHeaders is ignored;
        # tampering with a signed one is not.
        status, _ = reg.call("ListNamespaces", {}, sign=(ACCESS_KEY, SECRET), headers={"X-Extra": "1"})
        self.assertEqual(status, 200)
        status, body = reg.call("ListNamespaces", {}, sign=(ACCESS_KEY, SECRET),
                                headers={"X-Amz-Target": TARGET_PREFIX + "ListServices"})
        self.assertEqual((status, body["__type"]), (403, "InvalidSignatureException"))

    def test_persistence_across_restart(self):
        data_dir = tempfile.mkdtemp(prefix="hawser-registry-data-")
        self.addCleanup(shutil.rmtree, data_dir, True)
        data = os.path.join(data_dir, "state.json")
        reg = Registry(self, "--data", data)
        _, svc_id = self.setup_service(reg)
        reg.call("RegisterInstance", {"ServiceId": svc_id, "InstanceId": "i-1",
                                      "Attributes": {"AWS_INSTANCE_IPV4": "10.1.1.1", "AWS_INSTANCE_PORT": "9000",
                                                     "zone": "a"}})
        reg.call("UpdateInstanceCustomHealthStatus", {"ServiceId": svc_id, "InstanceId": "i-1", "Status": "UNHEALTHY"})
        q = {"NamespaceName": "wire.local", "ServiceName": "api", "HealthStatus": "ALL"}
        _, before = reg.call("DiscoverInstances", q)
        self.assertEqual(reg.stop(), 0)
        self.assertTrue(os.path.exists(data))
        self.assertFalse(os.path.exists(data + ".tmp"))

        reg2 = Registry(self, "--data", data)
        status, after = reg2.call("DiscoverInstances", q)
        self.assertEqual(status, 200, after)
        self.assertEqual(after, before)
        self.assertEqual(after["Instances"][0]["HealthStatus"], "UNHEALTHY")
        status, svc = reg2.call("GetService", {"Id": svc_id})
        self.assertEqual((status, svc["Service"]["InstanceCount"]), (200, 1))

    def test_bad_data_file_and_usage(self):
        tmp = tempfile.mkdtemp(prefix="hawser-registry-bad-")
        self.addCleanup(shutil.rmtree, tmp, True)
        bad = os.path.join(tmp, "state.json")
        with open(bad, "w") as f:
            f.write("{not json")
        p = subprocess.run([hawser_bin(), "registry", "--listen", "127.0.0.1:0", "--data", bad],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn(bad, p.stderr)
        p = subprocess.run([hawser_bin(), "registry"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([hawser_bin(), "registry", "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("DEVELOPMENT TOOL", p.stdout)


if __name__ == "__main__":
    unittest.main()
