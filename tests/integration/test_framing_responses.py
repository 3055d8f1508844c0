"""Response framing (issue 11, acceptance 1, 3 and 4; defects 4, 6 and 7).

Topology: tests/support/framing_topology.py (one worker per hawser; a raw upstream that
records every byte and answers from a script named by `x-raw-script`).  Entry modes:
plain inbound, plain outbound alias, and outbound alias -> mTLS -> inbound.

* Ambiguous or invalid response framing (CL+TE, two differing CL, TE not ending in
  chunked, an unsolicited 101, more than a bounded number of 1xx): the client gets 502,
  hawser closes that upstream connection (the upstream sees EOF within 3 s; its idle
  timeout is 30 s), and the next request on a NEW client connection (which would reuse
  a pooled upstream connection) gets its own response, never `not-your-answer`.
* Bytes after a complete response (a 204 with a body, more bytes than Content-Length):
  the client gets the response as framed (or 502), the connection is closed, never
  pooled, and the next client gets its own response.
* A close-delimited response reaches an HTTP/1.1 client chunked and complete, and the
  next request on that same client connection gets its own response.
* 103 Early Hints reaches HTTP/1.1 clients as `HTTP/1.1 103 Early Hints` with its Link
  header; no 1xx ever reaches an HTTP/1.0 client.
A control test shows that a normal response's upstream connection IS reused by the next
client, so "never pooled" cannot pass vacuously.
"""

import unittest
import uuid

import hawser_harness as hh
from framing_topology import ENV, MODES, setUpModule  # noqa: F401

RESPONSE_MODES = [m for m in MODES if m.name in ("plain-inbound", "plain-alias", "mtls-alias")]


def _read(conn, timeout=5.0, **kw):
    try:
        return conn.read_response(timeout=timeout, **kw)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return None
    except OSError:
        return None


