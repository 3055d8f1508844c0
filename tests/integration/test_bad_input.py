"""Malformed input (issue 2, acceptance 3).

Each malformed request gets the documented status (or the connection closes), the
hawser_malformed_requests_total counter for its reason goes up by exactly one, the
connection is closed after the error, and the process keeps serving normal requests.
Run against both an inbound listener and an outbound alias listener.
"""

import socket
import threading
import time
import unittest

import hawser_harness as hh
from fake_upstream import FakeUpstream

ENV = {}
METRIC = "hawser_malformed_requests_total"
BODY_LIMIT = 1024 * 1024


def setUpModule():
    up = FakeUpstream("app")
    up.start()
    unittest.addModuleCleanup(up.stop)
    h = hh.Hawser(hh.base_config(
        limits={"max_header_bytes": 8192, "max_headers": 20, "max_request_body_bytes": BODY_LIMIT,
                "header_timeout": "1s"},
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http"}],
        outbound={"services": [{"name": "svc", "alias": "127.0.0.1:0", "protocol": "http",
                                "discovery": {"static": [up.address]}}]},
    ), name="bad-input")
    unittest.addModuleCleanup(h.stop)
    h.start()
    ENV.update(up=up, h=h)


def H(s):
    return s.replace("\n", "\r\n").encode()


# name -> (raw request, allowed statuses, metric reason, allowed x-hawser-reason values)
CASES = {
    "bad_request_line": (b"THIS IS NOT HTTP\r\n\r\n", {400}, "bad_request", {"bad-request"}),
    "request_line_missing_version": (b"GET /\r\nHost: x\r\n\r\n", {400}, "bad_request", {"bad-request"}),
    "bad_method_token": (H("G@T / HTTP/1.1\nHost: x\n\n"), {400}, "bad_request", {"bad-request"}),
    "header_without_colon": (H("GET / HTTP/1.1\nHost: x\nNoColonHere\n\n"), {400}, "bad_request",
                             {"bad-request"}),
    "space_in_header_name": (H("GET / HTTP/1.1\nHost: x\nBad Header: v\n\n"), {400}, "bad_request",
                             {"bad-request"}),
    "header_bytes_over_limit": (H("GET / HTTP/1.1\nHost: x\nX-Big: " + "a" * 16000 + "\n\n"), {431},
                                "header_too_large", {"header-too-large"}),
    "many_small_headers_over_byte_limit": (
        H("GET / HTTP/1.1\nHost: x\n" + "".join("X-H%d: %s\n" % (i, "b" * 500) for i in range(19)) + "\n"),
        {431}, "header_too_large", {"header-too-large"}),
    "too_many_headers": (H("GET / HTTP/1.1\nHost: x\n" + "".join("X-N%d: v\n" % i for i in range(30)) + "\n"),
                         {431}, "too_many_headers", {"header-too-large", "too-many-headers"}),
    "content_length_and_transfer_encoding": (
        H("POST / HTTP/1.1\nHost: x\nContent-Length: 5\nTransfer-Encoding: chunked\n\n") +
        b"5\r\nhello\r\n0\r\n\r\n", {400}, "bad_request", {"bad-request"}),
    "duplicate_differing_content_length": (
        H("POST / HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 6\n\n") + b"hello!",
        {400}, "bad_request", {"bad-request"}),
    "comma_differing_content_length": (
        H("POST / HTTP/1.1\nHost: x\nContent-Length: 5, 6\n\n") + b"hello!", {400}, "bad_request",
        {"bad-request"}),
    "negative_content_length": (H("POST / HTTP/1.1\nHost: x\nContent-Length: -5\n\n"), {400}, "bad_request",
                                {"bad-request"}),
    "invalid_chunk_size": (H("POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n") +
                           b"zz\r\nhello\r\n0\r\n\r\n", {400}, "bad_request", {"bad-request"}),
    "bare_lf_line_endings": (b"GET / HTTP/1.1\nHost: x\nX-A: b\n\n", {400}, "bad_request", {"bad-request"}),
    "body_over_limit_by_content_length": (
        H("POST / HTTP/1.1\nHost: x\nContent-Length: %d\n\n" % (2 * BODY_LIMIT)), {413}, "body_too_large",
        {"body-too-large"}),
}


