"""Byte tunnels (issue 2, acceptance 2): CONNECT through the http_proxy listener, and
`protocol: tcp` inbound and outbound listeners, all against a TCP echo server."""

import os
import socket
import threading
import time
import unittest

import hawser_harness as hh
from echo_server import EchoServer

ENV = {}
TIMEOUTS = {"connect": "1s", "request": "15s", "idle": "60s"}


def setUpModule():
    echo = EchoServer()
    echo.start()
    unittest.addModuleCleanup(echo.stop)
    # responder side: tcp inbound -> echo
    resp = hh.Hawser(hh.base_config(
        node={"service": "echo", "namespace": "demo"},
        inbound=[{"name": "echo-in", "listen": "127.0.0.1:0", "app": echo.address, "protocol": "tcp",
                  "timeouts": TIMEOUTS}]), name="tcp-responder")
    unittest.addModuleCleanup(resp.stop)
    resp.start()
    r_in = hh.addr_str(resp.listener("echo-in"))
    dead = hh.free_port()
    # caller side: http_proxy + tcp outbound alias -> responder tcp inbound
    caller = hh.Hawser(hh.base_config(
        node={"service": "caller", "namespace": "demo"},
        outbound={"http_proxy": "127.0.0.1:0", "services": [
            {"name": "echo", "alias": "127.0.0.1:0", "protocol": "tcp", "discovery": {"static": [r_in]},
             "timeouts": TIMEOUTS},
        ]}), name="tcp-caller")
    unittest.addModuleCleanup(caller.stop)
    caller.start()
    ENV.update(echo=echo, resp=resp, caller=caller, inbound=resp.listener("echo-in"),
               alias=caller.listener("echo"), proxy=caller.listener_of_kind("http_proxy"), dead=dead)


def exchange(sock, data, half_close=True, timeout=20):
    """Send data from a thread while reading; optionally half-close; return what came back
    (reading until EOF if half_close, else until len(data) bytes)."""
    sock.settimeout(timeout)
    err = []

    def sender():
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    got = bytearray()
    deadline = time.monotonic() + timeout
    while half_close or len(got) < len(data):
        if time.monotonic() > deadline:
            raise AssertionError("tunnel exchange timed out with %d/%d bytes back" % (len(got), len(data)))
        d = sock.recv(65536)
        if not d:
            break
        got += d
    t.join(timeout)
    if err:
        raise err[0]
    return bytes(got)


def connect_tunnel(proxy, authority, extra=b""):
    c = hh.RawConn(proxy, timeout=10)
    c.send(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority.encode(), authority.encode()) + extra)
    r = c.read_head(timeout=10)
    return c, r


BINARY = bytes(range(256)) * 4096          # 1 MiB, every byte value
RANDOM = os.urandom(256 * 1024)


