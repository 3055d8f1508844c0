"""Transparent interception in network namespaces this test owns (issue 17, acceptance 1).

Two namespaces stand for two ECS tasks: "app" (10.242.17.1, fd00:242:17::1) and
"peer" (10.242.17.2, 10.242.17.3, fd00:242:17::2), joined by a veth pair created
inside them; the host's own network is never touched. In each, `hawser iptables` installs the
rules the ECS agent writes for a proxyConfiguration of type APPMESH
(IgnoredUID 1337, ProxyIngressPort 15000, ProxyEgressPort 15001, AppPorts,
EgressIgnoredIPs, EgressIgnoredPorts), and a sidecar runs as uid 1337 with a
transparent ingress listener (inbound[].transparent) and a transparent egress
listener (outbound.transparent, egress_filter drop_all, so that anything that
reaches a server without a sidecar in the way proves a bypass). Each side's app
is a fake upstream on 127.0.0.1:<AppPort>; clients run with `ip netns exec` as
uid 1000 (redirected) or 1337 (ignored).

Needs root, `ip netns` and a working iptables nat table in a namespace; skips
with the reason otherwise."""

import json
import os
import shutil
import socket
import tempfile
import threading
import unittest

import hawser_harness as hh
import netns
from fake_upstream import FakeUpstream

APP_IP, PEER_IP, IGNORED_IP = "10.242.17.1", "10.242.17.2", "10.242.17.3"
APP_IP6, PEER_IP6 = "fd00:242:17::1", "fd00:242:17::2"
PEER_VIP = "10.100.0.10"                 # a virtual IP of the peer service (what a DNS name might resolve to)
APP_PORT, PEER_APP_PORT = 9080, 8080     # each task's AppPort
PLAIN_PORT, IGNORED_PORT = 7070, 2222    # servers in the peer namespace that no sidecar fronts
UNCONFIGURED_APP_PORT = 8081             # an AppPort of the peer with no inbound[] entry
SIDECAR_UID, APP_UID = 1337, 1000
INGRESS, EGRESS = 15000, 15001
ECS_IGNORED_IPS = "169.254.170.2,169.254.169.254"

REASON = netns.unavailable_reason()

# A client for inside a namespace: one HTTP request or one line over TCP; prints JSON.
CLIENT = r"""
import json, socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.create_connection((host, port), timeout=5)
authority = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
try:
    if mode == "late-http":   # says nothing at first, as a client of a server-first protocol would
        time.sleep(0.5)
    if mode in ("http", "late-http"):
        s.sendall(("GET /hello HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % authority).encode())
    else:
        s.sendall(b"hello\n")
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout) as e:
            print(json.dumps({"error": type(e).__name__, "data": data.decode("latin-1")}))
            sys.exit(0)
        if not chunk:
            break
        data += chunk
finally:
    s.close()
print(json.dumps({"data": data.decode("latin-1")}))
"""