class BadInputCases:
    listener = None

    def addr(self):
        return ENV["h"].listener(self.listener)

    def _counts(self):
        m = ENV["h"].metrics()
        return {k: v for k, v in m.items() if k[0] == METRIC}

    def _reason_value(self, counts, reason):
        return sum(v for (n, ls), v in counts.items() if ("reason", reason) in ls)

    def _check_case(self, name):
        raw, statuses, reason, hreasons = CASES[name]
        h = ENV["h"]
        before = self._counts()
        resp, closed = hh.raw_exchange(self.addr(), raw, timeout=5)
        if resp is not None:
            self.assertIn(resp.status, statuses, "%s: %r" % (name, resp))
            self.assertIn(resp.header("x-hawser-reason"), hreasons, "%s: %r" % (name, resp))
            self.assertTrue(closed, "%s: connection should be closed after a %d" % (name, resp.status))

        def counted():
            after = self._counts()
            return self._reason_value(after, reason) - self._reason_value(before, reason) >= 1 and after
        after = hh.wait_until(counted, timeout=3, message="%s{reason=%s} to increment (%s)" % (METRIC, reason, name))
        self.assertEqual(self._reason_value(after, reason) - self._reason_value(before, reason), 1, name)
        self.assertEqual(sum(after.values()) - sum(before.values()), 1,
                         "%s: exactly one malformed request should be counted" % name)
        # Still serving.
        self.assertTrue(h.alive())
        st, hd, body = hh.http_request(self.addr(), "POST", "/after-" + name, body=b"fine")
        self.assertEqual((st, body), (200, b"fine"))

    def test_chunked_body_over_limit(self):
        before = self._counts()
        with hh.RawConn(self.addr(), timeout=10) as c:
            c.send(H("POST /big HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n"))
            chunk = b"%x\r\n" % 65536 + b"z" * 65536 + b"\r\n"
            try:
                for _ in range(2 * BODY_LIMIT // 65536):
                    c.send(chunk)
                c.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                r = c.read_response(timeout=5)
            except (EOFError, ConnectionResetError):
                r = None
            if r is not None:
                self.assertEqual(r.status, 413, r)
                self.assertEqual(r.header("x-hawser-reason"), "body-too-large")
        hh.wait_until(lambda: self._reason_value(self._counts(), "body_too_large")
                      - self._reason_value(before, "body_too_large") == 1, timeout=3,
                      message="body_too_large counted once")
        st, _, body = hh.http_request(self.addr(), "POST", "/after", body=b"x" * 1000)
        self.assertEqual((st, body), (200, b"x" * 1000))

    def test_body_at_limit_is_fine(self):
        data = b"q" * BODY_LIMIT
        st, _, body = hh.http_request(self.addr(), "POST", "/at-limit", body=data)
        self.assertEqual(st, 200)
        self.assertEqual(body, data)

    def test_headers_just_under_limits_are_fine(self):
        st, _, _ = hh.http_request(self.addr(), "GET", "/under",
                                   headers={"X-N%d" % i: "v" for i in range(15)})
        self.assertEqual(st, 200)
        st, _, _ = hh.http_request(self.addr(), "GET", "/under", headers={"X-Big": "a" * 6000})
        self.assertEqual(st, 200)

    def test_slowloris(self):
        h = ENV["h"]
        before = self._counts()
        normal_results = []
        stop = threading.Event()

        def normal():
            while not stop.is_set():
                try:
                    st, _, b = hh.http_request(self.addr(), "GET", "/normal", timeout=5)
                    normal_results.append(st == 200)
                except Exception as e:  # noqa: BLE001
                    normal_results.append(repr(e))
                stop.wait(0.05)

        slow_results = []

        def slow():
            t0 = time.monotonic()
            s = socket.create_connection(self.addr(), timeout=10)
            try:
                s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
                s.settimeout(0.2)
                got = b""
                while time.monotonic() - t0 < 8:
                    try:
                        s.sendall(b"X")        # one header byte at a time, never finishing
                    except OSError:
                        break
                    try:
                        d = s.recv(4096)
                        if not d:
                            break
                        got += d
                        if b"\r\n\r\n" in got:
                            break
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                slow_results.append((time.monotonic() - t0, got))
            finally:
                s.close()

        nt = threading.Thread(target=normal, daemon=True)
        nt.start()
        slows = [threading.Thread(target=slow, daemon=True) for _ in range(3)]
        for t in slows:
            t.start()
        for t in slows:
            t.join(15)
        stop.set()
        nt.join(10)
        self.assertEqual(len(slow_results), 3)
        for took, got in slow_results:
            self.assertLess(took, 4.0, "slowloris client held the connection for %.1fs (header_timeout 1s)" % took)
            self.assertGreaterEqual(took, 0.8, "cut off before header_timeout: %.2fs" % took)
            if got:
                self.assertTrue(got.startswith(b"HTTP/1.1 408"), got[:200])
                self.assertIn(b"x-hawser-reason: header-timeout", got.lower())
        self.assertGreater(len(normal_results), 5)
        self.assertTrue(all(r is True for r in normal_results), normal_results)
        hh.wait_until(lambda: self._reason_value(self._counts(), "header_timeout")
                      - self._reason_value(before, "header_timeout") == 3, timeout=3,
                      message="header_timeout counted 3 times")
        self.assertTrue(h.alive())


def _make(name):
    def t(self):
        self._check_case(name)
    t.__name__ = "test_" + name
    return t


for _name in CASES:
    setattr(BadInputCases, "test_" + _name, _make(_name))


class Inbound(BadInputCases, unittest.TestCase):
    listener = "app"


class OutboundAlias(BadInputCases, unittest.TestCase):
    listener = "svc"


if __name__ == "__main__":
    unittest.main()
