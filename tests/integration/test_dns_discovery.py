"""DNS discovery end to end: a real `hawser proxy` resolving its outbound services
through a real DNS server from Debian (dnsmasq, started here on 127.0.0.1 with an
ephemeral port), routing to real fake-upstream instances, all on loopback.

  1. RecordChangeTest   an SRV service (target + port from the record) and an A service
                        (configured port) route to the resolved instances; re-resolution
                        follows the answers' TTL in the background (query rate in dnsmasq's
                        log); an A address change (hosts file + SIGHUP) and an SRV port
                        change are picked up within about one TTL, without failed requests
  2. TtlClampTest       `refresh` caps a long TTL (a change under TTL 3600 s is picked up
                        within `refresh`); `min_ttl` slows a short one (fewer queries)
  3. FailureTest        NXDOMAIN (name removed), SERVFAIL (DNSSEC validation failure of a
                        forwarded answer), timeouts (dnsmasq SIGSTOPped) and a dead server
                        (dnsmasq killed) each keep the last-known set: requests keep
                        succeeding, errors counted, /ready stays 200; changed records are
                        picked up once dnsmasq is back
  4. ReadinessTest      /ready is 503 until the first answer (NXDOMAIN does not warm)
  5. ZeroDurationTest   `min_ttl: 0s` / `negative_ttl: 0s` are refused by check-config, and
                        a reload to such a config leaves the running lookups alone

Standard library only.  Every wait is bounded; every process is killed by cleanup.
"""

import os
import pwd
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

from hawser_harness import (Hawser, LoadLoop, base_config, check_config, http_request, plaintext_defaults,  # noqa: E402
                            to_yaml, wait_until)
from fake_upstream import FakeUpstream  # noqa: E402

DNSMASQ = "/usr/sbin/dnsmasq"
REFRESH_FAILED = "DNS refresh failed; keeping the last endpoints"
SRV_NAME = "_http._tcp.svc.test"
SRV_TARGET = "t.svc.test"
A_NAME = "a.svc.test"
SRV_SVC, A_SVC = "r", "s"
TTL = 1                          # --local-ttl: the TTL of every local answer
NEGATIVE_TTL = 0.3               # discovery.dns.negative_ttl in most tests
PICKUP_BOUND = TTL + 1.5         # a changed record reaches the request path within this
# The root zone's KSK-2017 DS: any trust anchor works; validation of the unsigned
# forwarded answers fails either way, and dnsmasq answers SERVFAIL.
TRUST_ANCHOR = "--trust-anchor=.,20326,8,2,E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"

T_A, T_SRV = 1, 33
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


# --------------------------------------------------------------------------------------
# a tiny DNS client (to check what dnsmasq serves before blaming hawser)

