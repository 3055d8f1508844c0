"""Every exit of the request path is completed exactly once (issue 11, acceptance 8),
and a POST is never re-sent after it may have reached the upstream (acceptance 9).

Acceptance 8.  One hawser, one worker, plaintext, a raw upstream per service.  For each
local-reply reason (dataplane/local_reply.cpp) and for upstream reset mid-response,
client disconnect mid-body, per-try and request timeouts: the exchange yields exactly
one access-log line and exactly one hawser_requests_total increment (of the status
class the client saw), and the logged status is the status the client actually saw.

"Exactly one" is bounded by a sentinel: after the case's line has appeared, a plain
GET /sentinel/<id> is sent and its line awaited; with one worker every line of the
case is written before it.  When the client saw no response because it left, the
documented expectation is: status 0 in the log (no response was sent) and a reason
starting with "downstream" (the client side ended the exchange).

Acceptance 9.  The raw upstream closes a pooled keep-alive connection right after
reading a POST, with no response byte (script close-silent-once).  With the default
retry policy, and with a retry policy that retries resets but has
allow_non_idempotent: false (docs/resilience.md, policy/retry_policy.h), the upstream
sees that POST exactly once and the client gets 502/503.  With allow_non_idempotent:
true and `on: [reset]` the POST is re-sent and the client gets the second answer.
Every case first checks that the POST travelled on a reused pooled connection (else
it proves nothing).
"""

import http.client
import socket
import struct
import threading
import time
import unittest
import uuid

import hawser_harness as hh
from raw_upstream import RawUpstream

NS = "demo"
LIMITS = {"max_header_bytes": 4096, "max_headers": 20, "max_request_body_bytes": 4096, "header_timeout": "500ms"}
TIMEOUTS = {"connect": "1s", "request": "1500ms", "idle": "30s"}
ENV = {}


def refused_address():
    s = socket.socket()
    s.bind((hh.LOOPBACK, 0))
    return s, "%s:%d" % s.getsockname()


def setUpModule():
    ups = {n: RawUpstream(n).start() for n in ("app", "svc", "overflow", "pertry", "authz", "limited")}
    for u in ups.values():
        unittest.addModuleCleanup(u.stop)
    hold, refused = refused_address()
    unittest.addModuleCleanup(hold.close)

    def svc(name, endpoints, **extra):
        s = {"name": name, "alias": "127.0.0.1:0", "protocol": "http", "discovery": {"static": endpoints},
             "timeouts": dict(TIMEOUTS), "tls": {"mode": "disabled"}}
        s.update(extra)
        return s

    h = hh.Hawser(hh.base_config(
        node={"service": "exits", "namespace": NS}, workers=1, limits=dict(LIMITS),
        inbound=[
            {"name": "app", "listen": "127.0.0.1:0", "app": ups["app"].address, "protocol": "http",
             "timeouts": dict(TIMEOUTS), "tls": {"mode": "disabled"}},
            {"name": "authz", "listen": "127.0.0.1:0", "app": ups["authz"].address, "protocol": "http",
             "timeouts": dict(TIMEOUTS), "tls": {"mode": "permissive"},
             "authorization": {"allow": ["spiffe://demo/caller"]}},
            {"name": "limited", "listen": "127.0.0.1:0", "app": ups["limited"].address, "protocol": "http",
             "timeouts": dict(TIMEOUTS), "tls": {"mode": "disabled"}, "rate_limit": {"rps": 1, "burst": 1}},
        ],
        outbound={"http_proxy": "127.0.0.1:0", "passthrough": False, "services": [
            svc("svc", [ups["svc"].address]),
            svc("refused", [refused]),
            svc("overflow", [ups["overflow"].address], circuit_breaker={"max_requests": 1}),
            svc("pertry", [ups["pertry"].address],
                retry={"attempts": 2, "per_try_timeout": "300ms", "on": ["gateway-error"]},
                timeouts={"connect": "1s", "request": "5s", "idle": "30s"}),
            svc("empty", [ups["svc"].address], routes=[{"split": [{"subset": {"version": "none"}, "weight": 100}]}]),
        ]},
        telemetry={"access_log": {"path": "stdout"}},
        tls=_tls_for_permissive(),
    ), name="exits")
    unittest.addModuleCleanup(h.stop)
    h.start()
    ENV.update(h=h, ups=ups)


