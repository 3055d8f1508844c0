"""Admin hardening (issue 11): what a web page could make a browser send is refused (403 and
hawser_admin_refused_total{reason}), and the admin accept loop backs off while the process is out
of file descriptors instead of spinning."""

import os
import resource
import socket
import time
import unittest

import hawser_harness as hh

ENV = {}


def setUpModule():
    h = hh.Hawser(hh.base_config(workers=1, admin={"address": "127.0.0.1:0",
                                                   "allowed_hosts": ["hawser-admin.internal", "10.1.2.3"]}),
                  name="admin")
    unittest.addModuleCleanup(h.stop)
    h.start()
    ENV["h"] = h


def request(method, path, headers=(), body=b"", host=True, version="1.1"):
    """A raw request so that Host can be left out, repeated or set to anything."""
    h = ENV["h"]
    lines = ["%s %s HTTP/%s" % (method, path, version)]
    if host is True:
        lines.append("Host: %s" % hh.addr_str(h.admin))
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    lines.append("Content-Length: %d" % len(body))
    r, _ = hh.raw_exchange(h.admin, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert r is not None, "no response"
    return r


def refused(reason):
    return ENV["h"].metric("hawser_admin_refused_total", reason=reason)


class Refusals(unittest.TestCase):
    def assertRefused(self, r, reason, status=403):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("content-type"), "text/plain")
        self.assertIn(b"forbidden", r.body)

    def test_plain_requests_work(self):
        self.assertEqual(request("GET", "/ready").status, 200)
        self.assertEqual(request("GET", "/config_dump", headers=[("Sec-Fetch-Site", "none")]).status, 200)
        self.assertEqual(request("GET", "/ready", headers=[("Sec-Fetch-Site", "same-origin")]).status, 200)
        for host in ("localhost", "LOCALHOST:9901", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:9901",
                     "hawser-admin.internal", "Hawser-Admin.Internal:80", "10.1.2.3:9901"):
            with self.subTest(host=host):
                self.assertEqual(request("GET", "/ready", headers=[("Host", host)], host=False).status, 200)

    def test_http10_without_host_is_served(self):
        self.assertEqual(request("GET", "/ready", host=False, version="1.0").status, 200)

    def test_http11_without_host_is_400(self):
        before = refused("missing-host")
        self.assertRefused(request("GET", "/ready", host=False), "missing-host", status=400)
        self.assertEqual(refused("missing-host"), before + 1)

    def test_foreign_host_is_refused(self):
        # DNS rebinding: evil.example resolves to 127.0.0.1; the browser sends Host: evil.example.
        for host in ("evil.example", "evil.example:9901", "localhost.evil.example", "127.0.0.2", "[::2]"):
            with self.subTest(host=host):
                before = refused("host")
                r = request("GET", "/config_dump", headers=[("Host", host)], host=False)
                self.assertRefused(r, "host")
                self.assertIn(b"admin.allowed_hosts", r.body)
                self.assertNotIn(b"{", r.body)
                self.assertEqual(refused("host"), before + 1)

    def test_malformed_or_repeated_host_is_400(self):
        for headers in ([("Host", "a b")], [("Host", "localhost:x")], [("Host", "localhost"), ("Host", "localhost")]):
            with self.subTest(headers=headers):
                self.assertRefused(request("GET", "/ready", headers=headers, host=False), "host", status=400)

    def test_origin_is_refused(self):
        before = refused("origin")
        for method, path in (("GET", "/certs"), ("POST", "/drain")):
            r = request(method, path, headers=[("Origin", "http://127.0.0.1:9901"), ("X-Hawser-Admin", "1")])
            self.assertRefused(r, "origin")
        self.assertEqual(refused("origin"), before + 2)
        self.assertEqual(ENV["h"].admin_json("/server_info")["state"], "LIVE")

    def test_cross_site_fetch_is_refused(self):
        before = refused("cross-site")
        for site in ("cross-site", "same-site"):
            self.assertRefused(request("GET", "/config_dump", headers=[("Sec-Fetch-Site", site)]), "cross-site")
        self.assertEqual(refused("cross-site"), before + 2)

    def test_form_post_is_refused(self):
        # What an HTML form can send: no custom header, a CORS-safelisted Content-Type.
        before = refused("post-header")
        for ctype in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"):
            r = request("POST", "/drain", headers=[("Content-Type", ctype)], body=b"a=b")
            self.assertRefused(r, "post-header")
            self.assertIn(b"X-Hawser-Admin", r.body)
        self.assertEqual(refused("post-header"), before + 3)
        self.assertEqual(ENV["h"].admin_json("/server_info")["state"], "LIVE")

    def test_post_with_header_is_served(self):
        # /reload of an unchanged file succeeds and leaves the sidecar LIVE.
        st, _, body = ENV["h"].admin_post("/reload")
        self.assertEqual(st, 200, body)

    def test_config_dump_shows_allowed_hosts(self):
        self.assertEqual(ENV["h"].admin_json("/config_dump")["admin"]["allowed_hosts"],
                         ["hawser-admin.internal", "10.1.2.3"])