class WhoServer:
    """A plain TCP server: answers each line with the address the connection came from."""

    def __init__(self, host, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.seen = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                c, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(5)
                try:
                    c.recv(1024)
                    local = c.getsockname()
                    self.seen.append((addr[0], local[0], local[1]))
                    c.sendall(("from %s to %s:%d\n" % (addr[0], local[0], local[1])).encode())
                except OSError:
                    pass

    def stop(self):
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


def ns_client(ns, uid, mode, host, port):
    rc, out, err = netns.run(netns.ns_cmd(ns, uid) + ["python3", "-c", CLIENT, mode, host, str(port)],
                             check=False, timeout=20)
    if rc != 0:
        return {"error": "exit %d: %s" % (rc, err.strip().splitlines()[-1] if err.strip() else "")}
    return json.loads(out)


def http_status_and_headers(data):
    head = data.split("\r\n\r\n", 1)[0].split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


def iptables_install(ns, app_ports, ignored_ips, extra=()):
    return netns.run(netns.ns_cmd(ns) + [hh.hawser_bin(), "iptables", "--ingress-port", str(INGRESS),
                                         "--egress-port", str(EGRESS), "--uid", str(SIDECAR_UID),
                                         "--app-ports", app_ports, "--egress-ignored-ips", ignored_ips,
                                         "--egress-ignored-ports", str(IGNORED_PORT)] + list(extra))


def saved_rules(ns):
    """iptables-save and ip6tables-save of the namespace, less comments and counters.

    A table holding nothing but its built-in chains with their default policy is left
    out: with the nft backend, the first iptables command on a table creates it, and
    removing every rule again leaves it behind, empty (no rule, no chain of anyone's)."""
    out = []
    for tool in ("iptables-save", "ip6tables-save"):
        rc, text, _ = netns.run(netns.ns_cmd(ns) + [tool], check=False)
        if rc != 0:
            continue
        out.append("## " + tool)
        table = []
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            if line.startswith(":"):
                line = line.split(" [")[0]  # chain policy counters
            table.append(line)
            if line == "COMMIT":
                builtin = all(l.startswith("*") or l == "COMMIT" or (
                    l.startswith(":") and l.endswith(" ACCEPT") and l[1:].split()[0] in BUILTIN_CHAINS)
                    for l in table)
                if not builtin:
                    out.extend(table)
                table = []
    return "\n".join(out)


BUILTIN_CHAINS = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


# The app task's sidecar listens dual-stack ([::]: IPv6, and IPv4 as v4-mapped) for egress, the
# peer's on 127.0.0.1 (the default) for egress and dual-stack for ingress: both address families
# and both kinds of listener are exercised.
SIDES = {
    "app": {"other": "peer", "app_port": APP_PORT, "ingress": "0.0.0.0", "egress": "[::]",
            "endpoints": ["%s:%d" % (PEER_IP, PEER_APP_PORT), "[%s]:%d" % (PEER_IP6, PEER_APP_PORT)],
            "virtual_ips": [PEER_VIP]},
    "peer": {"other": "app", "app_port": PEER_APP_PORT, "ingress": "[::]", "egress": "127.0.0.1",
             "endpoints": ["%s:%d" % (APP_IP, APP_PORT)], "virtual_ips": []},
}


def sidecar_config(certs, me, egress_filter="drop_all"):
    side = SIDES[me]
    cert, key = certs[1][me]
    service = {"name": side["other"], "discovery": {"static": side["endpoints"]}}
    if side["virtual_ips"]:
        service["virtual_ips"] = side["virtual_ips"]
    return {
        "node": {"service": me, "namespace": "mesh"},
        "admin": {"address": "127.0.0.1:0"},
        "workers": 1,
        "tls": hh.tls_block(cert, key, certs[0].ca_pem()),
        "inbound": [{"name": me, "listen": "%s:%d" % (side["ingress"], INGRESS), "transparent": True,
                     "app": "127.0.0.1:%d" % side["app_port"]}],
        "outbound": {
            "transparent": {"listen": "%s:%d" % (side["egress"], EGRESS), "egress_filter": egress_filter},
            "services": [service],
        },
    }


@unittest.skipIf(REASON is not None, "transparent interception: %s" % REASON)
class TransparentInterception(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        tag = os.getpid()
        cls.app_ns, cls.peer_ns = "hwt-app-%d" % tag, "hwt-peer-%d" % tag
        cls.addClassCleanup(netns.delete, cls.app_ns)
        cls.addClassCleanup(netns.delete, cls.peer_ns)
        netns.add(cls.app_ns)
        netns.add(cls.peer_ns)
        # The veth pair is made inside the app namespace and its far end moved to the peer:
        # it never exists in the host's namespace.
        netns.run(["ip", "-n", cls.app_ns, "link", "add", "hwt0", "type", "veth", "peer", "name", "hwt1",
                   "netns", cls.peer_ns])
        for ns, dev, addrs, addr6 in ((cls.app_ns, "hwt0", [APP_IP], APP_IP6),
                                      (cls.peer_ns, "hwt1", [PEER_IP, IGNORED_IP], PEER_IP6)):
            for a in addrs:
                netns.run(["ip", "-n", ns, "addr", "add", a + "/24", "dev", dev])
            netns.run(["ip", "-n", ns, "-6", "addr", "add", addr6 + "/64", "dev", dev, "nodad"])
            netns.run(["ip", "-n", ns, "link", "set", dev, "up"])
            netns.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # The virtual IP needs a route for the app's connect to be made (and then redirected).
        netns.run(["ip", "-n", cls.app_ns, "route", "add", PEER_VIP + "/32", "dev", "hwt0"])

        # As the ECS agent does for each task: AppPorts and EgressIgnoredIPs of the task definition
        # (the app task also ignores IGNORED_IP, the stand-in for an address the mesh must not see).
        iptables_install(cls.app_ns, str(APP_PORT), ECS_IGNORED_IPS + "," + IGNORED_IP)
        # The peer's task definition lists an AppPort its hawser configuration has no entry for.
        iptables_install(cls.peer_ns, "%d,%d" % (PEER_APP_PORT, UNCONFIGURED_APP_PORT), ECS_IGNORED_IPS)

        cls.tmp = tempfile.mkdtemp(prefix="hawser-transparent-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.certs = hh.make_certs(os.path.join(cls.tmp, "pki"), namespace="mesh", services=("app", "peer"))
        # The sidecars run as uid 1337 and must read their (test) keys.
        os.chmod(cls.tmp, 0o755)
        for root, dirs, files in os.walk(cls.tmp):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for f in files:
                os.chmod(os.path.join(root, f), 0o644)

        # The apps behind the sidecars, and plain servers in the peer task.
        cls.app_upstream = FakeUpstream("app-app", host="127.0.0.1", port=APP_PORT)
        netns.with_netns(cls.app_ns, cls.app_upstream.start)
        cls.addClassCleanup(cls.app_upstream.stop)
        cls.peer_upstream = FakeUpstream("peer-app", host="127.0.0.1", port=PEER_APP_PORT)
        netns.with_netns(cls.peer_ns, cls.peer_upstream.start)
        cls.addClassCleanup(cls.peer_upstream.stop)
        cls.plain = netns.with_netns(cls.peer_ns, WhoServer, "0.0.0.0", PLAIN_PORT)
        cls.addClassCleanup(cls.plain.stop)
        cls.ignored_port_server = netns.with_netns(cls.peer_ns, WhoServer, "0.0.0.0", IGNORED_PORT)
        cls.addClassCleanup(cls.ignored_port_server.stop)

        cls.app_sidecar = cls.start_sidecar(cls.app_ns, "app")
        cls.peer_sidecar = cls.start_sidecar(cls.peer_ns, "peer")

    @classmethod
    def start_sidecar(cls, ns, me):
        h = hh.Hawser(sidecar_config(cls.certs, me), name="sidecar-" + me, prefix_cmd=netns.ns_cmd(ns, SIDECAR_UID),
                      netns=ns)
        os.chmod(h.tmpdir, 0o777)  # the admin address file is written by uid 1337
        os.chmod(h.config_path, 0o644)
        cls.addClassCleanup(h.stop)
        h.start()
        return h

    def access(self, sidecar, **match):
        return [d for d in sidecar.access_logs() if all(d.get(k) == v for k, v in match.items())]

    def new_records(self, since, ip, port):
        """The app sidecar's access records after the first `since` for ip:port."""
        return [d for d in self.app_sidecar.access_logs()[since:] if d.get("authority") == "%s:%d" % (ip, port)]

    def wait_access(self, sidecar, message, **match):
        return hh.wait_until(lambda: self.access(sidecar, **match), timeout=5, message=message)

    # --- the rules ---

    def test_rules_are_the_ones_ecs_writes_for_proxy_configuration(self):
        rules = saved_rules(self.app_ns)
        expected = [
            "-A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j HAWSER_INGRESS",
            "-A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j HAWSER_EGRESS",
            "-A HAWSER_INGRESS -p tcp -m multiport --dports %d -j REDIRECT --to-ports %d" % (APP_PORT, INGRESS),
            "-A HAWSER_EGRESS -m owner --uid-owner %d -j RETURN" % SIDECAR_UID,
            "-A HAWSER_EGRESS -p tcp -m multiport --dports %d -j RETURN" % IGNORED_PORT,
            "-A HAWSER_EGRESS -d 169.254.170.2/32 -p tcp -j RETURN",
            "-A HAWSER_EGRESS -d 169.254.169.254/32 -p tcp -j RETURN",
            "-A HAWSER_EGRESS -d %s/32 -p tcp -j RETURN" % IGNORED_IP,
            "-A HAWSER_EGRESS -p tcp -j REDIRECT --to-ports %d" % EGRESS,
        ]
        for line in expected:
            self.assertIn(line, rules.splitlines(), rules)

    def test_iptables_installs_idempotently_and_removes_exactly_its_rules(self):
        ns = "hwt-rules-%d" % os.getpid()
        self.addCleanup(netns.delete, ns)
        netns.add(ns)
        # Someone else's rules, which hawser must leave alone.
        netns.run(netns.ns_cmd(ns) + ["iptables", "-t", "nat", "-N", "OTHER_MESH"])
        netns.run(netns.ns_cmd(ns) + ["iptables", "-t", "nat", "-A", "OTHER_MESH", "-j", "RETURN"])
        netns.run(netns.ns_cmd(ns) + ["iptables", "-t", "nat", "-A", "OUTPUT", "-d", "10.9.9.9", "-j", "RETURN"])
        if netns.run(netns.ns_cmd(ns) + ["ip6tables", "-t", "nat", "-A", "OUTPUT", "-d", "fd00:9::9", "-j",
                                         "RETURN"], check=False)[0] == 0:
            self.assertIn("fd00:9::9", saved_rules(ns))
        before = saved_rules(ns)

        _, dry, _ = iptables_install(ns, "8080,9090", ECS_IGNORED_IPS, extra=["--dry-run"])
        self.assertEqual(saved_rules(ns), before, "--dry-run changed the rules")
        self.assertIn("iptables -t nat -A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j HAWSER_EGRESS", dry)

        iptables_install(ns, "8080,9090", ECS_IGNORED_IPS)
        once = saved_rules(ns)
        self.assertNotEqual(once, before)
        self.assertEqual(once.count("-j HAWSER_EGRESS"), 2 if "## ip6tables-save" in once else 1, once)
        iptables_install(ns, "8080,9090", ECS_IGNORED_IPS)
        self.assertEqual(saved_rules(ns), once, "a second install changed the rules")

        netns.run(netns.ns_cmd(ns) + [hh.hawser_bin(), "iptables", "--remove"])
        self.assertEqual(saved_rules(ns), before)
        netns.run(netns.ns_cmd(ns) + [hh.hawser_bin(), "iptables", "--remove"])  # nothing left: still fine
        self.assertEqual(saved_rules(ns), before)

    # --- the traffic ---

    def test_app_reaches_the_peer_by_ip_through_both_sidecars_with_mtls(self):
        # The peer's sidecar verified the caller's certificate: the caller is spiffe://mesh/app.
        self.request_to_peer(PEER_IP)
        self.wait_access(self.app_sidecar, "caller sidecar's outbound record", direction="outbound", method="GET",
                         authority="%s:%d" % (PEER_IP, PEER_APP_PORT), status=200)
        self.wait_access(self.peer_sidecar, "callee sidecar's inbound record", direction="inbound", method="GET",
                         status=200)
        self.assertGreaterEqual(self.app_sidecar.metric("hawser_requests_total", direction="outbound",
                                                        service="peer"), 1)

    def request_to_peer(self, host, port=PEER_APP_PORT, mode="http"):
        """The app's request through both sidecars -> the peer app's response headers."""
        before = self.peer_upstream.stats()["requests"]
        r = ns_client(self.app_ns, APP_UID, mode, host, port)
        self.assertIn("data", r, r)
        status, headers = http_status_and_headers(r["data"])
        self.assertEqual((status, headers.get("x-fake-instance")), (200, "peer-app"), r)
        self.assertEqual(self.peer_upstream.stats()["requests"], before + 1)
        seen = json.loads(headers["x-fake-seen-headers"])
        self.assertIn("URI=spiffe://mesh/app", seen.get("x-forwarded-client-cert", ""), seen)
        return headers

    def test_ipv6_destinations_are_read_and_routed_too(self):
        # IP6T_SO_ORIGINAL_DST on the dual-stack egress listener; the peer's address is an endpoint.
        self.request_to_peer(PEER_IP6)
        self.wait_access(self.app_sidecar, "outbound record for the IPv6 destination", direction="outbound",
                         method="GET", authority="[%s]:%d" % (PEER_IP6, PEER_APP_PORT), status=200)

    def test_a_virtual_ip_routes_to_its_service(self):
        self.request_to_peer(PEER_VIP)
        self.wait_access(self.app_sidecar, "outbound record for the virtual IP", direction="outbound",
                         method="GET", authority="%s:%d" % (PEER_VIP, PEER_APP_PORT), status=200)

    def test_what_is_not_http_in_time_goes_to_the_service_as_tcp_over_mtls(self):
        # Silent past protocol_detection_timeout: proxied as bytes, still over mTLS to the peer's
        # sidecar, whose HTTP inbound serves the request when it comes (a plain connection would
        # have been refused by its strict mTLS).
        self.request_to_peer(PEER_IP, mode="late-http")
        self.wait_access(self.app_sidecar, "TCP record for the late client", direction="outbound", method="TCP",
                         authority="peer")

    def test_inbound_to_an_app_port_goes_through_the_sidecar(self):
        # The peer's app calls the app task's AppPort: redirected on both sides, mTLS between.
        r = ns_client(self.peer_ns, APP_UID, "http", APP_IP, APP_PORT)
        status, headers = http_status_and_headers(r["data"])
        self.assertEqual((status, headers.get("x-fake-instance")), (200, "app-app"), r)
        seen = json.loads(headers["x-fake-seen-headers"])
        self.assertIn("URI=spiffe://mesh/peer", seen.get("x-forwarded-client-cert", ""), seen)

        # Plaintext straight at the AppPort (from the ignored uid, so no sidecar on the calling
        # side): PREROUTING hands it to the app task's sidecar, which wants mTLS and refuses it.
        requests = self.app_upstream.stats()["requests"]
        refused = self.app_sidecar.metric("hawser_tls_handshake_errors_total", reason="plaintext")
        r = ns_client(self.peer_ns, SIDECAR_UID, "http", APP_IP, APP_PORT)
        self.assertNotIn("HTTP/1.1 200", r.get("data", ""), r)
        self.assertEqual(self.app_upstream.stats()["requests"], requests, "plaintext reached the app directly")
        hh.wait_until(lambda: self.app_sidecar.metric("hawser_tls_handshake_errors_total",
                                                      reason="plaintext") > refused,
                      timeout=5, message="the app sidecar refused the plaintext connection")

    def test_an_app_port_without_an_inbound_entry_is_refused(self):
        refused = self.peer_sidecar.metric("hawser_local_replies_total", reason="no-inbound-for-port")
        r = ns_client(self.app_ns, SIDECAR_UID, "tcp", PEER_IP, UNCONFIGURED_APP_PORT)
        self.assertFalse(r.get("data"), r)
        hh.wait_until(lambda: self.peer_sidecar.metric("hawser_local_replies_total",
                                                       reason="no-inbound-for-port") > refused,
                      timeout=5, message="no-inbound-for-port counted by the peer's sidecar")

    def test_egress_ignored_ip_bypasses_the_sidecar(self):
        logged = len(self.app_sidecar.access_logs())
        r = ns_client(self.app_ns, APP_UID, "tcp", IGNORED_IP, PLAIN_PORT)
        # drop_all would have refused it had it reached the sidecar, which logs nothing for it.
        self.assertEqual(r.get("data"), "from %s to %s:%d\n" % (APP_IP, IGNORED_IP, PLAIN_PORT), r)
        self.assertEqual(self.new_records(logged, IGNORED_IP, PLAIN_PORT), [])

    def test_egress_ignored_port_bypasses_the_sidecar(self):
        logged = len(self.app_sidecar.access_logs())
        r = ns_client(self.app_ns, APP_UID, "tcp", PEER_IP, IGNORED_PORT)
        self.assertEqual(r.get("data"), "from %s to %s:%d\n" % (APP_IP, PEER_IP, IGNORED_PORT), r)
        self.assertEqual(self.new_records(logged, PEER_IP, IGNORED_PORT), [])

    def test_ignored_uid_bypasses_the_sidecar(self):
        # drop_all would have refused it had it reached the sidecar, which logs nothing for it.
        logged = len(self.app_sidecar.access_logs())
        r = ns_client(self.app_ns, SIDECAR_UID, "tcp", PEER_IP, PLAIN_PORT)
        self.assertEqual(r.get("data"), "from %s to %s:%d\n" % (APP_IP, PEER_IP, PLAIN_PORT), r)
        self.assertEqual(self.new_records(logged, PEER_IP, PLAIN_PORT), [])

    def test_drop_all_refuses_what_no_service_claims_and_allow_all_passes_it_through(self):
        # The same destination from a redirected uid: no service has it, drop_all refuses.
        denied = self.app_sidecar.metric("hawser_local_replies_total", reason="egress-denied")
        r = ns_client(self.app_ns, APP_UID, "tcp", PEER_IP, PLAIN_PORT)
        self.assertFalse(r.get("data"), r)
        self.wait_access(self.app_sidecar, "egress-denied record", authority="%s:%d" % (PEER_IP, PLAIN_PORT),
                         reason="egress-denied")
        self.assertGreater(self.app_sidecar.metric("hawser_local_replies_total", reason="egress-denied"), denied)

        self.reload_app_sidecar("allow_all")
        try:
            r = ns_client(self.app_ns, APP_UID, "tcp", PEER_IP, PLAIN_PORT)
            self.assertEqual(r.get("data"), "from %s to %s:%d\n" % (APP_IP, PEER_IP, PLAIN_PORT), r)
            self.wait_access(self.app_sidecar, "passthrough record", authority="%s:%d" % (PEER_IP, PLAIN_PORT),
                             reason="passthrough")
        finally:
            self.reload_app_sidecar("drop_all")

    def reload_app_sidecar(self, egress_filter):
        h = self.app_sidecar
        h.write_config(sidecar_config(self.certs, "app", egress_filter=egress_filter))
        os.chmod(h.config_path, 0o644)
        st, _, body = h.admin_post("/reload")
        self.assertEqual(st, 200, body)
        hh.wait_until(lambda: h.admin_json("/config_dump")["outbound"]["transparent"]["egress_filter"]
                      == egress_filter, timeout=5, message="egress_filter %s in /config_dump" % egress_filter)

    def test_a_connection_to_the_listener_itself_is_refused_not_looped(self):
        loops = self.app_sidecar.metric("hawser_local_replies_total", reason="transparent-loop")
        r = ns_client(self.app_ns, APP_UID, "tcp", "127.0.0.1", EGRESS)
        self.assertFalse(r.get("data"), r)
        hh.wait_until(lambda: self.app_sidecar.metric("hawser_local_replies_total",
                                                      reason="transparent-loop") > loops,
                      timeout=5, message="transparent-loop counted")


if __name__ == "__main__":
    unittest.main()
