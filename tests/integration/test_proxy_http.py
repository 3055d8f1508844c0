"""HTTP/1.1 proxying end to end (issue 2, acceptance 2).

Topology (all on 127.0.0.1, ephemeral ports):

    client --> caller hawser (outbound alias "responder" | http_proxy) --> responder hawser
           (inbound "app") --> fake upstream "app-b"

Every case runs twice: through the outbound alias listener (origin-form requests) and
through the http_proxy listener (absolute-form requests, http://responder/...).
"""

import hashlib
import http.client
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest
import uuid

import hawser_harness as hh
from fake_upstream import FakeUpstream, pattern, ws_accept

TIMEOUTS = {"connect": "1s", "request": "15s", "idle": "60s"}
ENV = {}


def setUpModule():
    up = FakeUpstream("app-b")
    up.start()
    unittest.addModuleCleanup(up.stop)
    direct = FakeUpstream("direct")
    direct.start()
    unittest.addModuleCleanup(direct.stop)

    responder = hh.Hawser(hh.base_config(
        node={"service": "responder", "namespace": "demo"},
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http",
                  "timeouts": TIMEOUTS}],
        telemetry={"access_log": {"path": "stdout"}},
    ), name="responder")
    unittest.addModuleCleanup(responder.stop)
    responder.start()
    r_in = hh.addr_str(responder.listener("app"))

    caller = hh.Hawser(hh.base_config(
        node={"service": "caller", "namespace": "demo"},
        outbound={"http_proxy": "127.0.0.1:0",
                  "services": [{"name": "responder", "alias": "127.0.0.1:0", "protocol": "http",
                                "discovery": {"static": [r_in]}, "timeouts": TIMEOUTS,
                                "load_balancer": "round_robin"}]},
        telemetry={"access_log": {"path": "stdout"}},
    ), name="caller")
    unittest.addModuleCleanup(caller.stop)
    caller.start()
    ENV.update(up=up, direct=direct, responder=responder, caller=caller, responder_in=r_in,
               alias=caller.listener("responder"), proxy=caller.listener_of_kind("http_proxy"))


def _sha(b):
    return hashlib.sha256(b).hexdigest()