class Connect(unittest.TestCase):
    def _tunnel(self, authority):
        c, r = connect_tunnel(ENV["proxy"], authority)
        self.addCleanup(c.close)
        self.assertIsNotNone(r, "proxy closed the connection instead of answering CONNECT")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(c.buf, b"", "unexpected bytes after the CONNECT response")
        return c

    def test_connect_passthrough_binary_1mib_both_ways(self):
        c = self._tunnel(ENV["echo"].address)
        self.assertEqual(exchange(c.sock, b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", half_close=False),
                         b"\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        self.assertEqual(exchange(c.sock, RANDOM, half_close=False), RANDOM)
        self.assertEqual(exchange(c.sock, BINARY, half_close=True), BINARY)

    def test_connect_half_close_propagates(self):
        c = self._tunnel(ENV["echo"].address)
        got = exchange(c.sock, b"last words", half_close=True, timeout=10)
        self.assertEqual(got, b"last words")   # echo answered after our FIN, then EOF reached us

    def test_connect_to_service_name(self):
        before = ENV["echo"].stats()["connections"]
        c = self._tunnel("echo:443")           # port ignored for service names
        self.assertEqual(exchange(c.sock, BINARY, half_close=True), BINARY)
        self.assertEqual(ENV["echo"].stats()["connections"] - before, 1)

    def test_connect_bytes_sent_with_request(self):
        # Client pipelines tunnel bytes right behind the CONNECT head.
        c, r = connect_tunnel(ENV["proxy"], ENV["echo"].address, extra=b"early-bytes")
        self.addCleanup(c.close)
        self.assertEqual(r.status, 200)
        got = bytes(c.buf)
        c.buf.clear()
        while len(got) < len(b"early-bytes"):
            got += c.sock.recv(100)
        self.assertEqual(got, b"early-bytes")

    def test_connect_failure(self):
        c, r = connect_tunnel(ENV["proxy"], "127.0.0.1:%d" % ENV["dead"])
        self.addCleanup(c.close)
        self.assertIsNotNone(r)
        self.assertIn(r.status, (502, 503))
        self.assertEqual(r.header("x-hawser-reason"), "upstream-connect-failure")

    def test_concurrent_tunnels(self):
        results, errors = {}, []

        def one(i):
            try:
                c, r = connect_tunnel(ENV["proxy"], ENV["echo"].address)
                try:
                    assert r is not None and r.status == 200, r
                    data = os.urandom(100000) + bytes([i])
                    results[i] = exchange(c.sock, data, half_close=True) == data
                finally:
                    c.close()
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(results, {i: True for i in range(16)})


class TcpMode(unittest.TestCase):
    def _echo(self, addr, data, half_close=True):
        s = socket.create_connection(addr, timeout=10)
        self.addCleanup(s.close)
        return exchange(s, data, half_close=half_close)

    def test_tcp_inbound_echo(self):
        self.assertEqual(self._echo(ENV["inbound"], BINARY), BINARY)

    def test_tcp_outbound_through_inbound_echo(self):
        self.assertEqual(self._echo(ENV["alias"], b"ping", half_close=False), b"ping")
        self.assertEqual(self._echo(ENV["alias"], BINARY), BINARY)

    def test_tcp_interactive_round_trips(self):
        s = socket.create_connection(ENV["alias"], timeout=10)
        self.addCleanup(s.close)
        for i in range(50):
            msg = b"msg-%d\n" % i
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(100)
                self.assertTrue(d, "connection closed mid-conversation")
                got += d
            self.assertEqual(got, msg)

    def test_tcp_not_http_parsed(self):
        junk = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(1000) + b"GARBAGE\r\n\r\n"
        self.assertEqual(self._echo(ENV["alias"], junk), junk)

    def test_tcp_concurrent_connections(self):
        errors = []
        ok = []

        def one(i):
            try:
                s = socket.create_connection(ENV["alias"], timeout=10)
                try:
                    data = os.urandom(50000)
                    ok.append(exchange(s, data) == data)
                finally:
                    s.close()
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(ok, [True] * 20)


if __name__ == "__main__":
    unittest.main()


class ConnectHoldsAConnectionSlot(unittest.TestCase):
    """Issue 11 (12): a CONNECT tunnel holds one of the service's circuit_breaker.max_connections
    while it is open, like any upstream connection; past the limit a tunnel is refused with
    503 overflow, and the slot comes back when the tunnel closes."""

    def test_max_connections_applies_to_tunnels(self):
        h = hh.Hawser(hh.base_config(
            node={"service": "limited-caller", "namespace": "demo"},
            outbound={"http_proxy": "127.0.0.1:0", "passthrough": False, "services": [
                # An HTTP service (circuit breakers are for HTTP services) reached by CONNECT.
                {"name": "echo", "alias": "127.0.0.1:0",
                 "discovery": {"static": [ENV["echo"].address]},
                 "timeouts": {"connect": "300ms", "request": "15s", "idle": "60s"},
                 "circuit_breaker": {"max_connections": 1}},
            ]}), name="tunnel-limit")
        self.addCleanup(h.stop)
        h.start()
        proxy = h.listener_of_kind("http_proxy")
        first, r1 = connect_tunnel(proxy, "echo:7")
        self.assertEqual(r1.status, 200)
        self.assertEqual(exchange(first.sock, b"one", half_close=False), b"one")
        second, r2 = connect_tunnel(proxy, "echo:7")
        second.close()
        self.assertEqual(r2.status, 503, "a second tunnel past max_connections must be refused")
        self.assertEqual(r2.header("x-hawser-reason"), "overflow")
        first.close()
        # The slot comes back once the first tunnel is gone.
        def third_ok():
            c, r = connect_tunnel(proxy, "echo:7")
            c.close()
            return r.status == 200
        hh.wait_until(third_ok, timeout=10, message="a tunnel once the first closed")