def _tls_for_permissive():
    """A permissive listener needs certificates; every other listener and service is
    plaintext (tls disabled explicitly, since a `tls` block is present)."""
    import os
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="hawser-exits-")
    unittest.addModuleCleanup(shutil.rmtree, tmp, True)
    c, ids = hh.make_certs(os.path.join(tmp, "pki"), namespace=NS, services=("exits",))
    ENV["pki"] = (c, ids)
    return hh.tls_block(*ids["exits"], c.ca_pem())


class ExitPaths(unittest.TestCase):
    maxDiff = None

    @property
    def h(self):
        return ENV["h"]

    def requests_total(self):
        m = self.h.metrics()
        total = {}
        for (n, ls), v in m.items():
            if n == "hawser_requests_total":
                cls = dict(ls).get("code_class", "?")
                total[cls] = total.get(cls, 0) + v
        return total

    def exchange(self, fn, path=None, client_status=None):
        """Run fn() -> the status the client saw (None: it saw no response).  Then check one
        log line (with `path` if given), one requests_total increment, matching statuses."""
        before_lines = hh.access_log_count(self.h)
        before = self.requests_total()
        seen = fn()

        def case_lines():
            lines = hh.access_lines_since(self.h, before_lines)
            if path is not None:
                lines = [d for d in lines if d.get("path") == path]
            return lines
        hh.wait_until(case_lines, timeout=4, message="an access-log line for this exit (path %r)" % path)
        sentinel = "/sentinel/%s" % uuid.uuid4().hex[:12]
        st, _, _ = hh.http_request(self.h.listener("app"), "GET", sentinel, headers={"Host": "app"})
        self.assertEqual(st, 200)
        hh.wait_until(lambda: [d for d in hh.access_lines_since(self.h, before_lines) if d.get("path") == sentinel],
                      timeout=3, message="the sentinel's access-log line")
        lines = [d for d in hh.access_lines_since(self.h, before_lines) if d.get("path") != sentinel]
        if path is not None:
            lines = [d for d in lines if d.get("path") == path]
        after = self.requests_total()
        self.assertEqual(len(lines), 1, "exactly one access-log line expected: %r" % lines)
        line = lines[0]
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
        delta["2xx"] = delta.get("2xx", 0) - 1   # the sentinel
        delta = {k: v for k, v in delta.items() if v}
        self.assertEqual(sum(delta.values()), 1, "exactly one hawser_requests_total increment expected: %r" % delta)
        if seen is None:
            self.assertEqual(line["status"], 0,
                             "the client saw no response: the log must say status 0, not %r" % line)
            self.assertTrue(str(line.get("reason", "")).startswith("downstream"), line)
        else:
            self.assertEqual(line["status"], seen, "logged %r, the client saw %d" % (line, seen))
            self.assertEqual(delta, {"%dxx" % (seen // 100): 1}, "counted in the wrong class")
        if client_status is not None:
            self.assertEqual(seen, client_status, "precondition: the client should have seen %r" % client_status)
        return line

    def raw(self, listener, data, timeout=5):
        addr = self.h.listener(listener) if isinstance(listener, str) else listener
        resp, _closed = hh.raw_exchange(addr, data, timeout=timeout)
        return resp

    def status_of(self, listener, data, reason):
        r = self.raw(listener, data)
        self.assertIsNotNone(r, "no response")
        self.assertEqual(r.header("x-hawser-reason"), reason, r)
        return r.status

    # ---- local replies ----
    def test_bad_request(self):
        self.exchange(lambda: self.status_of("app", b"THIS IS NOT HTTP\r\n\r\n", "bad-request"), client_status=400)

    def test_header_too_large(self):
        data = b"GET /htl HTTP/1.1\r\nHost: app\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"
        self.exchange(lambda: self.status_of("app", data, "header-too-large"), client_status=431)

    def test_too_many_headers(self):
        data = b"GET /tmh HTTP/1.1\r\nHost: app\r\n" + b"".join(b"X-N%d: v\r\n" % i for i in range(30)) + b"\r\n"
        self.exchange(lambda: self.status_of("app", data, "too-many-headers"), client_status=431)

    def test_header_timeout(self):
        def fn():
            with hh.RawConn(self.h.listener("app"), timeout=5) as c:
                c.send(b"GET /slow HTTP/1.1\r\nHost: app\r\n")
                try:
                    r = c.read_response(timeout=3)
                except (EOFError, ConnectionResetError):
                    r = None
                if r is None:
                    return None
                self.assertEqual(r.header("x-hawser-reason"), "header-timeout")
                return r.status
        self.exchange(fn, client_status=408)

    def test_body_too_large(self):
        data = b"POST /btl HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n"
        self.exchange(lambda: self.status_of("app", data, "body-too-large"), client_status=413)

    def test_chunked_body_too_large_mid_stream(self):
        path = "/btl-chunked/%s" % uuid.uuid4().hex[:8]

        def fn():
            with hh.RawConn(self.h.listener("app"), timeout=5) as c:
                c.send(b"POST %s HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode())
                try:
                    for _ in range(8):
                        c.send(b"400\r\n" + b"z" * 1024 + b"\r\n")
                    c.send(b"0\r\n\r\n")
                except OSError:
                    pass
                try:
                    r = c.read_response(timeout=3)
                except (EOFError, ConnectionResetError, OSError):
                    r = None
                return None if r is None else r.status
        line = self.exchange(fn, path=path)
        self.assertIn(line["status"], (413, 0), line)

    def test_no_route(self):
        data = b"GET http://no-such-service/x HTTP/1.1\r\nHost: no-such-service\r\n\r\n"
        self.exchange(lambda: self.status_of(self.h.listener_of_kind("http_proxy"), data, "no-route"),
                      client_status=404)

    def test_no_healthy_upstream(self):
        data = b"GET /nhu HTTP/1.1\r\nHost: empty\r\n\r\n"
        self.exchange(lambda: self.status_of("empty", data, "no-healthy-upstream"), path="/nhu", client_status=503)

    def test_upstream_connect_failure(self):
        data = b"GET /ucf HTTP/1.1\r\nHost: refused\r\n\r\n"
        self.exchange(lambda: self.status_of("refused", data, "upstream-connect-failure"), path="/ucf",
                      client_status=503)

    def test_upstream_timeout_request_timeout(self):
        path = "/rto/%s" % uuid.uuid4().hex[:8]
        data = b"GET %s HTTP/1.1\r\nHost: svc\r\nx-raw-script: hang\r\n\r\n" % path.encode()
        t0 = time.monotonic()
        self.exchange(lambda: self.status_of("svc", data, "upstream-timeout"), path=path, client_status=504)
        self.assertLess(time.monotonic() - t0, 5)

    def test_upstream_timeout_per_try(self):
        path = "/pertry/%s" % uuid.uuid4().hex[:8]
        data = b"GET %s HTTP/1.1\r\nHost: pertry\r\nx-raw-script: hang\r\n\r\n" % path.encode()
        self.exchange(lambda: self.status_of("pertry", data, "upstream-timeout"), path=path, client_status=504)
        self.assertGreaterEqual(len(ENV["ups"]["pertry"].requests_for(path)), 1)

    def test_upstream_reset(self):
        path = "/reset/%s" % uuid.uuid4().hex[:8]
        data = b"GET %s HTTP/1.1\r\nHost: svc\r\nx-raw-script: reset\r\n\r\n" % path.encode()
        self.exchange(lambda: self.status_of("svc", data, "upstream-reset"), path=path, client_status=502)

    def test_bad_gateway(self):
        path = "/badgw/%s" % uuid.uuid4().hex[:8]
        data = b"GET %s HTTP/1.1\r\nHost: svc\r\nx-raw-script: te-xchunked\r\n\r\n" % path.encode()

        def fn():
            r = self.raw("svc", data)
            self.assertIsNotNone(r)
            self.assertIn(r.header("x-hawser-reason"), ("bad-gateway", "upstream-reset"), r)
            return r.status
        self.exchange(fn, path=path, client_status=502)

    def test_unauthorized(self):
        path = "/authz/%s" % uuid.uuid4().hex[:8]
        data = b"GET %s HTTP/1.1\r\nHost: app\r\n\r\n" % path.encode()
        self.exchange(lambda: self.status_of("authz", data, "unauthorized"), path=path, client_status=403)
        self.assertEqual(ENV["ups"]["authz"].requests_for(path), [])

    def test_overflow(self):
        up = ENV["ups"]["overflow"]
        hold_path = "/hold/%s" % uuid.uuid4().hex[:8]
        holder = {}

        def hold():
            holder["r"] = self.raw("overflow", b"GET %s HTTP/1.1\r\nHost: overflow\r\nx-raw-script: hang\r\n\r\n"
                                   % hold_path.encode(), timeout=8)
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        hh.wait_until(lambda: up.requests_for(hold_path), timeout=3, message="the held request upstream")
        path = "/over/%s" % uuid.uuid4().hex[:8]
        self.exchange(lambda: self.status_of("overflow", b"GET %s HTTP/1.1\r\nHost: overflow\r\n\r\n" % path.encode(),
                                             "overflow"), path=path, client_status=503)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(holder["r"].status, 504)

    def test_rate_limited(self):
        addr = self.h.listener("limited")
        first = "/rl1/%s" % uuid.uuid4().hex[:8]
        st, _, _ = hh.http_request(addr, "GET", first, headers={"Host": "app"})
        path = "/rl2/%s" % uuid.uuid4().hex[:8]
        self.exchange(lambda: self.status_of("limited", b"GET %s HTTP/1.1\r\nHost: app\r\n\r\n" % path.encode(),
                                             "rate-limited"), path=path, client_status=429)

    # ---- not local replies ----
    def test_upstream_reset_mid_response(self):
        path = "/midreset/%s" % uuid.uuid4().hex[:8]

        def fn():
            with hh.RawConn(self.h.listener("svc"), timeout=5) as c:
                c.send(b"GET %s HTTP/1.1\r\nHost: svc\r\nx-raw-script: reset-mid-body\r\n\r\n" % path.encode())
                h = c.read_head(timeout=5)
                self.assertIsNotNone(h)
                if h.status == 200:
                    got = c.read_until_close(timeout=5)
                    self.assertLess(len(got), 100000, "a truncated body must not look complete")
                return h.status
        line = self.exchange(fn, path=path, client_status=200)
        self.assertEqual(line.get("reason"), "upstream-reset", "the log must say the response was cut: %r" % line)

    def test_client_disconnect_mid_request_body(self):
        up = ENV["ups"]["svc"]
        path = "/gone/%s" % uuid.uuid4().hex[:8]

        def fn():
            c = hh.RawConn(self.h.listener("svc"), timeout=5)
            try:
                c.send(b"POST %s HTTP/1.1\r\nHost: svc\r\nContent-Length: 4000\r\n\r\n" % path.encode() + b"x" * 1000)
                hh.wait_until(lambda: up.raw_contains(path.encode()), timeout=3,
                              message="the request head at the upstream (precondition)")
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            finally:
                c.close()
            return None
        self.exchange(fn, path=path)

    def test_client_disconnect_while_waiting_for_response(self):
        path = "/gone-wait/%s" % uuid.uuid4().hex[:8]
        up = ENV["ups"]["svc"]

        def fn():
            c = hh.RawConn(self.h.listener("svc"), timeout=5)
            try:
                c.send(b"GET %s HTTP/1.1\r\nHost: svc\r\nx-raw-script: hang\r\n\r\n" % path.encode())
                hh.wait_until(lambda: up.requests_for(path), timeout=3, message="the request upstream (precondition)")
            finally:
                c.close()
            return None
        self.exchange(fn, path=path)


class PostNeverResent(unittest.TestCase):
    """Acceptance 9 (see the module docstring)."""

    @classmethod
    def setUpClass(cls):
        cls.ups = {n: RawUpstream("post-" + n).start() for n in ("default", "retrying", "nonidem")}
        for u in cls.ups.values():
            cls.addClassCleanup(u.stop)
        t = {"connect": "1s", "request": "5s", "idle": "30s"}
        services = [
            {"name": "default", "alias": "127.0.0.1:0", "protocol": "http", "timeouts": t,
             "discovery": {"static": [cls.ups["default"].address]}},
            {"name": "retrying", "alias": "127.0.0.1:0", "protocol": "http", "timeouts": t,
             "discovery": {"static": [cls.ups["retrying"].address]},
             "retry": {"attempts": 3, "on": ["gateway-error", "reset", "connect-failure"],
                       "allow_non_idempotent": False}},
            {"name": "nonidem", "alias": "127.0.0.1:0", "protocol": "http", "timeouts": t,
             "discovery": {"static": [cls.ups["nonidem"].address]},
             "retry": {"attempts": 2, "on": ["reset"], "allow_non_idempotent": True}},
        ]
        cls.h = hh.start_hawser(cls, hh.base_config(workers=1, outbound={"services": services}),
                                name="post", class_level=True)

    def post_on_pooled(self, service, body):
        up = self.ups[service]
        addr = self.h.listener(service)
        warm = "/warm/%s" % uuid.uuid4().hex[:8]
        st, _, _ = hh.http_request(addr, "GET", warm, headers={"Host": service})
        self.assertEqual(st, 200)
        warm_conn = up.requests_for(warm)[0]["conn"]
        path = "/pay/%s" % uuid.uuid4().hex[:8]
        hdrs = {"Host": service, "x-raw-script": "close-silent-once", "Content-Length": str(len(body))}
        conn = http.client.HTTPConnection(*addr, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=hdrs)
            r = conn.getresponse()
            r.read()
            status = r.status
        finally:
            conn.close()
        seen = up.requests_for(path)
        self.assertGreaterEqual(len(seen), 1, "the POST never reached the upstream")
        self.assertEqual(seen[0]["conn"], warm_conn,
                         "precondition: the POST must travel on the pooled connection, else the test proves nothing")
        self.assertTrue(up.conn(warm_conn).closed_by_us, "precondition: the upstream closed without answering")
        for s in seen:
            self.assertEqual(s["body"], body)
        return status, len(seen)

    def test_default_policy_post_without_body_sent_once(self):
        status, n = self.post_on_pooled("default", b"")
        self.assertEqual(n, 1, "the POST was re-sent after it may have reached the upstream")
        self.assertIn(status, (502, 503))

    def test_default_policy_post_with_body_sent_once(self):
        status, n = self.post_on_pooled("default", b"amount=100")
        self.assertEqual(n, 1, "the POST was re-sent after it may have reached the upstream")
        self.assertIn(status, (502, 503))

    def test_retry_on_reset_without_allow_non_idempotent_sent_once(self):
        status, n = self.post_on_pooled("retrying", b"amount=100")
        self.assertEqual(n, 1, "the POST was re-sent though allow_non_idempotent is false")
        self.assertIn(status, (502, 503))

    def test_allow_non_idempotent_may_resend(self):
        status, n = self.post_on_pooled("nonidem", b"amount=100")
        self.assertEqual((status, n), (200, 2), "allow_non_idempotent + on: [reset]: the POST is retried")


if __name__ == "__main__":
    unittest.main()
