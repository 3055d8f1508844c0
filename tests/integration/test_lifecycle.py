"""Lifecycle (issue 11, part 3): SIGTERM while a CONNECT tunnel, a WebSocket (Upgrade) and a
half-sent request are open.  At the drain timeout hawser closes them and exits 0 — it used to
die with SIGSEGV when the worker's io_context destroyed those sessions after the worker's
connection list was gone.  Run 20 times: the crash was a use-after-free, not every run showed it."""

import os
import re
import socket
import time
import unittest

import hawser_harness as hh

DRAIN = 1.0
RUNS = int(os.environ.get("HAWSER_LIFECYCLE_RUNS", "20"))
ENV = {}


def setUpModule():
    from echo_server import EchoServer
    from fake_upstream import FakeUpstream
    echo = EchoServer()
    echo.start()
    unittest.addModuleCleanup(echo.stop)
    up = FakeUpstream("app")
    up.start()
    unittest.addModuleCleanup(up.stop)
    ENV.update(echo=echo, up=up)


def config():
    return hh.base_config(
        workers=1,
        drain_timeout="%dms" % int(DRAIN * 1000),
        outbound={"http_proxy": "127.0.0.1:0", "services": [
            {"name": "echo", "alias": "127.0.0.1:0", "protocol": "tcp",
             "discovery": {"static": [ENV["echo"].address]}},
            {"name": "app", "alias": "127.0.0.1:0", "protocol": "http",
             "discovery": {"static": [ENV["up"].address]}},
        ]})


def open_byte_stream(addr, head, status, payload):
    """Sends a request head that turns the connection into a byte stream (CONNECT, Upgrade),
    checks the status, and that one payload comes back (both peers echo)."""
    c = hh.RawConn(addr, timeout=10)
    c.send(head)
    r = c.read_head(timeout=10)
    assert r is not None and r.status == status, r
    c.send(payload)
    assert c.read_exact(len(payload), timeout=10) == payload
    return c


def open_tunnel(h):
    return open_byte_stream(h.listener_of_kind("http_proxy"), b"CONNECT echo:7 HTTP/1.1\r\nHost: echo:7\r\n\r\n",
                            200, b"ping")


def open_websocket(h):
    return open_byte_stream(h.listener("app"),
                            b"GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                            101, b"\x81\x05hello")


def open_half_sent(h):
    c = hh.RawConn(h.listener("app"), timeout=10)
    c.send(b"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10)
    return c


class SigtermWithOpenConnections(unittest.TestCase):
    def test_exit_0_at_drain_timeout_every_time(self):
        for run in range(RUNS):
            with self.subTest(run=run):
                self._one_run()

    def _one_run(self):
        h = hh.Hawser(config(), name="lifecycle")
        conns = []
        try:
            h.start()
            conns = [open_tunnel(h), open_websocket(h), open_half_sent(h)]
            # All three are sessions on the worker (the half-sent one is waiting for its body).
            hh.wait_until(lambda: h.metric("hawser_downstream_connections_active") >= 3, timeout=5,
                          message="three open downstream connections")
            t0 = time.monotonic()
            h.sigterm()
            rc = h.wait_exit(DRAIN + 10)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, h._diag())
            # They were open until the drain timeout cut them (not closed early, not hung).
            self.assertGreaterEqual(took, DRAIN - 0.1, h._diag())
            self.assertLess(took, DRAIN + 3, h._diag())
            err = "\n".join(h.stderr.snapshot())
            self.assertNotRegex(err, re.compile("AddressSanitizer|runtime error|LeakSanitizer"), err)
            for c in conns:
                self.assertTrue(c.closed_within(5), "a connection stayed open after hawser exited")
        finally:
            for c in conns:
                c.close()
            h.stop()


if __name__ == "__main__":
    unittest.main()
