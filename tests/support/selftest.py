"""Self-tests of the support code (no hawser needed):  cd tests/support && python3 -m unittest -v selftest"""

import hashlib
import http.client
import json
import socket
import threading
import unittest

import hawser_harness as hh
from echo_server import EchoServer
from fake_upstream import FakeUpstream, pattern, ws_accept


class FakeUpstreamTest(unittest.TestCase):
    def setUp(self):
        self.f = FakeUpstream("u1")
        self.f.start()
        self.addCleanup(self.f.stop)
        self.addr = ("127.0.0.1", self.f.port)

    def test_echo_keepalive_and_stats(self):
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        for i in range(5):
            c.request("POST", "/p%d?q=1" % i, body=b"hello%d" % i, headers={"X-A": "b"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"hello%d" % i)
            self.assertEqual(r.getheader("x-fake-instance"), "u1")
            self.assertEqual(r.getheader("x-fake-path"), "/p%d?q=1" % i)
            self.assertEqual(json.loads(r.getheader("x-fake-seen-headers"))["x-a"], "b")
        c.close()
        st, _, body = hh.http_request(self.addr, "GET", "/__stats")
        self.assertEqual(json.loads(body), {"connections": 2, "requests": 5})

    def test_body_bytes_chunked_head_204_304(self):
        st, h, body = hh.http_request(self.addr, "GET", "/", headers={"x-fake-body-bytes": "100000",
                                                                      "x-fake-chunked": "1"})
        self.assertEqual(body, pattern(100000))
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        c.request("HEAD", "/", headers={"x-fake-body-bytes": "500"})
        r = c.getresponse()
        self.assertEqual(r.getheader("content-length"), "500")
        self.assertEqual(r.read(), b"")
        for code in (204, 304):
            c.request("GET", "/", headers={"x-fake-status": str(code)})
            r = c.getresponse()
            self.assertEqual(r.status, code)
            self.assertEqual(r.read(), b"")
        c.request("GET", "/x")
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_chunked_request(self):
        data = [b"a" * 1000, b"b" * 5000, b"c"]
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        c.request("POST", "/c", body=iter(data), encode_chunked=True)
        r = c.getresponse()
        body = r.read()
        self.assertEqual(body, b"".join(data))
        self.assertEqual(r.getheader("x-fake-request-chunked"), "1")
        self.assertEqual(r.getheader("x-fake-request-sha256"), hashlib.sha256(body).hexdigest())

    def test_expect_continue_raw(self):
        with hh.RawConn(self.addr) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            r = c.read_head()
            self.assertEqual(r.status, 100)
            c.send(b"hello")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello"))

    def test_reset_and_hang(self):
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            hh.http_request(self.addr, "GET", "/", headers={"x-fake-reset": "1"})
        with self.assertRaises(socket.timeout):
            hh.http_request(self.addr, "GET", "/", headers={"x-fake-hang": "1"}, timeout=0.5)

    def test_upgrade(self):
        with hh.RawConn(self.addr) as c:
            c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            r = c.read_head()
            self.assertEqual(r.status, 101)
            self.assertEqual(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            self.assertEqual(ws_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            c.send(b"\x00\x01binary\xff")
            self.assertEqual(c.read_exact(9), b"\x00\x01binary\xff")

    def test_wait_release(self):
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        c.request("GET", "/", headers={"x-fake-body-bytes": "200000", "x-fake-wait-release": "1"})
        r = c.getresponse()
        first = r.read(100000)
        self.assertEqual(first, pattern(100000))
        threading.Timer(0.2, self.f.release).start()
        self.assertEqual(first + r.read(), pattern(200000))


class IdleTimeoutTest(unittest.TestCase):
    def test_idle_close(self):
        f = FakeUpstream("idle", idle_timeout=0.2)
        f.start()
        self.addCleanup(f.stop)
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
        self.addCleanup(c.close)
        c.request("GET", "/", headers={"x-fake-response-headers": json.dumps({"Set-Cookie": ["a=1", "b=2"]})})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.msg.get_all("Set-Cookie"), ["a=1", "b=2"])
        hh.wait_until(lambda: f.idle_closes == 1, timeout=3)


class EchoTest(unittest.TestCase):
    def test_echo_half_close(self):
        e = EchoServer()
        e.start()
        self.addCleanup(e.stop)
        s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
        data = bytes(range(256)) * 4096
        t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
        t.start()
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        t.join()
        s.close()
        self.assertEqual(bytes(got), data)


class HarnessTest(unittest.TestCase):
    def test_yaml(self):
        y = hh.to_yaml({"a": {"b": 1, "c": [1, 2]}, "l": [{"x": "y", "z": {"q": True}}, {"n": None}],
                        "e": {}})
        self.assertEqual(y, 'a:\n  b: 1\n  c:\n    - 1\n    - 2\nl:\n  - x: "y"\n    z:\n      q: true\n'
                            '  - n: null\ne: {}')

    def test_metrics(self):
        m = hh.parse_metrics('# HELP x\n# TYPE x counter\nx_total{a="1",b="q\\"z"} 3\nx_total{a="2"} 4\n'
                             'y 5.5\nh_bucket{le="+Inf"} 7\n')
        self.assertEqual(hh.metric_sum(m, "x_total"), 7)
        self.assertEqual(hh.metric_sum(m, "x_total", b='q"z'), 3)
        self.assertEqual(hh.metric_sum(m, "y"), 5.5)
        self.assertEqual(hh.metric_sum(m, "h_bucket", le="+Inf"), 7)


if __name__ == "__main__":
    unittest.main()
