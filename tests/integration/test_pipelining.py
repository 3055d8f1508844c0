"""Pipelined requests and the read ahead (issue 11: the request path reads the client's
next bytes while an exchange waits for its upstream).

Topology: tests/support/framing_topology.py, every entry mode (plaintext inbound, alias
and proxy; mTLS straight to the inbound; alias -> mTLS -> inbound).

* Two and three requests in one write: each gets its own response, in order, on the same
  client connection, and the upstream sees each exactly once.
* A second request sent while the first waits on a slow upstream (it arrives through the
  read ahead): the first's response comes first and whole, then the second's; the
  upstream saw the second only after it had answered the first (one at a time).
* A client that half-sends its next request while the first waits, then finishes it: both
  answered in order (the read ahead kept the partial head).
* A kept-alive connection idle long enough to give back its buffers (issue 13) serves its
  next requests whole: a response head larger than the 4 KiB read step, then a chunked one.
"""

import time
import unittest
import uuid

import hawser_harness as hh
from framing_topology import ENV, MODES, setUpModule  # noqa: F401


def request(mode, path, extra=()):
    lines = ["GET %s HTTP/1.1" % mode.target(path), "Host: %s" % mode.host] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Pipelining(unittest.TestCase):
    def paths(self, mode, what, n):
        tag = uuid.uuid4().hex[:10]
        return ["/pipe/%s/%s/%s/%d" % (mode.name, what, tag, i) for i in range(n)]

    def first_waits_upstream(self, c, mode, path, delay_ms):
        """Sends a request the upstream answers after `delay_ms`; returns once it is upstream."""
        c.send(request(mode, path, ["x-raw-script: slow", "x-raw-delay-ms: %d" % delay_ms]))
        hh.wait_until(lambda: ENV["up"].requests_for(path), timeout=5,
                      message="the first request upstream (precondition)")

    def check_in_order(self, c, paths):
        for p in paths:
            r = c.read_response(timeout=5)
            self.assertIsNotNone(r, "no response for %s" % p)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, ("path=%s" % p).encode(), "responses out of order or mixed up")
        for p in paths:
            self.assertEqual(len(ENV["up"].requests_for(p)), 1, "upstream requests for %s" % p)

    def test_requests_in_one_write(self):
        for mode in MODES:
            for n in (2, 3):
                with self.subTest(mode=mode.name, n=n):
                    paths = self.paths(mode, "one-write", n)
                    with mode.connect() as c:
                        c.send(b"".join(request(mode, p) for p in paths))
                        self.check_in_order(c, paths)

    def test_next_request_while_first_waits(self):
        for mode in MODES:
            with self.subTest(mode=mode.name):
                first, second = self.paths(mode, "while-waiting", 2)
                with mode.connect() as c:
                    self.first_waits_upstream(c, mode, first, 400)
                    c.send(request(mode, second))
                    r1 = c.read_response(timeout=5)
                    self.assertIsNotNone(r1)
                    self.assertEqual((r1.status, r1.body), (200, ("path=%s" % first).encode()), r1)
                    r2 = c.read_response(timeout=5)
                    self.assertIsNotNone(r2)
                    self.assertEqual((r2.status, r2.body), (200, ("path=%s" % second).encode()), r2)
                self.assertEqual(len(ENV["up"].requests_for(second)), 1)

    def test_requests_after_the_idle_connection_released_its_buffers(self):
        idle_s = 1.5  # past HttpConnection::kReleaseBuffersAfter (1 s): the idle time is the case
        for mode in MODES:
            with self.subTest(mode=mode.name):
                first, big, chunked = self.paths(mode, "after-idle", 3)
                with mode.connect() as c:
                    c.send(request(mode, first))
                    r = c.read_response(timeout=5)
                    self.assertEqual((r.status, r.body), (200, ("path=%s" % first).encode()), r)
                    time.sleep(idle_s)
                    c.send(request(mode, big, ["x-raw-script: big-head", "x-raw-count: 12000"]))
                    r = c.read_response(timeout=5)
                    self.assertIsNotNone(r)
                    self.assertEqual((r.status, r.body), (200, ("path=%s" % big).encode()), r)
                    self.assertEqual(len(r.header("x-raw-pad", "")), 12000)
                    c.send(request(mode, chunked, ["x-raw-script: chunked"]))
                    r = c.read_response(timeout=5)
                    self.assertIsNotNone(r)
                    self.assertEqual((r.status, r.body), (200, ("path=%s" % chunked).encode()), r)

    def test_partial_next_head_while_first_waits(self):
        for mode in MODES:
            with self.subTest(mode=mode.name):
                first, second = self.paths(mode, "partial", 2)
                with mode.connect() as c:
                    self.first_waits_upstream(c, mode, first, 300)
                    whole = request(mode, second)
                    c.send(whole[:10])
                    r1 = c.read_response(timeout=5)
                    self.assertIsNotNone(r1)
                    self.assertEqual(r1.status, 200, r1)
                    time.sleep(0.05)  # the rest of the head comes later (no condition to wait on)
                    c.send(whole[10:])
                    r2 = c.read_response(timeout=5)
                    self.assertIsNotNone(r2)
                    self.assertEqual((r2.status, r2.body), (200, ("path=%s" % second).encode()), r2)


if __name__ == "__main__":
    unittest.main()