class Cases:
    """Mixed into one TestCase per entry mode."""
    mode = None

    # ---- helpers ----
    def entry(self):
        return ENV["alias"] if self.mode == "alias" else ENV["proxy"]

    def target(self, path):
        return path if self.mode == "alias" else "http://responder" + path

    def conn(self, timeout=30):
        c = http.client.HTTPConnection(*self.entry(), timeout=timeout)
        self.addCleanup(c.close)
        return c

    def req(self, method, path, headers=None, body=None, conn=None, encode_chunked=False):
        headers = dict(headers or {})
        if not any(k.lower() == "host" for k in headers):
            headers["Host"] = "responder"
        own = conn is None
        c = conn or http.client.HTTPConnection(*self.entry(), timeout=30)
        try:
            c.request(method, self.target(path), body=body, headers=headers,
                      encode_chunked=encode_chunked)
            r = c.getresponse()
            data = r.read()
            return r.status, hh.response_headers(r), data
        finally:
            if own:
                c.close()

    def uniq(self, prefix):
        return "/%s/%s/%s" % (self.mode, prefix, uuid.uuid4().hex[:8])

    # ---- cases ----
    def test_get_headers_and_path_intact(self):
        path = self.uniq("get") + "?x=1&y=two%20words"
        st, h, body = self.req("GET", path, headers={
            "X-Custom-A": "alpha", "X-Long": "v" * 4000, "Accept": "text/plain",
            "User-Agent": "hawser-tests/1", "X-Commas": "a, b, c"})
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(h["x-fake-instance"], "app-b")
        self.assertEqual(h["x-fake-method"], "GET")
        self.assertEqual(h["x-fake-path"], path)
        seen = hh.seen_headers(h)
        self.assertEqual(seen["x-custom-a"], "alpha")
        self.assertEqual(seen["accept"], "text/plain")
        self.assertEqual(seen["user-agent"], "hawser-tests/1")
        self.assertEqual(seen["x-commas"], "a, b, c")
        self.assertEqual(seen["x-long"], "v" * 256 + "...")   # fake truncates at 256
        req = ENV["up"].requests_for(path.split("?")[0])
        self.assertEqual(len(req), 1)
        self.assertEqual(req[0]["h"]["x-long"], "v" * 4000)
        self.assertEqual(req[0]["version"], "HTTP/1.1")

    def test_response_headers_intact(self):
        extra = {"X-Resp-A": "1", "Content-Type": "application/x-thing; charset=utf-8",
                 "Cache-Control": "no-store", "ETag": '"v1"'}
        st, h, body = self.req("GET", self.uniq("resp"), headers={
            "x-fake-response-headers": json.dumps(extra)})
        self.assertEqual(st, 200)
        self.assertEqual(h["x-resp-a"], "1")
        self.assertEqual(h["content-type"], "application/x-thing; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-store")
        self.assertEqual(h["etag"], '"v1"')

    def test_repeated_headers_not_merged(self):
        path = self.uniq("dup")
        c = self.conn()
        c.putrequest("GET", self.target(path), skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", "responder")
        c.putheader("X-Dup", "one")
        c.putheader("X-Dup", "two")
        c.putheader("x-fake-response-headers", json.dumps({"Set-Cookie": ["a=1; Path=/", "b=2; Path=/"]}))
        c.endheaders()
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.msg.get_all("Set-Cookie"), ["a=1; Path=/", "b=2; Path=/"],
                         "Set-Cookie lines must arrive separately, in order")
        rec = ENV["up"].requests_for(path)
        self.assertEqual(len(rec), 1)
        dup = [v for k, v in rec[0]["headers"] if k.lower() == "x-dup"]
        self.assertIn(dup, (["one", "two"], ["one, two"]), "repeated request header lost or reordered")

    def test_large_response_body(self):
        n = 3 * 1024 * 1024 + 17
        st, h, body = self.req("GET", self.uniq("big"), headers={"x-fake-body-bytes": str(n)})
        self.assertEqual(st, 200)
        self.assertEqual(len(body), n)
        self.assertEqual(body, pattern(n))

    def test_post_10mib_streamed(self):
        n = 10 * 1024 * 1024
        data = pattern(n, offset=7)

        def gen():
            for i in range(0, n, 65536):
                yield data[i:i + 65536]

        path = self.uniq("post10")
        st, h, body = self.req("POST", path, body=gen(),
                               headers={"Content-Length": str(n), "Content-Type": "application/octet-stream"})
        self.assertEqual(st, 200)
        self.assertEqual(h["x-fake-request-bytes"], str(n))
        self.assertEqual(h["x-fake-request-sha256"], _sha(data))
        self.assertEqual(hh.seen_headers(h)["content-length"], str(n))
        self.assertEqual(len(body), n)
        self.assertEqual(_sha(body), _sha(data))

    def test_request_body_is_streamed_not_buffered(self):
        # Send headers + 3 MiB of an 8 MiB body, then stop: the upstream must already be
        # receiving the body (a proxy that buffers the whole body would deliver nothing yet).
        n = 8 * 1024 * 1024
        data = pattern(n)
        path = self.uniq("stream-req")
        with hh.RawConn(self.entry(), timeout=30) as c:
            c.send(("POST %s HTTP/1.1\r\nHost: responder\r\nContent-Length: %d\r\n\r\n"
                    % (self.target(path), n)).encode())
            c.send(data[:3 * 1024 * 1024])
            hh.wait_until(lambda: ENV["up"].body_progress(path) >= 1024 * 1024, timeout=10,
                          message="upstream to receive >= 1 MiB of a body still being sent")
            c.send(data[3 * 1024 * 1024:])
            r = c.read_response(timeout=30)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-fake-request-sha256"), _sha(data))
        self.assertEqual(r.body, data)

    def test_response_body_is_streamed_not_buffered(self):
        n = 4 * 1024 * 1024
        ENV["up"].arm_release()
        self.addCleanup(ENV["up"].release)
        c = self.conn(timeout=10)
        c.request("GET", self.target(self.uniq("stream-resp")),
                  headers={"Host": "responder", "x-fake-body-bytes": str(n), "x-fake-wait-release": "1"})
        r = c.getresponse()      # headers must arrive while the upstream holds back half the body
        self.assertEqual(r.status, 200)
        first = r.read(1024 * 1024)
        self.assertEqual(first, pattern(1024 * 1024))
        ENV["up"].release()
        rest = r.read()
        self.assertEqual(first + rest, pattern(n))

    def test_chunked_request_and_chunked_response(self):
        parts = [pattern(1000), pattern(70000, 3), b"x", pattern(300000, 5)]
        whole = b"".join(parts)
        path = self.uniq("chunked")
        st, h, body = self.req("POST", path, body=iter(parts), encode_chunked=True,
                               headers={"x-fake-chunked": "1"})
        self.assertEqual(st, 200)
        self.assertEqual(h["x-fake-request-chunked"], "1", "request should reach the app chunked")
        self.assertNotIn("content-length", hh.seen_headers(h))
        self.assertEqual(h["x-fake-request-sha256"], _sha(whole))
        self.assertEqual(h.get("transfer-encoding"), "chunked", "response should stay chunked")
        self.assertNotIn("content-length", h)
        self.assertEqual(body, whole)

    def test_chunked_response_raw_framing(self):
        # Raw check that the response is valid chunked framing and the connection stays usable.
        with hh.RawConn(self.entry(), timeout=15) as c:
            for i in range(3):
                c.send(("GET %s HTTP/1.1\r\nHost: responder\r\nx-fake-chunked: 1\r\n"
                        "x-fake-body-bytes: %d\r\n\r\n" % (self.target(self.uniq("rawchunk")), 40000 + i)).encode())
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("transfer-encoding"), "chunked")
                self.assertEqual(r.body, pattern(40000 + i))

    def test_expect_100_continue(self):
        body = b"hello, continue"
        path = self.uniq("expect")
        with hh.RawConn(self.entry(), timeout=10) as c:
            c.send(("POST %s HTTP/1.1\r\nHost: responder\r\nContent-Length: %d\r\n"
                    "Expect: 100-continue\r\n\r\n" % (self.target(path), len(body))).encode())
            interim = c.read_head(timeout=5)
            self.assertIsNotNone(interim, "connection closed instead of 100 Continue")
            self.assertEqual(interim.status, 100, interim)
            self.assertTrue(interim.raw_head.startswith(b"HTTP/1.1 100"), interim.raw_head)
            c.send(body)
            final = c.read_response(timeout=10)
            # Exactly one 100 Continue: hawser answers it and must not also relay the app's.
            self.assertEqual(final.status, 200, "expected the final response, got %r" % (final,))
            self.assertEqual(final.body, body)
            self.assertEqual(final.header("x-fake-request-bytes"), str(len(body)))
            # The connection is still usable afterwards.
            c.send(("GET %s HTTP/1.1\r\nHost: responder\r\n\r\n" % self.target(path)).encode())
            self.assertEqual(c.read_response().status, 200)

    def test_head_has_no_body(self):
        c = self.conn()
        path = self.uniq("head")
        st, h, body = self.req("HEAD", path, headers={"x-fake-body-bytes": "5000"}, conn=c)
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-length"), "5000")
        self.assertEqual(body, b"")
        self.assertEqual(h["x-fake-method"], "HEAD")
        # If a body had leaked, the next response on this connection would be garbage.
        st, h, body = self.req("GET", path, headers={"x-fake-body-bytes": "10"}, conn=c)
        self.assertEqual((st, body), (200, pattern(10)))

    def test_head_raw(self):
        with hh.RawConn(self.entry(), timeout=10) as c:
            c.send(("HEAD %s HTTP/1.1\r\nHost: responder\r\nx-fake-body-bytes: 777\r\n\r\n"
                    "GET %s HTTP/1.1\r\nHost: responder\r\nx-fake-body-bytes: 3\r\n\r\n"
                    % (self.target("/h1"), self.target("/h2"))).encode())
            r1 = c.read_response(head_request=True)
            self.assertEqual(r1.status, 200)
            self.assertEqual(r1.header("content-length"), "777")
            r2 = c.read_response()
            self.assertEqual((r2.status, r2.body), (200, pattern(3)))

    def test_204_and_304_have_no_body(self):
        c = self.conn()
        st, h, body = self.req("GET", self.uniq("204"), headers={"x-fake-status": "204"}, conn=c)
        self.assertEqual((st, body), (204, b""))
        self.assertNotIn("transfer-encoding", h)
        st, h, body = self.req("GET", self.uniq("304"), headers={
            "x-fake-status": "304", "If-None-Match": '"v1"',
            "x-fake-response-headers": json.dumps({"ETag": '"v1"'})}, conn=c)
        self.assertEqual((st, body), (304, b""))
        self.assertEqual(h["etag"], '"v1"')
        self.assertNotIn("transfer-encoding", h)
        self.assertEqual(hh.seen_headers(h)["if-none-match"], '"v1"')
        st, h, body = self.req("GET", self.uniq("after"), headers={"x-fake-body-bytes": "5"}, conn=c)
        self.assertEqual((st, body), (200, pattern(5)))

    def test_status_codes_pass_through(self):
        for code in (201, 302, 404, 409, 500, 503):
            st, h, body = self.req("POST", self.uniq("st%d" % code), body=b"abc",
                                   headers={"x-fake-status": str(code)})
            self.assertEqual(st, code)
            self.assertEqual(body, b"abc")
            self.assertNotIn("x-hawser-reason", h, "app responses must not look hawser-generated")

    def test_hop_by_hop_request_headers_removed(self):
        st, h, _ = self.req("GET", self.uniq("hop"), headers={
            "Connection": "keep-alive, x-custom", "x-custom": "1", "Keep-Alive": "timeout=5",
            "Proxy-Connection": "keep-alive", "x-end-to-end": "yes"})
        self.assertEqual(st, 200)
        seen = hh.seen_headers(h)
        self.assertEqual(seen.get("x-end-to-end"), "yes")
        for name in ("x-custom", "keep-alive", "proxy-connection"):
            self.assertNotIn(name, seen, "hop-by-hop header %r reached the app: %r" % (name, seen))
        self.assertNotIn("x-custom", seen.get("connection", "").lower())

    def test_hop_by_hop_response_headers_removed(self):
        st, h, _ = self.req("GET", self.uniq("hopresp"), headers={"x-fake-response-headers": json.dumps(
            {"Connection": "x-up-secret", "x-up-secret": "1", "Keep-Alive": "timeout=30",
             "x-up-normal": "2"})})
        self.assertEqual(st, 200)
        self.assertEqual(h.get("x-up-normal"), "2")
        self.assertNotIn("x-up-secret", h)
        self.assertNotIn("keep-alive", h)
        self.assertNotIn("x-up-secret", h.get("connection", ""))

    def test_forwarding_headers(self):
        st, h, _ = self.req("GET", self.uniq("xff"), headers={"X-Forwarded-For": "10.1.2.3"})
        self.assertEqual(st, 200)
        seen = hh.seen_headers(h)
        xff = [p.strip() for p in seen["x-forwarded-for"].split(",")]
        self.assertEqual(xff[0], "10.1.2.3", seen)
        self.assertIn("127.0.0.1", xff[1:], seen)
        self.assertEqual(seen.get("x-forwarded-proto"), "http")
        self.assertIn("1.1 hawser", seen.get("via", ""), seen)
        # without a client-supplied one, hawser creates it
        st, h, _ = self.req("GET", self.uniq("xff2"))
        seen = hh.seen_headers(h)
        self.assertEqual(seen["x-forwarded-for"].split(",")[0].strip(), "127.0.0.1", seen)

    def test_request_id_kept_and_logged(self):
        rid = "rid-" + uuid.uuid4().hex
        path = self.uniq("rid")
        st, h, _ = self.req("GET", path, headers={"X-Request-Id": rid})
        self.assertEqual(st, 200)
        self.assertEqual(hh.seen_headers(h)["x-request-id"], rid)
        out = ENV["caller"].wait_for_log(lambda d: d.get("log") == "access" and d.get("request_id") == rid,
                                         message="caller access log for %s" % rid)
        inn = ENV["responder"].wait_for_log(lambda d: d.get("log") == "access" and d.get("request_id") == rid,
                                            message="responder access log for %s" % rid)
        for field in ("time", "request_id", "direction", "method", "authority", "path", "status",
                      "duration_ms", "upstream", "bytes_received", "bytes_sent", "reason"):
            self.assertIn(field, out, out)
            self.assertIn(field, inn, inn)
        self.assertEqual(out["direction"], "outbound")
        self.assertEqual(inn["direction"], "inbound")
        for d in (out, inn):
            self.assertEqual(d["method"], "GET")
            self.assertEqual(d["path"], path)
            self.assertEqual(d["status"], 200)
            self.assertIsInstance(d["duration_ms"], (int, float))
        self.assertEqual(out["upstream"], ENV["responder_in"])
        self.assertEqual(inn["upstream"], ENV["up"].address)

    def test_request_id_created(self):
        st1, h1, _ = self.req("GET", self.uniq("rid-new"))
        st2, h2, _ = self.req("GET", self.uniq("rid-new"))
        a = hh.seen_headers(h1).get("x-request-id", "")
        b = hh.seen_headers(h2).get("x-request-id", "")
        self.assertTrue(len(a) >= 8, "x-request-id not created: %r" % a)
        self.assertNotEqual(a, b)

    def test_websocket_upgrade_tunnel(self):
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        with hh.RawConn(self.entry(), timeout=10) as c:
            c.send(("GET %s HTTP/1.1\r\nHost: responder\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    % (self.target("/ws"), key)).encode())
            r = c.read_head(timeout=10)
            self.assertIsNotNone(r, "connection closed instead of 101")
            self.assertEqual(r.status, 101, r)
            self.assertEqual((r.header("upgrade") or "").lower(), "websocket")
            self.assertIn("upgrade", (r.header("connection") or "").lower())
            self.assertEqual(r.header("sec-websocket-accept"), ws_accept(key))
            for payload in (b"\x81\x05hello", bytes(range(256)) * 256, b"\x00" * 10):
                c.send(payload)
                self.assertEqual(c.read_exact(len(payload), timeout=10), payload)


class AliasListener(Cases, unittest.TestCase):
    mode = "alias"


class HttpProxyListener(Cases, unittest.TestCase):
    mode = "proxy"

    def test_passthrough_to_address(self):
        d = ENV["direct"]
        st, h, body = hh.http_request(ENV["proxy"], "POST", "http://%s/pt?a=b" % d.address, body=b"xyz",
                                      headers={"Host": d.address})
        self.assertEqual(st, 200)
        self.assertEqual(h["x-fake-instance"], "direct")
        self.assertEqual(h["x-fake-path"], "/pt?a=b")
        self.assertEqual(body, b"xyz")

    def test_service_name_ignores_port(self):
        st, h, _ = hh.http_request(ENV["proxy"], "GET", "http://responder:8080/port",
                                   headers={"Host": "responder:8080"})
        self.assertEqual(st, 200)
        self.assertEqual(h["x-fake-instance"], "app-b")
        self.assertEqual(h["x-fake-path"], "/port")


class KeepAlive(unittest.TestCase):
    def _run(self, entry, target):
        up, caller, responder = ENV["up"], ENV["caller"], ENV["responder"]
        # hawser counts an exchange just after its last byte reaches the client,
        # so let the previous test's last exchange land before taking baselines.
        hh.wait_until(lambda: caller.metric("hawser_downstream_connections_active") == 0, timeout=10,
                      message="no client connections open before baselines")
        before_up = up.stats()
        self.assertTrue(any(n == "hawser_upstream_connections_total" for n, _ in caller.metrics()),
                        "metric hawser_upstream_connections_total missing")
        before_c = caller.metric("hawser_upstream_connections_total")
        before_req_c = caller.metric("hawser_requests_total", direction="outbound", service="responder",
                                     code_class="2xx")
        before_req_r = responder.metric("hawser_requests_total", direction="inbound", code_class="2xx")
        before_hist = caller.metric("hawser_request_duration_seconds_count", direction="outbound",
                                    service="responder")
        c = http.client.HTTPConnection(*entry, timeout=10)
        try:
            for i in range(100):
                c.request("GET", target + "/ka/%d" % i, headers={"Host": "responder"})
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            c.close()
        for i in range(100):
            st, _, _ = hh.http_request(entry, "GET", target + "/ka-fresh/%d" % i, headers={"Host": "responder"})
            self.assertEqual(st, 200)
        after_up = up.stats()
        self.assertEqual(after_up["requests"] - before_up["requests"], 200)
        opened_r = after_up["connections"] - before_up["connections"]
        self.assertLessEqual(opened_r, 8, "responder hawser opened %d app connections for 200 requests"
                             % opened_r)
        self.assertLessEqual(caller.metric("hawser_upstream_connections_total") - before_c, 8,
                             "caller hawser opened too many upstream connections for 200 requests")
        self.assertEqual(caller.metric("hawser_requests_total", direction="outbound", service="responder",
                                       code_class="2xx") - before_req_c, 200)
        self.assertEqual(responder.metric("hawser_requests_total", direction="inbound",
                                          code_class="2xx") - before_req_r, 200)
        self.assertEqual(caller.metric("hawser_request_duration_seconds_count", direction="outbound",
                                       service="responder") - before_hist, 200)
        self.assertTrue(any(n == "hawser_downstream_connections_active" for n, _ in caller.metrics()))
        hh.wait_until(lambda: caller.metric("hawser_downstream_connections_active") == 0, timeout=5,
                      message="caller downstream_connections_active back to 0")
        self.assertGreaterEqual(caller.metric("hawser_upstream_connections_active"), 1,
                                "pooled upstream connections should stay open")

    def test_alias_upstream_keepalive(self):
        self._run(ENV["alias"], "")

    def test_http_proxy_upstream_keepalive(self):
        self._run(ENV["proxy"], "http://responder")


class MaxRequestsPerConnection(unittest.TestCase):
    """outbound.services[].max_requests_per_connection: the last request on an upstream
    connection says Connection: close, and the connection is never pooled after it."""

    def test_each_upstream_connection_carries_at_most_the_limit(self):
        up = FakeUpstream("limited")
        up.start()
        self.addCleanup(up.stop)
        h = hh.Hawser(hh.base_config(workers=1, outbound={"services": [
            {"name": "limited", "alias": "127.0.0.1:0", "protocol": "http", "max_requests_per_connection": 2,
             "discovery": {"static": [up.address]}}]}), name="limited")
        self.addCleanup(h.stop)
        h.start()
        c = http.client.HTTPConnection(*h.listener("limited"), timeout=10)
        try:
            for i in range(6):
                c.request("GET", "/m/%d" % i)
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                self.assertFalse(r.will_close)  # the client's own connection stays open
        finally:
            c.close()
        self.assertEqual(up.stats()["connections"], 3)
        close = [rec["h"].get("connection") for rec in up.requests_for("/m/")]
        self.assertEqual(close, [None, "close"] * 3)
        self.assertEqual(json.loads(h.admin_get("/config_dump")[2])["outbound"]["services"][0]
                         ["max_requests_per_connection"], 2)


class PoolRobustness(unittest.TestCase):
    """Pooled upstream connections that the app closes must not fail requests."""

    @classmethod
    def setUpClass(cls):
        cls.up = FakeUpstream("idle", idle_timeout=0.3)
        cls.up.start()
        cls.addClassCleanup(cls.up.stop)
        cls.h = hh.Hawser(hh.base_config(outbound={"services": [
            {"name": "idle", "alias": "127.0.0.1:0", "protocol": "http",
             "discovery": {"static": [cls.up.address]}}]}), name="pool")
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()
        cls.alias = cls.h.listener("idle")

    def test_app_closes_idle_pooled_connection(self):
        for i in range(3):
            closes = self.up.idle_closes
            st, _, body = hh.http_request(self.alias, "POST", "/idle/%d" % i, body=b"abc")
            self.assertEqual((st, body), (200, b"abc"))
            # the app closes the pooled connection after 0.3s idle; the next request must not fail
            hh.wait_until(lambda: self.up.idle_closes > closes, timeout=5, message="app idle close")

    def test_app_closes_recently_pooled_connection_get(self):
        """A GET reuses a connection idle for less than the pool's liveness-check
        window without checking it; when the app has closed it meanwhile, the
        request is sent again on a fresh connection."""
        for i in range(6):
            closes = self.up.idle_closes
            st, _, body = hh.http_request(self.alias, "GET", "/recent/%d" % i)
            self.assertEqual(st, 200, body)
            hh.wait_until(lambda: self.up.idle_closes > closes, timeout=5, message="app idle close")

    def test_app_sends_connection_close(self):
        before = self.up.stats()["connections"]
        c = http.client.HTTPConnection(*self.alias, timeout=10)
        self.addCleanup(c.close)
        for i in range(20):
            c.request("GET", "/close/%d" % i, headers={"x-fake-close": "1"})
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b""))
        self.assertEqual(self.up.stats()["connections"] - before, 20)

    def test_http10_client(self):
        with hh.RawConn(self.alias, timeout=10) as c:
            c.send(b"POST /old HTTP/1.0\r\nHost: idle\r\nContent-Length: 5\r\n\r\nhello")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"hello")
            self.assertTrue(c.closed_within(3), "HTTP/1.0 without keep-alive: connection should close")