def _skip_name(data, off):
    while True:
        n = data[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += n + 1


def dns_query(port, name, qtype, timeout=1.0):
    """One UDP query to 127.0.0.1:port -> (rcode, [(type, ttl, value)]); value is the
    address for A, (priority, weight, port) for SRV."""
    qid = random.randint(0, 0xFFFF)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        while True:
            data, _ = s.recvfrom(65535)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                break
    finally:
        s.close()
    rcode = data[3] & 0x0F
    qd, an = struct.unpack(">HH", data[4:8])
    off = 12
    for _ in range(qd):
        off = _skip_name(data, off) + 4
    answers = []
    for _ in range(an):
        off = _skip_name(data, off)
        rtype, _rclass, ttl, rdlen = struct.unpack(">HHIH", data[off:off + 10])
        off += 10
        rdata = data[off:off + rdlen]
        off += rdlen
        if rtype == T_A:
            value = socket.inet_ntoa(rdata)
        elif rtype == T_SRV:
            value = struct.unpack(">HHH", rdata[:6])
        else:
            value = rdata
        answers.append((rtype, ttl, value))
    return rcode, answers


def _bindable(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_dns_port():
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if _bindable(port):
            return port
    raise AssertionError("no port free for both UDP and TCP on 127.0.0.1")


class Dnsmasq:
    """One dnsmasq on 127.0.0.1:port (kept across restarts).  start(args) (re)starts it with
    the loopback-only arguments plus `args`; SIGHUP re-reads --addn-hosts files."""

    def __init__(self, tmp, name="dnsmasq"):
        self.tmp = tmp
        self.name = name
        self.port = free_dns_port()
        self.proc = None
        self.starts = 0
        self.log_path = None

    def start(self, args, timeout=15.0):
        self.stop()
        self.starts += 1
        self.log_path = os.path.join(self.tmp, "%s-%d.log" % (self.name, self.starts))
        cmd = [DNSMASQ, "--no-daemon", "--port=%d" % self.port, "--listen-address=127.0.0.1",
               "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
               "--log-queries", "--log-facility=" + self.log_path]
        if os.getuid() == 0:
            cmd.append("--user=" + pwd.getpwuid(0).pw_name)   # keep access to the 0700 temp dir
        cmd += list(args)
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, start_new_session=True)
            up = self._wait_answering(deadline)
            if up:
                return self
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self.stop()
            # The previous instance's port may take a moment to be released.
            if "in use" in err and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise AssertionError("%s did not start on port %d: %s\n%s" % (self.name, self.port, err, self.log()))

    def _wait_answering(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                dns_query(self.port, "probe.svc.test", T_A, timeout=0.3)
                return True
            except OSError:
                time.sleep(0.03)
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                # SIGKILL first: it ends a stopped dnsmasq without letting it run.  SIGCONT first
                # let a frozen dnsmasq answer the queries it had queued (NXDOMAIN, in FailureTest)
                # before dying, so a round of the "timeout" phase ended as `nxdomain`.
                self.proc.send_signal(signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def queries(self, name, qtype):
        """Queries dnsmasq logged for `name` of `qtype` ('A', 'SRV') in its current run."""
        pat = re.compile(r"query\[%s\] %s from " % (qtype, re.escape(name)))
        return len(pat.findall(self.log()))


def write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def srv_args(port, target_addr="127.0.0.1"):
    return ["--srv-host=%s,%s,%d,0,10" % (SRV_NAME, SRV_TARGET, port),
            "--host-record=%s,%s" % (SRV_TARGET, target_addr)]


# --------------------------------------------------------------------------------------

class DnsTestBase(unittest.TestCase):

    def setUp(self):
        if not os.access(DNSMASQ, os.X_OK):
            self.fail("%s is missing (apt-get install dnsmasq-base): the DNS tests need a real server" % DNSMASQ)
        self.tmp = tempfile.mkdtemp(prefix="hawser-dns-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.hosts = os.path.join(self.tmp, "hosts")

    # --- processes ---
    def dnsmasq(self, name="dnsmasq"):
        d = Dnsmasq(self.tmp, name)
        self.addCleanup(d.stop)
        return d

    def fake(self, name, host="127.0.0.1", port=0):
        f = FakeUpstream(name, host=host, port=port)
        f.start()
        self.addCleanup(f.stop)
        return f

    def fake_pair(self, names):
        """Two fakes on the same port, one on 127.0.0.1 and one on 127.0.0.2 (an A record
        change moves a service with a configured port from one to the other)."""
        for _ in range(20):
            f1 = self.fake(names[0])
            try:
                f2 = self.fake(names[1], host="127.0.0.2", port=f1.port)
            except OSError:
                f1.stop()
                continue
            return f1, f2
        raise AssertionError("no port free on both 127.0.0.1 and 127.0.0.2")

    @staticmethod
    def sidecar_config(dns_port, services, **dns):
        opts = {"servers": ["127.0.0.1:%d" % dns_port], "min_ttl": "200ms", "refresh": "30s",
                "negative_ttl": "%dms" % int(NEGATIVE_TTL * 1000), "timeout": "500ms"}
        opts.update(dns)
        svcs = []
        for name, disc in services:
            svcs.append({"name": name, "alias": "127.0.0.1:0", "discovery": {"dns": disc}})
        return base_config(discovery={"dns": opts}, outbound={"services": svcs})

    def sidecar(self, dns_port, services, wait_ready=True, **dns):
        cfg = self.sidecar_config(dns_port, services, **dns)
        h = Hawser(cfg, name="dns-sidecar")
        self.addCleanup(h.stop)
        h.start(wait_ready=wait_ready)
        return h

    # --- observations ---
    @staticmethod
    def errors(h):
        return h.metric("hawser_discovery_errors_total")

    @staticmethod
    def gauge(h, svc):
        return h.metric("hawser_endpoints", service=svc, state="healthy")

    @staticmethod
    def ready_status(h):
        return h.admin_get("/ready", timeout=2)[0]

    @staticmethod
    def cluster_addresses(h, svc):
        doc = h.admin_json("/clusters")
        return sorted(e["address"] for c in doc["clusters"] if c["name"] == svc for e in c["endpoints"])

    @staticmethod
    def failures(h, svc=None, since=0):
        lines = [d for d in h.log_lines() if d.get("msg") == REFRESH_FAILED]
        lines = lines[since:]
        return [d for d in lines if svc is None or d.get("service") == svc]

    def probe(self, h, svc, n=6):
        out = []
        for i in range(n):
            st, hdrs, _ = http_request(h.listener(svc), "GET", "/probe?%d" % i, timeout=5)
            out.append((st, hdrs.get("x-fake-instance")))
        return out

    def wait_instances(self, h, svc, want, timeout=5.0):
        """Until a round of probes to `svc` hits exactly the instances `want`; returns the time."""
        last = {}

        def check():
            got = self.probe(h, svc)
            last["got"] = got
            return all(st == 200 for st, _ in got) and {i for _, i in got} == set(want)
        wait_until(check, timeout=timeout, interval=0.05,
                   message="%s routed to exactly %s (last probes %r; errors %r)" % (
                       svc, sorted(want), last, [(d.get("service"), d.get("kind")) for d in self.failures(h)]))
        return time.monotonic()

    def assert_dns(self, port, name, qtype, rcode, values=None, timeout=3.0):
        """Until dnsmasq answers `name` with `rcode` (and exactly `values`): dnsmasq handles
        SIGHUP asynchronously, so a change is "made" once dnsmasq serves it."""
        last = {}

        def check():
            got_rcode, answers = dns_query(port, name, qtype)
            last["got"] = (got_rcode, answers)
            if got_rcode != rcode:
                return None
            if values is not None and sorted(v for t, _, v in answers if t == qtype) != sorted(values):
                return None
            return answers or [None]
        answers = wait_until(check, timeout=timeout, interval=0.02,
                             message="dnsmasq answering %s with rcode %d %r (last %r)" % (name, rcode, values, last))
        return [a for a in answers if a is not None]


# ======================================================================================
# 1. routing and record changes

class RecordChangeTest(DnsTestBase):

    def test_srv_and_a_route_and_changes_follow_ttl(self):
        r1, r2 = self.fake("r1"), self.fake("r2")
        s1, s2 = self.fake_pair(("s1", "s2"))
        write_file(self.hosts, "127.0.0.1 %s\n" % A_NAME)
        dns = self.dnsmasq()
        common = ["--addn-hosts=" + self.hosts, "--local=/svc.test/", "--local-ttl=%d" % TTL]
        dns.start(srv_args(r1.port) + common)
        srv_answer = self.assert_dns(dns.port, SRV_NAME, T_SRV, NOERROR, [(0, 10, r1.port)])
        a_answer = self.assert_dns(dns.port, A_NAME, T_A, NOERROR, ["127.0.0.1"])
        self.assertEqual({ttl for _, ttl, _ in srv_answer + a_answer}, {TTL})

        h = self.sidecar(dns.port, [(SRV_SVC, {"srv": SRV_NAME}), (A_SVC, {"a": A_NAME, "port": s1.port})])
        self.wait_instances(h, SRV_SVC, {"r1"})
        self.wait_instances(h, A_SVC, {"s1"})
        self.assertEqual(self.cluster_addresses(h, SRV_SVC), [r1.address])
        self.assertEqual(self.cluster_addresses(h, A_SVC), [s1.address])
        self.assertEqual((self.gauge(h, SRV_SVC), self.gauge(h, A_SVC)), (1, 1))
        self.assertEqual(self.ready_status(h), 200)
        updated = [d for d in h.log_lines() if d.get("msg") == "endpoints updated"]
        self.assertEqual(sorted((d.get("service"), d.get("count"), d.get("source")) for d in updated),
                         [(SRV_SVC, 1, "dns"), (A_SVC, 1, "dns")])

        # Background re-resolution at the TTL (1 s; min_ttl 200 ms, refresh 30 s), not per
        # request: over 4 s with 200 requests, about 4 queries per name.
        q0 = {k: dns.queries(*k) for k in ((SRV_NAME, "SRV"), (SRV_TARGET, "A"), (A_NAME, "A"))}
        t0 = time.monotonic()
        n = 0
        while time.monotonic() < t0 + 4.0:
            self.assertEqual(self.probe(h, SRV_SVC, 5) + self.probe(h, A_SVC, 5),
                             [(200, "r1")] * 5 + [(200, "s1")] * 5)
            n += 10
        self.assertGreaterEqual(n, 100)
        rates = {k: dns.queries(*k) - q0[k] for k in q0}
        for k, v in rates.items():
            self.assertTrue(2 <= v <= 6, "queries for %s %s in 4 s at TTL 1 s: %d (all: %r)" % (k[0], k[1], v, rates))
        self.assertEqual(self.errors(h), 0)

        loops = {svc: LoadLoop(h.listener(svc), pause=0.005).start() for svc in (SRV_SVC, A_SVC)}
        try:
            # A record change (hosts file + SIGHUP, no server downtime): 127.0.0.1 -> 127.0.0.2.
            write_file(self.hosts, "127.0.0.2 %s\n" % A_NAME)
            dns.signal(signal.SIGHUP)
            t_a = time.monotonic()
            self.assert_dns(dns.port, A_NAME, T_A, NOERROR, ["127.0.0.2"])
            first = wait_until(lambda: next((r for r in loops[A_SVC].snapshot() if r["instance"] == "s2"), None),
                               timeout=5, message="first request to s2 after the A record changed")
            self.assertLessEqual(first["end"] - t_a, PICKUP_BOUND,
                                 "A change picked up %.2fs after it was made (TTL %ds)" % (first["end"] - t_a, TTL))
            t_a_first = first["end"]
            time.sleep(1.0)
            self.assertEqual(self.cluster_addresses(h, A_SVC), [s2.address])
            self.assertEqual(self.errors(h), 0)

            # SRV port change (dnsmasq restarted with the new record): r1 -> r2.
            dns.start(srv_args(r2.port) + common)
            t_srv = time.monotonic()
            self.assert_dns(dns.port, SRV_NAME, T_SRV, NOERROR, [(0, 10, r2.port)])
            first = wait_until(lambda: next((r for r in loops[SRV_SVC].snapshot() if r["instance"] == "r2"), None),
                               timeout=5, message="first request to r2 after the SRV record changed")
            self.assertLessEqual(first["end"] - t_srv, PICKUP_BOUND + NEGATIVE_TTL,
                                 "SRV change picked up %.2fs after it was made" % (first["end"] - t_srv))
            t_srv_first = first["end"]
            time.sleep(1.0)
        finally:
            results = {svc: loop.stop() for svc, loop in loops.items()}

        for svc, res in results.items():
            self.assertEqual([r for r in res if not r["ok"]], [], "%s: failed requests" % svc)
            self.assertGreater(len(res), 100)
        # Once the first request reached the new instance, the old one gets nothing more (a
        # 200 ms margin for the other worker to install the same set).
        self.assertEqual({r["instance"] for r in results[A_SVC] if r["start"] > t_a_first + 0.2}, {"s2"})
        self.assertEqual({r["instance"] for r in results[SRV_SVC] if r["start"] > t_srv_first + 0.2}, {"r2"})
        self.assertEqual(self.cluster_addresses(h, SRV_SVC), [r2.address])
        self.assertEqual(self.cluster_addresses(h, A_SVC), [s2.address])
        self.assertEqual((self.gauge(h, SRV_SVC), self.gauge(h, A_SVC)), (1, 1))
        # The restart gap may cost a failed round (connection refused); nothing else may fail.
        self.assertLessEqual({d.get("kind") for d in self.failures(h)}, {"connection", "timeout"})
        self.assertEqual(self.errors(h), len(self.failures(h)))
        self.assertEqual(self.ready_status(h), 200)


# ======================================================================================
# 2. TTL clamps

class TtlClampTest(DnsTestBase):

    def test_refresh_caps_a_long_ttl(self):
        s1, s2 = self.fake_pair(("s1", "s2"))
        write_file(self.hosts, "127.0.0.1 %s\n" % A_NAME)
        dns = self.dnsmasq()
        dns.start(["--addn-hosts=" + self.hosts, "--local=/svc.test/", "--local-ttl=3600"])
        self.assertEqual([ttl for _, ttl, _ in self.assert_dns(dns.port, A_NAME, T_A, NOERROR, ["127.0.0.1"])],
                         [3600])
        h = self.sidecar(dns.port, [(A_SVC, {"a": A_NAME, "port": s1.port})], min_ttl="200ms", refresh="1s")
        self.wait_instances(h, A_SVC, {"s1"})
        write_file(self.hosts, "127.0.0.2 %s\n" % A_NAME)
        dns.signal(signal.SIGHUP)
        t0 = time.monotonic()
        t1 = self.wait_instances(h, A_SVC, {"s2"}, timeout=5)
        self.assertLessEqual(t1 - t0, 1.0 + 1.2, "change under TTL 3600 s with refresh 1 s took %.2fs" % (t1 - t0))
        self.assertEqual(self.errors(h), 0)

    def test_min_ttl_slows_a_short_ttl(self):
        s1 = self.fake("s1")
        write_file(self.hosts, "127.0.0.1 %s\n" % A_NAME)
        dns = self.dnsmasq()
        dns.start(["--addn-hosts=" + self.hosts, "--local=/svc.test/", "--local-ttl=1"])
        h = self.sidecar(dns.port, [(A_SVC, {"a": A_NAME, "port": s1.port})], min_ttl="2500ms", refresh="30s")
        self.wait_instances(h, A_SVC, {"s1"})
        q0 = dns.queries(A_NAME, "A")
        time.sleep(5.5)
        q = dns.queries(A_NAME, "A") - q0
        self.assertTrue(1 <= q <= 3, "A queries in 5.5 s with TTL 1 s and min_ttl 2.5 s: %d" % q)
        self.assertEqual(self.probe(h, A_SVC, 3), [(200, "s1")] * 3)
        self.assertEqual(self.errors(h), 0)


# ======================================================================================
# 3. failures keep the last-known set

class FailureTest(DnsTestBase):

    def test_nxdomain_servfail_timeout_and_dead_server_keep_last_set(self):
        r1, r2 = self.fake("r1"), self.fake("r2")
        s1, s2 = self.fake_pair(("s1", "s2"))
        write_file(self.hosts, "127.0.0.1 %s\n" % A_NAME)
        dns = self.dnsmasq()
        local = ["--local=/svc.test/", "--local-ttl=%d" % TTL]
        dns.start(srv_args(r1.port) + ["--addn-hosts=" + self.hosts] + local)
        h = self.sidecar(dns.port, [(SRV_SVC, {"srv": SRV_NAME}), (A_SVC, {"a": A_NAME, "port": s1.port})])
        self.wait_instances(h, SRV_SVC, {"r1"})
        self.wait_instances(h, A_SVC, {"s1"})
        self.assertEqual(self.errors(h), 0)

        loops = {svc: LoadLoop(h.listener(svc), pause=0.005).start() for svc in (SRV_SVC, A_SVC)}
        ready = []
        phases = {}

        def hold(seconds, samples=10):
            # At least `seconds` and at least `samples` probes: on a loaded machine each probe
            # may take longer than the 0.1 s pause.
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end or n < samples:
                ready.append(self.ready_status(h))
                n += 1
                time.sleep(0.1)

        def wait_failures(svc, kind, since, n=2, timeout=6):
            return wait_until(lambda: len([d for d in self.failures(h, svc, since) if d.get("kind") == kind]) >= n,
                              timeout=timeout, interval=0.05,
                              message="%d %r failures for %s (got %r)" % (
                                  n, kind, svc, [(d.get("service"), d.get("kind")) for d in self.failures(h)]))

        def kinds(svc, since, until=None):
            return {d.get("kind") for d in self.failures(h, svc)[:until][since:]}

        def first_of(svc, kind, since):
            """Index of the first `kind` failure of `svc` at or after `since`: the start of a
            phase's window.  A round in flight when the test changes dnsmasq ends with what the
            previous dnsmasq said (e.g. target_unresolved when the SRV answer came from the old
            instance and the target lookup hit the restart gap); the window starts with the first
            round that saw the new one."""
            for i, d in enumerate(self.failures(h, svc)[since:]):
                if d.get("kind") == kind:
                    return since + i
            raise AssertionError("no %r failure for %s" % (kind, svc))

        def check_kept():
            self.assertEqual(self.cluster_addresses(h, SRV_SVC), [r1.address])
            self.assertEqual(self.cluster_addresses(h, A_SVC), [s1.address])
            self.assertEqual((self.gauge(h, SRV_SVC), self.gauge(h, A_SVC)), (1, 1))
            self.assertEqual(self.ready_status(h), 200)
            self.assertTrue(h.alive())

        try:
            time.sleep(0.3)
            # --- NXDOMAIN for the A name (hosts file changed + SIGHUP: no downtime) ---
            f0 = {svc: len(self.failures(h, svc)) for svc in (SRV_SVC, A_SVC)}
            e0 = self.errors(h)
            write_file(self.hosts, "127.0.0.9 other.svc.test\n")
            dns.signal(signal.SIGHUP)
            self.assert_dns(dns.port, A_NAME, T_A, NXDOMAIN)
            wait_failures(A_SVC, "nxdomain", f0[A_SVC], n=3)
            hold(1.0)
            self.assertEqual(kinds(A_SVC, f0[A_SVC]), {"nxdomain"})
            self.assertEqual(self.failures(h, SRV_SVC)[f0[SRV_SVC]:], [], "the SRV service was not touched")
            self.assertEqual(self.errors(h) - e0, len(self.failures(h)) - sum(f0.values()))
            check_kept()

            # --- NXDOMAIN for the SRV name too (dnsmasq restarted without any record) ---
            f1 = {svc: len(self.failures(h, svc)) for svc in (SRV_SVC, A_SVC)}
            dns.start(["--addn-hosts=" + self.hosts] + local)
            self.assert_dns(dns.port, SRV_NAME, T_SRV, NXDOMAIN)
            wait_failures(SRV_SVC, "nxdomain", f1[SRV_SVC], n=3)
            wait_failures(A_SVC, "nxdomain", f1[A_SVC], n=1)
            hold(1.0)
            for svc in (SRV_SVC, A_SVC):   # the restart gap may add a connection error
                self.assertLessEqual(kinds(svc, first_of(svc, "nxdomain", f1[svc])), {"nxdomain", "connection", "timeout"})
            check_kept()

            # --- SERVFAIL: dnsmasq forwards to an upstream dnsmasq (serving *other* records,
            # which must not be taken) and fails DNSSEC validation of its unsigned answers ---
            upstream = self.dnsmasq("upstream")
            upstream.start(srv_args(r2.port, "127.0.0.1") + ["--host-record=%s,127.0.0.2" % A_NAME] + local)
            self.assert_dns(upstream.port, SRV_NAME, T_SRV, NOERROR, [(0, 10, r2.port)])
            f2 = {svc: len(self.failures(h, svc)) for svc in (SRV_SVC, A_SVC)}
            dns.start(["--dnssec", TRUST_ANCHOR, "--dnssec-check-unsigned",
                       "--server=127.0.0.1#%d" % upstream.port])
            self.assert_dns(dns.port, SRV_NAME, T_SRV, SERVFAIL)
            self.assert_dns(dns.port, A_NAME, T_A, SERVFAIL)
            for svc in (SRV_SVC, A_SVC):
                wait_failures(svc, "servfail", f2[svc], n=3)
            hold(1.0)
            for svc in (SRV_SVC, A_SVC):
                self.assertLessEqual(kinds(svc, first_of(svc, "servfail", f2[svc])), {"servfail", "connection", "timeout"})
            check_kept()

            # --- timeouts: dnsmasq frozen (SIGSTOP) ---
            dns.start(srv_args(r1.port) + ["--addn-hosts=" + self.hosts] + local)   # NXDOMAIN for A again
            f3 = {svc: len(self.failures(h, svc)) for svc in (SRV_SVC, A_SVC)}
            dns.signal(signal.SIGSTOP)
            t_stop = time.monotonic()
            for svc in (SRV_SVC, A_SVC):
                wait_failures(svc, "timeout", f3[svc], n=2, timeout=8)
            hold(1.0)
            phases["stopped"] = time.monotonic() - t_stop
            check_kept()

            # --- dead server (killed while frozen, never thawed: see Dnsmasq.stop) ---
            dns.stop()
            f4 = {svc: len(self.failures(h, svc)) for svc in (SRV_SVC, A_SVC)}
            for svc in (SRV_SVC, A_SVC):
                wait_until(lambda: len(self.failures(h, svc, f4[svc])) >= 3, timeout=8,
                           message="failures for %s with dnsmasq killed" % svc)
                self.assertLessEqual(kinds(svc, f4[svc]), {"connection", "timeout"})
            hold(1.0)
            check_kept()

            # --- dnsmasq back, with changed records: picked up ---
            e_before = self.errors(h)
            self.assertEqual(e_before, len(self.failures(h)))
            write_file(self.hosts, "127.0.0.2 %s\n" % A_NAME)
            t_back = time.monotonic()      # before: hawser may see the answers as soon as dnsmasq is up
            dns.start(srv_args(r2.port) + ["--addn-hosts=" + self.hosts] + local)
            t_r = self.wait_instances(h, SRV_SVC, {"r2"}, timeout=6)
            t_s = self.wait_instances(h, A_SVC, {"s2"}, timeout=6)
            self.assertLessEqual(max(t_r, t_s) - t_back, NEGATIVE_TTL + 0.5 + PICKUP_BOUND)
            time.sleep(0.5)
            e_after = self.errors(h)
            time.sleep(2.0)
            self.assertEqual(self.errors(h), e_after, "errors still counted after dnsmasq returned: %r" % [
                (d.get("service"), d.get("kind")) for d in self.failures(h)][-5:])
        finally:
            results = {svc: loop.stop() for svc, loop in loops.items()}

        self.assertEqual(set(ready), {200}, "/ready during the failures: %r" % sorted(set(ready)))
        self.assertGreater(len(ready), 40)
        for svc, want_old in ((SRV_SVC, "r1"), (A_SVC, "s1")):
            res = results[svc]
            self.assertEqual([r for r in res if not r["ok"]][:5], [], "%s: failed requests" % svc)
            before_back = {r["instance"] for r in res if r["end"] < t_back}
            self.assertEqual(before_back, {want_old}, "%s: instances while DNS failed (first other: %r, t_back %.3f)" % (
                svc, next((r for r in res if r["instance"] != want_old), None), t_back))
            self.assertGreater(len([r for r in res if r["end"] < t_back]), 300)
        self.assertEqual(self.cluster_addresses(h, SRV_SVC), [r2.address])
        self.assertEqual(self.cluster_addresses(h, A_SVC), [s2.address])
        self.assertEqual(self.ready_status(h), 200)
        self.assertGreaterEqual(self.errors(h), 20)


# ======================================================================================
# 4. readiness waits for the first answer

class ReadinessTest(DnsTestBase):

    def test_not_ready_until_first_answer(self):
        s1 = self.fake("s1")
        write_file(self.hosts, "127.0.0.9 other.svc.test\n")
        dns = self.dnsmasq()
        dns.start(["--addn-hosts=" + self.hosts, "--local=/svc.test/", "--local-ttl=1"])
        self.assert_dns(dns.port, A_NAME, T_A, NXDOMAIN)
        h = self.sidecar(dns.port, [(A_SVC, {"a": A_NAME, "port": s1.port})], wait_ready=False)

        def admin_known():
            if not h.alive():
                raise AssertionError("hawser exited: %s" % h._diag())
            with open(h.admin_path) as f:
                return f.read().strip()
        h.admin = tuple(wait_until(admin_known, timeout=10, message="admin address").rsplit(":", 1))
        h.admin = (h.admin[0], int(h.admin[1]))
        statuses = []
        t0 = time.monotonic()
        while time.monotonic() < t0 + 1.5:
            try:
                statuses.append(self.ready_status(h))
            except OSError as e:
                statuses.append(repr(e))
            time.sleep(0.1)
        self.assertEqual(set(statuses), {503}, "/ready while the name does not exist: %r" % statuses)
        self.assertGreaterEqual(self.errors(h), 3)
        self.assertEqual({d.get("kind") for d in self.failures(h)}, {"nxdomain"})
        st, hdrs, _ = http_request(h.listener(A_SVC), "GET", "/before-ready", timeout=5)
        self.assertEqual((st, hdrs.get("x-hawser-reason")), (503, "no-healthy-upstream"))

        write_file(self.hosts, "127.0.0.1 %s\n" % A_NAME)
        dns.signal(signal.SIGHUP)
        self.assert_dns(dns.port, A_NAME, T_A, NOERROR, ["127.0.0.1"])   # SIGHUP is handled asynchronously
        t_up = time.monotonic()
        wait_until(lambda: self.ready_status(h) == 200, timeout=NEGATIVE_TTL + 2.0, interval=0.05,
                   message="/ready 200 after the record appeared")
        self.assertLess(time.monotonic() - t_up, NEGATIVE_TTL + 1.0)
        self.assertEqual(self.probe(h, A_SVC, 5), [(200, "s1")] * 5)
        self.assertEqual(self.gauge(h, A_SVC), 1)



# ======================================================================================
# 5. zero durations

class ZeroDurationTest(DnsTestBase):

    def test_check_config_refuses_zero_min_ttl_and_negative_ttl(self):
        for key in ("min_ttl", "negative_ttl"):
            cfg = self.sidecar_config(53, [(A_SVC, {"a": A_NAME, "port": 8080})], **{key: "0s"})
            path = os.path.join(self.tmp, "zero-%s.yaml" % key)
            write_file(path, to_yaml(plaintext_defaults(cfg)) + "\n")
            rc, err = check_config(path)
            # `hawser proxy` refuses this config at startup ("dns: min_ttl, max_ttl,
            # negative_ttl and timeout must be positive"); check-config must say so too.
            self.assertNotEqual(rc, 0, "check-config accepted discovery.dns.%s: 0s (stderr %r)" % (key, err))
            self.assertIn(key, err)

    def test_reload_to_zero_negative_ttl_keeps_lookups_running(self):
        s1 = self.fake("s1")
        write_file(self.hosts, "127.0.0.1 %s\n" % A_NAME)
        dns = self.dnsmasq()
        dns.start(["--addn-hosts=" + self.hosts, "--local=/svc.test/", "--local-ttl=1"])
        services = [(A_SVC, {"a": A_NAME, "port": s1.port})]
        h = self.sidecar(dns.port, services)
        self.wait_instances(h, A_SVC, {"s1"})
        h.write_config(self.sidecar_config(dns.port, services, negative_ttl="0s"))
        h.sighup()
        h.wait_for_log(lambda d: d.get("msg") in ("configuration reload rejected; the previous configuration keeps serving",
                                                  "configuration reloaded"),
                       message="the reload's outcome")
        q0 = dns.queries(A_NAME, "A")
        time.sleep(3.0)
        q = dns.queries(A_NAME, "A") - q0
        self.assertGreaterEqual(q, 2, "A queries in the 3 s after a reload to negative_ttl: 0s (TTL 1 s): %d; log %r" % (
            q, [d.get("msg") for d in h.log_lines()][-6:]))
        self.assertEqual(self.probe(h, A_SVC, 3), [(200, "s1")] * 3)


if __name__ == "__main__":
    unittest.main()