class AllowedHostsValidation(unittest.TestCase):
    def test_bad_entries_are_config_errors(self):
        for entry, problem in (("*.example", "wildcards"), ("admin:9901", "has a port"), ("", "must not be empty"),
                               ("a..b", "invalid host"), ("-x.example", "invalid host")):
            with self.subTest(entry=entry):
                h = hh.Hawser(hh.base_config(admin={"address": "127.0.0.1:0", "allowed_hosts": [entry]}),
                              name="allowed-hosts")
                try:
                    rc, err = hh.check_config(h.config_path)
                    self.assertEqual(rc, 2, err)
                    self.assertIn("admin.allowed_hosts[0]", err)
                    self.assertIn(problem, err)
                finally:
                    h.stop()


def main_thread_cpu_seconds(pid):
    with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescriptorExhaustion(unittest.TestCase):
    LIMIT = 64

    def test_accept_backs_off_and_recovers(self):
        up = hh.start_fake(self, "app")

        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.LIMIT, self.LIMIT))

        h = hh.Hawser(hh.base_config(
            workers=1, limits={"header_timeout": "60s"},
            inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http"}]),
            name="fd-starved", preexec_fn=low_fd_limit)
        self.addCleanup(h.stop)
        h.start()
        listener = h.listener("app")
        pid = h.proc.pid
        fd_dir = "/proc/%d/fd" % pid
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        # Idle connections until every descriptor hawser may have is in use; the rest wait in
        # the listener's backlog.
        for _ in range(self.LIMIT + 20):
            idle.append(socket.create_connection(listener, timeout=5))
        hh.wait_until(lambda: len(os.listdir(fd_dir)) >= self.LIMIT, timeout=10,
                      message="hawser to run out of descriptors")
        # A connection waiting on the admin listener: its acceptor is readable and accept fails.
        admin = socket.create_connection(h.admin, timeout=5)
        self.addCleanup(admin.close)
        admin.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        cpu0, t0 = main_thread_cpu_seconds(pid), time.monotonic()
        admin.settimeout(2.0)
        try:
            early = admin.recv(1)
        except socket.timeout:
            early = None
        cpu1, t1 = main_thread_cpu_seconds(pid), time.monotonic()
        self.assertIsNone(early, "admin answered while starved: the test proves nothing")
        self.assertGreaterEqual(len(os.listdir(fd_dir)), self.LIMIT, "no longer starved while measuring")
        share = (cpu1 - cpu0) / (t1 - t0)
        self.assertLess(share, 0.20, "main thread used %.0f%% of a core while out of descriptors" % (share * 100))

        for s in idle:
            s.close()
        idle.clear()
        # The waiting admin connection is accepted and answered, and new ones work.
        admin.settimeout(10)
        got = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in got and time.monotonic() < deadline:
            d = admin.recv(4096)
            if not d:
                break
            got += d
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
        hh.wait_until(lambda: h.admin_get("/ready", timeout=2)[0] == 200, timeout=10, message="/ready 200 again")
        # Retried about ten times a second per listener while starved (a spin would be thousands),
        # and logged once per episode, not per retry.
        errors = h.metric("hawser_accept_errors_total")
        self.assertGreaterEqual(errors, 10)
        self.assertLess(errors, 200)
        failed = [d for d in h.log_lines() if d.get("msg", "").startswith("accept failed")]
        by_listener = {}
        for d in failed:
            by_listener[d.get("listener")] = by_listener.get(d.get("listener"), 0) + 1
        self.assertEqual(by_listener.get("admin"), 1, failed)
        self.assertTrue(all(n <= 2 for n in by_listener.values()), "logged per retry, not per episode: %r" % failed)
        h.wait_for_log(lambda d: d.get("msg") == "accepting again" and d.get("listener") == "admin",
                        message="admin accepting again")


if __name__ == "__main__":
    unittest.main()