class UpstreamFailures(unittest.TestCase):
    """hawser-generated responses for upstream failures carry x-hawser-reason."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hawser-eps-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        empty = os.path.join(cls.tmp, "empty.yaml")
        with open(empty, "w") as f:
            f.write("[]\n")
        cls.u1 = FakeUpstream("rr-1")
        cls.u1.start()
        cls.addClassCleanup(cls.u1.stop)
        cls.u2 = FakeUpstream("rr-2")
        cls.u2.start()
        cls.addClassCleanup(cls.u2.stop)
        dead = hh.free_port()
        fast = {"connect": "1s", "request": "1s", "idle": "60s"}
        svc = lambda name, disc, t=TIMEOUTS: {"name": name, "alias": "127.0.0.1:0", "protocol": "http",
                                              "discovery": disc, "timeouts": t, "load_balancer": "round_robin"}
        cls.h = hh.Hawser(hh.base_config(outbound={"services": [
            svc("dead", {"static": ["127.0.0.1:%d" % dead]}),
            svc("empty", {"file": empty}),
            svc("slow", {"static": [cls.u1.address]}, fast),
            svc("rr", {"static": [cls.u1.address, cls.u2.address]}),
        ]}), name="failures")
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def test_connect_failure(self):
        st, h, _ = hh.http_request(self.h.listener("dead"), "GET", "/")
        self.assertIn(st, (502, 503))
        self.assertEqual(h.get("x-hawser-reason"), "upstream-connect-failure")

    def test_no_healthy_upstream(self):
        st, h, _ = hh.http_request(self.h.listener("empty"), "GET", "/")
        self.assertEqual(st, 503)
        self.assertEqual(h.get("x-hawser-reason"), "no-healthy-upstream")

    def test_upstream_reset(self):
        st, h, _ = hh.http_request(self.h.listener("slow"), "GET", "/", headers={"x-fake-reset": "1"})
        self.assertIn(st, (502, 503))
        self.assertEqual(h.get("x-hawser-reason"), "upstream-reset")

    def test_upstream_timeout(self):
        t0 = time.monotonic()
        st, h, _ = hh.http_request(self.h.listener("slow"), "GET", "/", headers={"x-fake-hang": "1"})
        took = time.monotonic() - t0
        self.assertEqual(st, 504)
        self.assertEqual(h.get("x-hawser-reason"), "upstream-timeout")
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5)
        # and the listener still serves
        st, _, _ = hh.http_request(self.h.listener("slow"), "GET", "/")
        self.assertEqual(st, 200)

    def test_round_robin(self):
        counts = {}
        c = http.client.HTTPConnection(*self.h.listener("rr"), timeout=10)
        self.addCleanup(c.close)
        for i in range(40):
            c.request("GET", "/rr/%d" % i)
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            inst = r.getheader("x-fake-instance")
            counts[inst] = counts.get(inst, 0) + 1
        self.assertEqual(set(counts), {"rr-1", "rr-2"}, counts)
        self.assertLessEqual(abs(counts["rr-1"] - counts["rr-2"]), 2, counts)

    def test_clusters_admin(self):
        doc = self.h.admin_json("/clusters")
        by = {c["name"]: c for c in doc["clusters"]}
        self.assertEqual(sorted(e["address"] for e in by["rr"]["endpoints"]),
                         sorted([self.u1.address, self.u2.address]))
        self.assertEqual(by["empty"]["endpoints"], [])
        for e in by["rr"]["endpoints"]:
            for k in ("health", "ejected", "active_requests"):
                self.assertIn(k, e)

    def test_admin_basics(self):
        info = self.h.admin_json("/server_info")
        self.assertEqual(info["state"], "LIVE")
        self.assertIn("version", info)
        self.assertIn("uptime_seconds", info)
        st, _, body = self.h.admin_get("/ready")
        self.assertEqual((st, body.strip()), (200, b"ready"))
        dump = self.h.admin_json("/config_dump")
        self.assertIsInstance(dump, dict)
        self.assertIn("slow", json.dumps(dump))
        ls = [l for l in self.h.admin_json("/listeners")["listeners"] if l.get("kind") != "admin"]
        self.assertEqual(sorted(l["name"] for l in ls), ["dead", "empty", "rr", "slow"])
        for l in ls:
            self.assertEqual(l["kind"], "outbound")
            self.assertTrue(l["address"].startswith("127.0.0.1:") and not l["address"].endswith(":0"), l)



class MetricsDisabled(unittest.TestCase):
    """telemetry.metrics.enabled: false -- traffic flows, the metrics path answers 404,
    and turning it back on by reload starts counting again."""

    def test_metrics_off_then_on_by_reload(self):
        up = FakeUpstream("m")
        up.start()
        self.addCleanup(up.stop)
        svc = {"name": "m", "alias": "127.0.0.1:0", "protocol": "http",
               "discovery": {"static": [up.address]}, "timeouts": TIMEOUTS}
        cfg = hh.base_config(outbound={"services": [svc]},
                             telemetry={"metrics": {"enabled": False}, "access_log": {"path": "off"}})
        h = hh.Hawser(cfg, name="nometrics")
        self.addCleanup(h.stop)
        h.start()
        for _ in range(5):
            st, _, _ = hh.http_request(h.listener("m"), "GET", "/x")
            self.assertEqual(st, 200)
        st, _, body = h.admin_get("/metrics")
        self.assertEqual(st, 404, body)
        self.assertIn(b"disabled", body)
        self.assertFalse(h.admin_json("/config_dump")["telemetry"]["metrics"]["enabled"])
        cfg["telemetry"]["metrics"]["enabled"] = True
        h.write_config(cfg)
        st, _, body = h.admin_post("/reload")
        self.assertEqual(st, 200, body)
        for _ in range(3):
            st, _, _ = hh.http_request(h.listener("m"), "GET", "/x")
            self.assertEqual(st, 200)
        m = h.metrics()
        self.assertEqual(hh.metric_sum(m, "hawser_requests_total", service="m"), 3)


if __name__ == "__main__":
    unittest.main()