def get(mode, path, script=None, version="HTTP/1.1", extra=()):
    lines = ["%s %s %s" % ("GET", mode.target(path), version), "Host: %s" % mode.host]
    if script:
        lines.append("x-raw-script: %s" % script)
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class ResponseFraming(unittest.TestCase):
    maxDiff = None

    def uniq(self, mode, what):
        return "/r/%s/%s/%s" % (mode.name, what, uuid.uuid4().hex[:12])

    def upstream_conn_of(self, path):
        reqs = ENV["up"].requests_for(path)
        self.assertEqual(len(reqs), 1, "upstream requests for %s: %r" % (path, reqs))
        return reqs[0]["conn"]

    def next_client_gets_own(self, mode, bad_cid=None):
        """A new client connection: its own response, never a leftover; returns its upstream conn."""
        path = self.uniq(mode, "next")
        with mode.connect() as c:
            c.send(get(mode, path))
            r = _read(c)
        self.assertIsNotNone(r, "the next client got no response")
        self.assertNotIn(b"not-your-answer", r.body, "the next client got the leftover bytes: %r" % r)
        self.assertEqual((r.status, r.header("x-raw-path")), (200, path), "the next client got %r" % r)
        cid = self.upstream_conn_of(path)
        if bad_cid is not None:
            self.assertNotEqual(cid, bad_cid, "the next request was sent on the bad upstream connection")
        return cid

    def logged_status(self, mode, path):
        logger = mode.logger()
        lines = hh.wait_until(lambda: [d for d in logger.access_logs() if d.get("path") == path], timeout=3,
                              message="%s access log for %s" % (logger.name, path))
        self.assertEqual(len(lines), 1, lines)
        return lines[0]["status"]

    # ---- control: pooling happens ----
    def test_control_normal_response_connection_is_reused(self):
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, "control")
                with mode.connect() as c:
                    c.send(get(mode, path))
                    r = _read(c)
                self.assertEqual((r.status, r.header("x-raw-path")), (200, path))
                cid = self.upstream_conn_of(path)
                self.assertEqual(self.next_client_gets_own(mode), cid,
                                 "a normal response's upstream connection was not reused: the 'never pooled' "
                                 "tests below would prove nothing")

    # ---- 502 cases ----
    def _bad_gateway(self, script, extra=()):
        up = ENV["up"]
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, script)
                with mode.connect() as c:
                    c.send(get(mode, path, script, extra=extra))
                    r = _read(c)
                    if r is not None:
                        self.assertNotIn(b"not-your-answer", r.body)
                    self.assertIsNotNone(r, "%s: no response at all" % script)
                    self.assertEqual(r.status, 502, "%s: %r" % (script, r))
                cid = self.upstream_conn_of(path)
                self.assertTrue(up.wait_closed_by_peer(cid, 3.0),
                                "%s: hawser kept the upstream connection open (pooled?)" % script)
                self.assertEqual(self.logged_status(mode, path), 502)
                self.next_client_gets_own(mode, cid)

    def test_cl_and_te_response_is_502(self):
        self._bad_gateway("cl-te")

    def test_two_content_lengths_response_is_502(self):
        self._bad_gateway("two-cl")

    def test_te_identity_then_chunked_response_is_502(self):
        self._bad_gateway("te-identity-chunked")

    def test_te_xchunked_response_is_502(self):
        self._bad_gateway("te-xchunked")

    def test_unsolicited_101_is_502(self):
        self._bad_gateway("unsolicited-101")

    def test_5000_102_processing_is_502(self):
        up = ENV["up"]
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, "many-1xx")
                n_info = 0
                with mode.connect(timeout=20) as c:
                    c.send(get(mode, path, "many-1xx", extra=["x-raw-count: 5000"]))
                    final = None
                    for _ in range(6000):
                        try:
                            h = c.read_head(timeout=10)
                        except (EOFError, ConnectionResetError, OSError):
                            h = None
                        if h is None or not (100 <= h.status < 200):
                            final = h
                            break
                        n_info += 1
                self.assertLess(n_info, 5000, "all 5000 interim responses were relayed")
                self.assertIsNotNone(final, "no final response after %d interim ones" % n_info)
                self.assertEqual(final.status, 502, "%r after %d interim responses" % (final, n_info))
                cid = self.upstream_conn_of(path)
                self.assertTrue(up.wait_closed_by_peer(cid, 3.0), "the 1xx-flooding upstream connection stayed open")
                self.next_client_gets_own(mode, cid)

    # ---- bytes after a complete response ----
    def _leftover(self, script, want_status, want_body):
        up = ENV["up"]
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, script)
                with mode.connect() as c:
                    c.send(get(mode, path, script))
                    r = _read(c)
                    self.assertIsNotNone(r, "%s: no response" % script)
                    self.assertIn(r.status, (want_status, 502), "%s: %r" % (script, r))
                    if r.status == want_status:
                        self.assertEqual(r.body, want_body, "%s: %r" % (script, r))
                    self.assertNotIn(b"not-your-answer", r.body)
                cid = self.upstream_conn_of(path)
                self.assertTrue(up.wait_closed_by_peer(cid, 3.0),
                                "%s: a connection with unexpected bytes was kept (pooled)" % script)
                self.next_client_gets_own(mode, cid)

    def test_204_with_late_body_never_pooled(self):
        self._leftover("late-body-204", 204, b"")

    def test_more_bytes_than_content_length_never_pooled(self):
        self._leftover("extra-after-cl", 200, b"ok")

    # ---- close-delimited ----
    def test_close_delimited_reaches_http11_client_chunked_and_complete(self):
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, "close-delimited")
                with mode.connect() as c:
                    c.send(get(mode, path, "close-delimited"))
                    r = _read(c)
                    self.assertIsNotNone(r)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual((r.header("transfer-encoding") or "").lower(), "chunked",
                                     "a close-delimited response must be re-framed chunked for HTTP/1.1: %r" % r)
                    self.assertIsNone(r.header("content-length"), r)
                    self.assertEqual(r.body, ("path=%s" % path).encode(), "incomplete body: %r" % r)
                    self.assertFalse(c.closed_within(0.05), "the client connection was closed")
                    path2 = self.uniq(mode, "after-close-delimited")
                    c.send(get(mode, path2))
                    r2 = _read(c)
                    self.assertIsNotNone(r2, "no response to the next request on the same connection")
                    self.assertEqual((r2.status, r2.header("x-raw-path"), r2.body),
                                     (200, path2, ("path=%s" % path2).encode()),
                                     "the next request got %r (appended to the first body?)" % r2)

    def test_close_delimited_to_http10_client_is_complete_then_closed(self):
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, "close-delimited-10")
                with mode.connect() as c:
                    c.send(get(mode, path, "close-delimited", version="HTTP/1.0"))
                    r = _read(c)
                    self.assertIsNotNone(r)
                    self.assertEqual(r.status, 200, r)
                    self.assertIsNone(r.header("transfer-encoding"), "chunked sent to an HTTP/1.0 client: %r" % r)
                    self.assertEqual(r.body, ("path=%s" % path).encode(), r)

    # ---- 1xx ----
    def test_103_early_hints_reaches_http11_clients(self):
        for mode in RESPONSE_MODES:
            with self.subTest(mode=mode.name):
                path = self.uniq(mode, "103")
                with mode.connect() as c:
                    c.send(get(mode, path, "early-hints"))
                    h = c.read_head(timeout=5)
                    self.assertIsNotNone(h)
                    self.assertTrue(h.raw_head.startswith(b"HTTP/1.1 103 Early Hints\r\n"),
                                    "103 relayed as %r" % h.raw_head[:80])
                    self.assertEqual(h.header("link"), "</style.css>; rel=preload; as=style", h)
                    r = _read(c)
                    self.assertEqual((r.status, r.header("x-raw-path")), (200, path), r)

    def test_no_1xx_reaches_http10_clients(self):
        for script, extra in (("early-hints", ()), ("many-1xx", ("x-raw-count: 3",))):
            for mode in RESPONSE_MODES:
                with self.subTest(script=script, mode=mode.name):
                    path = self.uniq(mode, "10-" + script)
                    with mode.connect() as c:
                        c.send(get(mode, path, script, version="HTTP/1.0", extra=extra))
                        h = c.read_head(timeout=5)
                        self.assertIsNotNone(h)
                        self.assertFalse(100 <= h.status < 200, "a %d reached an HTTP/1.0 client: %r"
                                         % (h.status, h.raw_head[:80]))
                        self.assertEqual((h.status, h.header("x-raw-path")), (200, path), h)


if __name__ == "__main__":
    unittest.main()
