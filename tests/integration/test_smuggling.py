"""Request smuggling and request framing (issue 11, acceptance 1 and 2; defects 1, 2, 3, 5, 8).

Topology (all on 127.0.0.1, ephemeral ports, one worker per hawser so that a pooled
upstream connection is shared by every client connection, as in the defect report):

    raw client --plaintext--> edge hawser  inbound "app" ----------------------> raw upstream
                                           outbound alias "svc" (tls disabled) -> raw upstream
                                           http_proxy (http://svc/...) -------> raw upstream
    raw TLS client (caller's workload cert) --mTLS--> responder hawser inbound "app" -> raw upstream
    raw client --plaintext--> caller hawser alias "responder" ==mTLS==> responder inbound -> raw upstream

The raw upstream (tests/support/raw_upstream.py) records the exact bytes of every
connection and parses them by the framing it was given.  Every case is run in every
entry mode it applies to (a subTest per mode) and must end in one of two ways:

  rejected   the client gets a 400 (501 where noted: an unknown transfer coding), the
             connection closes, and the upstream received nothing of the request;
  forwarded  the upstream received exactly one request with the case's marker, with
             exactly ONE framing line (one Content-Length, or Transfer-Encoding: chunked),
             the body the case allows, and the hawser nearest to the upstream logged that
             request once (method, path, status 200, bytes_received = body length);
             the next request on the same client connection gets its own response.

In both ways: no request hidden in the body (`/smuggled/<marker>`, which carries a
forged x-forwarded-client-cert) ever reaches the upstream as a request.

Decisions documented here:
  * `Content-Length: 5, 5` and two `Content-Length: 5` lines (RFC 9110 §8.6 allows a
    recipient to fold identical values): forwarded as ONE `Content-Length: 5`, or 400.
    Differing values: 400 only.
  * CL+TE (RFC 9112 §6.1 allows processing by TE alone): 400, or forwarded with one
    framing line and the connection closed after the response.  Same for TE on HTTP/1.0.
  * A transfer coding hawser does not know whose last coding is chunked
    (`identity` then `chunked`): 400 or 501 (RFC 9112 §6.1).  Chunked not last: 400 only.
  * Absolute-form target whose host differs from Host on http_proxy: 400, or forwarded
    with exactly one Host line equal to the target's host (RFC 9112 §3.2.2 rewrite).
  * `Upgrade: h2c`: refused (4xx) or forwarded as a plain request without Upgrade /
    HTTP2-Settings; never a 101 tunnel.
"""

import select
import socket
import time
import unittest
import uuid

import hawser_harness as hh
from raw_upstream import RawUpstream

from framing_topology import (ENV, FORGED_XFCC, LIMITS, MODES, PLAIN, TIMEOUTS, VERIFIED_XFCC,  # noqa: F401
                              setUpModule)


def smuggled(marker):
    return ("GET /smuggled/%s HTTP/1.1\r\nHost: x\r\nx-forwarded-client-cert: %s\r\n\r\n"
            % (marker, FORGED_XFCC)).encode()


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


# --------------------------------------------------------------------------------------
# request cases
#
# build(ctx) -> raw request bytes; ctx has target, host, marker, smug (the smuggled request).
# outcomes: subset of {"reject", "forward"}; body(ctx) -> the body a forwarded request must
# carry; reject_status: allowed statuses of a rejection; close: a forwarded request must be
# followed by the client connection closing; modes: names the case applies to;
# check(tc, ctx, mode, req): extra assertions on the forwarded request.

def head(ctx, lines, method="POST", version="HTTP/1.1", host=True):
    out = "%s %s %s\r\n" % (method, ctx["target"], version)
    if host:
        out += "Host: %s\r\n" % ctx["host"]
    for l in lines:
        out += l + "\r\n"
    return (out + "\r\n").encode("latin-1")


def header_values(req, name):
    return [v for k, v in req["headers"] if k.strip().lower() == name]


def _check_xfcc(tc, ctx, mode, req):
    vals = header_values(req, "x-forwarded-client-cert")
    for v in vals:
        tc.assertNotIn("spiffe://demo/admin", v, "a forged XFCC reached the app: %r" % vals)
    if mode.verified():
        tc.assertEqual(vals, [VERIFIED_XFCC], "the app must get exactly the XFCC hawser set")
    elif mode.inbound():
        tc.assertEqual(vals, [], "plaintext inbound: no XFCC may reach the app")


def _check_xfp(tc, ctx, mode, req):
    tc.assertEqual(header_values(req, "x-forwarded-proto"), ["http"],
                   "a client-set X-Forwarded-Proto: https survived on a plaintext listener")


def _check_no_upgrade(tc, ctx, mode, req):
    tc.assertEqual(header_values(req, "upgrade"), [], "Upgrade: h2c forwarded")
    tc.assertEqual(header_values(req, "http2-settings"), [], "HTTP2-Settings forwarded")
    for v in header_values(req, "connection"):
        tc.assertNotIn("upgrade", v.lower())
    _check_xfcc(tc, ctx, mode, req)


def _check_host(tc, ctx, mode, req):
    tc.assertEqual(header_values(req, "host"), [mode.host], "Host must be the target's host, once")


def case(build, outcomes, body=lambda c: b"", reject_status=(400,), close=False, modes=None, check=None):
    return dict(build=build, outcomes=set(outcomes), body=body, reject_status=set(reject_status), close=close,
                modes=modes, check=check)


CB = lambda c: chunk(b"hello") + b"0\r\n\r\n"        # noqa: E731 - a chunked "hello"
SMUG_CHUNKED = lambda c: chunk(c["smug"]) + b"0\r\n\r\n"  # noqa: E731


CASES = {
    # --- baselines: a request hidden in a correctly framed body stays a body ---
    "cl_body_holding_a_request": case(
        lambda c: head(c, ["Content-Length: %d" % len(c["smug"])]) + c["smug"], {"forward"},
        body=lambda c: c["smug"]),
    "chunked_body_holding_a_request": case(
        lambda c: head(c, ["Transfer-Encoding: chunked"]) + SMUG_CHUNKED(c), {"forward"},
        body=lambda c: c["smug"]),
    "chunk_extension_and_trailer_legal": case(
        lambda c: head(c, ["Transfer-Encoding: chunked"]) + b"5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
        {"forward"}, body=lambda c: b"hello"),
    "te_tab_ows_is_legal": case(
        lambda c: head(c, ["Transfer-Encoding:\tchunked"]) + CB(c), {"forward"}, body=lambda c: b"hello"),
    "te_trailing_ows_is_legal": case(
        lambda c: head(c, ["Transfer-Encoding: chunked \t"]) + CB(c), {"forward"}, body=lambda c: b"hello"),
    "te_uppercase_is_legal": case(
        lambda c: head(c, ["Transfer-Encoding: CHUNKED"]) + CB(c), {"forward"}, body=lambda c: b"hello"),
    "cl_ows_is_legal": case(
        lambda c: head(c, ["Content-Length: \t5 "]) + b"hello", {"forward"}, body=lambda c: b"hello"),

    # --- classic CL.TE / TE.CL ---
    "cl_te": case(
        lambda c: head(c, ["Content-Length: %d" % (5 + len(c["smug"])), "Transfer-Encoding: chunked"])
        + b"0\r\n\r\n" + c["smug"], {"reject", "forward"}, close=True),
    "te_cl": case(
        lambda c: head(c, ["Transfer-Encoding: chunked", "Content-Length: 4"]) + SMUG_CHUNKED(c),
        {"reject", "forward"}, body=lambda c: c["smug"], close=True),

    # --- TE.TE: obfuscated Transfer-Encoding ---
    "te_identity_then_chunked_two_lines": case(   # defect 1
        lambda c: head(c, ["Transfer-Encoding: identity", "Transfer-Encoding: chunked"]) + SMUG_CHUNKED(c),
        {"reject"}, reject_status=(400, 501)),
    "te_chunked_then_identity_two_lines": case(
        lambda c: head(c, ["Transfer-Encoding: chunked", "Transfer-Encoding: identity"]) + SMUG_CHUNKED(c),
        {"reject"}),
    "te_chunked_comma_identity": case(
        lambda c: head(c, ["Transfer-Encoding: chunked, identity"]) + SMUG_CHUNKED(c), {"reject"}),
    "te_xchunked": case(
        lambda c: head(c, ["Transfer-Encoding: xchunked"]) + SMUG_CHUNKED(c), {"reject"}),
    "te_obs_fold_identity_chunked": case(
        lambda c: head(c, ["Transfer-Encoding: identity", " chunked"]) + SMUG_CHUNKED(c),
        {"reject"}, reject_status=(400, 501)),
    "te_space_before_colon": case(
        lambda c: head(c, ["Transfer-Encoding : chunked"]) + SMUG_CHUNKED(c), {"reject"}),
    "te_vertical_tab": case(
        lambda c: head(c, ["Transfer-Encoding:\x0bchunked"]) + SMUG_CHUNKED(c), {"reject"}),
    "te_chunked_twice": case(
        lambda c: head(c, ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"]) + SMUG_CHUNKED(c),
        {"reject"}),
    "te_on_http10": case(
        lambda c: head(c, ["Transfer-Encoding: chunked"], version="HTTP/1.0") + SMUG_CHUNKED(c),
        {"reject", "forward"}, body=lambda c: c["smug"], close=True),
    "chunk_size_overflow": case(
        lambda c: head(c, ["Transfer-Encoding: chunked"]) + b"1" + b"0" * 16 + b"5\r\nhello\r\n0\r\n\r\n",
        {"reject"}),
    "chunk_size_leading_plus": case(
        lambda c: head(c, ["Transfer-Encoding: chunked"]) + b"+5\r\nhello\r\n0\r\n\r\n", {"reject"}),

    # --- Content-Length ---
    "cl_two_lines_different": case(
        lambda c: head(c, ["Content-Length: 5", "Content-Length: %d" % (5 + len(c["smug"]))]) + b"hello" + c["smug"],
        {"reject"}),
    "cl_two_lines_identical": case(
        lambda c: head(c, ["Content-Length: 5", "Content-Length: 5"]) + b"hello", {"reject", "forward"},
        body=lambda c: b"hello"),
    "cl_list_identical": case(
        lambda c: head(c, ["Content-Length: 5, 5"]) + b"hello", {"reject", "forward"}, body=lambda c: b"hello"),
    "cl_list_different": case(
        lambda c: head(c, ["Content-Length: 5, %d" % (5 + len(c["smug"]))]) + b"hello" + c["smug"], {"reject"}),
    "cl_plus_sign": case(lambda c: head(c, ["Content-Length: +5"]) + b"hello", {"reject"}),
    "cl_minus_sign": case(lambda c: head(c, ["Content-Length: -5"]) + b"hello", {"reject"}),
    "cl_hex": case(lambda c: head(c, ["Content-Length: 0x5"]) + b"hello", {"reject"}),
    "cl_inner_space": case(lambda c: head(c, ["Content-Length: 5 0"]) + b"hello" * 10, {"reject"}),
    "cl_trailing_junk": case(lambda c: head(c, ["Content-Length: 5abc"]) + b"hello", {"reject"}),
    "cl_overflow": case(lambda c: head(c, ["Content-Length: 99999999999999999999999"]) + b"hello",
                        {"reject"}, reject_status=(400, 413)),

    # --- Host (RFC 9112 §3.2) ---
    "no_host": case(lambda c: head(c, [], method="GET", host=False), {"reject"}),
    "two_host_lines": case(lambda c: head(c, ["Host: other.example"], method="GET"), {"reject"}),
    "absolute_form_host_mismatch": case(
        lambda c: ("GET %s HTTP/1.1\r\nHost: other.example\r\n\r\n" % c["target"]).encode(),
        {"reject", "forward"}, modes=("plain-proxy",), check=_check_host),

    # --- headers hawser vouches for ---
    "connection_nominates_xfcc": case(   # defect 5
        lambda c: head(c, ["Connection: keep-alive, x-forwarded-client-cert",
                           "x-forwarded-client-cert: %s" % FORGED_XFCC], method="GET"),
        {"forward"}, check=_check_xfcc),
    "forged_xfcc_replaced": case(
        lambda c: head(c, ["x-forwarded-client-cert: %s" % FORGED_XFCC], method="GET"), {"forward"},
        check=_check_xfcc),
    "forged_x_forwarded_proto_on_plaintext": case(
        lambda c: head(c, ["X-Forwarded-Proto: https"], method="GET"), {"forward"}, modes=PLAIN, check=_check_xfp),
    "upgrade_h2c_is_not_a_tunnel": case(
        lambda c: head(c, ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__",
                           "x-raw-script: h2c", "x-forwarded-client-cert: %s" % FORGED_XFCC], method="GET"),
        {"reject", "forward"}, reject_status=tuple(range(400, 500)), check=_check_no_upgrade),
}


# --------------------------------------------------------------------------------------

def _read(conn, timeout=2.5):
    try:
        return conn.read_response(timeout=timeout)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return None
    except OSError:
        return None


class RequestFraming(unittest.TestCase):
    maxDiff = None

    def run_case(self, name, mode):
        spec = CASES[name]
        up = ENV["up"]
        marker = uuid.uuid4().hex[:12]
        path = "/c/%s/%s/%s" % (mode.name, name, marker)
        ctx = {"target": mode.target(path), "host": mode.host, "marker": marker, "smug": smuggled(marker)}
        raw = spec["build"](ctx)
        logger = mode.logger()
        log_before = hh.access_log_count(logger)

        conn = mode.connect()
        self.addCleanup(conn.close)
        try:
            conn.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = _read(conn)
        if resp is not None and resp.status == 101:
            # A tunnel opened: show what it lets through (a request with a forged XFCC).
            try:
                conn.send(ctx["smug"])
                hh.wait_until(lambda: up.requests_for("/smuggled/" + marker), timeout=2,
                              message="the smuggled request through the 101 tunnel")
            except (OSError, AssertionError):
                pass
            self.fail("%s: hawser answered 101 and opened a tunnel (%d smuggled requests reached the app)"
                      % (name, len(up.requests_for("/smuggled/" + marker))))

        forwarded = resp is not None and resp.status == 200
        if not forwarded:
            self.assertIn("reject", spec["outcomes"],
                          "%s: must be forwarded, got %r; upstream saw %r" % (name, resp, up.requests_for(marker)))
            self.assertIsNotNone(resp, "%s: the connection closed without a 400" % name)
            self.assertIn(resp.status, spec["reject_status"], "%s: %r" % (name, resp))
            self.assertTrue(conn.closed_within(2.0), "%s: connection left open after %d" % (name, resp.status))
            self.assertEqual(up.requests_for(marker), [], "%s: rejected, yet the upstream received it" % name)
            self.assertFalse(up.raw_contains(marker.encode()),
                             "%s: rejected, yet bytes of it reached the upstream" % name)
            return

        self.assertIn("forward", spec["outcomes"], "%s: must be rejected with %s, got %r; upstream saw %r" % (
            name, sorted(spec["reject_status"]), resp, up.requests_for(marker)))
        self.assertEqual(resp.header("x-raw-path"), path, "%s: the client got someone else's response: %r" % (name, resp))
        got = [r for r in up.requests_for(marker) if "/smuggled/" not in r["target"]]
        self.assertEqual(len(got), 1, "%s: upstream saw %r" % (name, got))
        req = got[0]
        want_body = spec["body"](ctx)
        framing = [(k.strip().lower(), v.strip().lower()) for k, v in req["framing"]]
        if want_body:
            self.assertIn(framing, ([("content-length", str(len(want_body)))], [("transfer-encoding", "chunked")]),
                          "%s: the upstream needs exactly one framing line; got %r" % (name, req["framing"]))
        else:
            self.assertIn(framing, ([], [("content-length", "0")], [("transfer-encoding", "chunked")]),
                          "%s: bodyless request with framing %r" % (name, req["framing"]))
        self.assertEqual(req["body"], want_body, "%s: body the upstream got" % name)
        if spec["check"]:
            spec["check"](self, ctx, mode, req)

        # The request hawser logged is the request the upstream got.
        lines = hh.wait_until(lambda: [d for d in hh.access_lines_since(logger, log_before) if d.get("path") == path],
                              timeout=3, message="%s access log line for %s" % (logger.name, path))
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual((lines[0]["method"], lines[0]["status"], lines[0]["bytes_received"]),
                         (req["method"], 200, len(req["body"])), "%s: access log vs upstream" % name)

        # Nothing queued behind: the next request on this connection gets its own answer.
        if spec["close"]:
            self.assertTrue(conn.closed_within(2.0), "%s: hawser must close the connection after this" % name)
        elif not conn.closed_within(0.05):
            probe = "/probe/%s" % marker
            conn.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (mode.target(probe), mode.host)).encode())
            r2 = _read(conn)
            self.assertIsNotNone(r2, "%s: no answer to the follow-up request" % name)
            self.assertEqual((r2.status, r2.header("x-raw-path")), (200, probe),
                             "%s: the follow-up request got %r" % (name, r2))
        self.assertEqual(up.requests_for("/smuggled/" + marker), [], "%s: smuggled request reached the app" % name)

    def _run(self, name):
        modes = CASES[name]["modes"]
        ran = 0
        for mode in MODES:
            if modes is not None and mode.name not in modes:
                continue
            with self.subTest(mode=mode.name):
                self.run_case(name, mode)
            ran += 1
        self.assertGreater(ran, 0)
        # Whatever happened, no smuggled request and every hawser alive.
        for h in (ENV["edge"], ENV["responder"], ENV["caller"]):
            self.assertTrue(h.alive(), h.name)


def _make(name):
    def t(self):
        self._run(name)
    t.__name__ = "test_" + name
    return t


for _name in CASES:
    setattr(RequestFraming, "test_" + _name, _make(_name))


class CrossClientSmuggling(unittest.TestCase):
    """Defect 1: a request smuggled by client A must never reach the upstream as a request
    of its own, nor give client B (another connection, same pooled upstream connection)
    its response.  Every response carries the path it answers (x-raw-path)."""

    PAYLOADS = {
        "te_identity_then_chunked": lambda c: head(c, ["Transfer-Encoding: identity", "Transfer-Encoding: chunked"])
        + SMUG_CHUNKED(c),
        "te_chunked_comma_identity": lambda c: head(c, ["Transfer-Encoding: chunked, identity"]) + SMUG_CHUNKED(c),
        "te_xchunked": lambda c: head(c, ["Transfer-Encoding: xchunked"]) + SMUG_CHUNKED(c),
        "te_obs_fold": lambda c: head(c, ["Transfer-Encoding: identity", " chunked"]) + SMUG_CHUNKED(c),
        "cl_te": lambda c: head(c, ["Content-Length: %d" % (5 + len(c["smug"])), "Transfer-Encoding: chunked"])
        + b"0\r\n\r\n" + c["smug"],
        "te_cl": lambda c: head(c, ["Transfer-Encoding: chunked", "Content-Length: 4"]) + SMUG_CHUNKED(c),
    }

    def test_cross_client(self):
        up = ENV["up"]
        for pname, build in self.PAYLOADS.items():
            for mode in MODES:
                with self.subTest(payload=pname, mode=mode.name):
                    marker = uuid.uuid4().hex[:12]
                    a_path = "/a/%s/%s" % (pname, marker)
                    ctx = {"target": mode.target(a_path), "host": mode.host, "marker": marker, "smug": smuggled(marker)}
                    a = mode.connect()
                    self.addCleanup(a.close)
                    try:
                        a.send(build(ctx))
                    except OSError:
                        pass
                    ra = _read(a)
                    b_path = "/b/%s/%s" % (pname, marker)
                    b = mode.connect()
                    self.addCleanup(b.close)
                    b.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (mode.target(b_path), mode.host)).encode())
                    rb = _read(b)
                    self.assertIsNotNone(rb, "client B got no response")
                    self.assertEqual((rb.status, rb.header("x-raw-path")), (200, b_path),
                                     "client B got %r (A got %r)" % (rb, ra))
                    if ra is not None and ra.status == 200:
                        self.assertEqual(ra.header("x-raw-path"), a_path, "client A got %r" % ra)
                    self.assertEqual(up.requests_for("/smuggled/" + marker), [],
                                     "the smuggled request (forged XFCC) reached the app as a request")
                    self.assertEqual(len(up.requests_for(b_path)), 1)


# --------------------------------------------------------------------------------------
# acceptance 2: unbounded chunk-size lines and trailers

RSS_LIMIT_KIB = 64 * 1024


class UnboundedChunkMetadata(unittest.TestCase):
    """200 MiB of chunk extension, and 100 MB of trailers, on one connection: rejected
    (a 4xx or the connection closed), and hawser's RSS stays under 64 MiB throughout
    (VmRSS sampled while sending)."""

    @classmethod
    def setUpClass(cls):
        cls.up = RawUpstream("rss-app").start()
        cls.addClassCleanup(cls.up.stop)
        cls.h = hh.start_hawser(cls, hh.base_config(
            workers=1, limits=dict(LIMITS),
            inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": cls.up.address, "protocol": "http",
                      "timeouts": TIMEOUTS}]), name="rss", class_level=True)

    def _flood(self, prefix, block, total):
        pid = self.h.proc.pid
        base = hh.rss_kib(pid)
        peak = base
        sent = 0
        closed = False
        status = None
        with hh.RawConn(self.h.listener("app"), timeout=10) as c:
            c.send(prefix)
            deadline = time.monotonic() + 60
            while sent < total and time.monotonic() < deadline:
                try:
                    c.sock.settimeout(5)
                    c.sock.sendall(block)
                except socket.timeout:   # hawser stopped reading: not a rejection by itself
                    break
                except OSError:          # reset / broken pipe: hawser closed the connection
                    closed = True
                    break
                sent += len(block)
                peak = max(peak, hh.rss_kib(pid))
                r, _, _ = select.select([c.sock], [], [], 0)
                if r:     # hawser answered (or closed) already
                    break
            peak = max(peak, hh.rss_kib(pid))
            if not closed:
                try:
                    resp = c.read_response(timeout=3)
                    status = resp.status if resp is not None else None
                    closed = resp is None or c.closed_within(2.0)
                except socket.timeout:   # neither an answer nor a close: not rejected
                    pass
                except (EOFError, OSError):
                    closed = True
        peak = max(peak, hh.rss_kib(pid))
        self.assertTrue(self.h.alive(), "hawser died")
        return dict(base=base, peak=peak, sent=sent, closed=closed, status=status)

    def _check(self, what, r):
        self.assertTrue(r["closed"] or (r["status"] is not None and 400 <= r["status"] < 500),
                        "%s: not rejected: %r" % (what, r))
        if r["status"] is not None:
            self.assertTrue(400 <= r["status"] < 500, "%s: %r" % (what, r))
        # The bound is 64 MiB of RSS for a release build (which idles near 12 MiB). A sanitizer
        # build's shadow memory alone is ~200 MiB, so there only the growth is bounded: by what
        # the 64 MiB leaves above the release build's idle size.
        msg = "%s: RSS reached %d KiB (from %d KiB; %d MiB sent)" % (what, r["peak"], r["base"], r["sent"] >> 20)
        self.assertLess(r["peak"] - r["base"], RSS_LIMIT_KIB - 16 * 1024, msg)
        if r["base"] < RSS_LIMIT_KIB // 2:
            self.assertLess(r["peak"], RSS_LIMIT_KIB, msg)
        # Still serving.
        st, _, body = hh.http_request(self.h.listener("app"), "GET", "/after-flood", headers={"Host": "app"})
        self.assertEqual(st, 200)

    def test_chunk_extension_200_mib(self):
        prefix = b"POST /flood/ext HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="
        r = self._flood(prefix, b"a" * (1 << 20), 200 << 20)
        self._check("200 MiB chunk extension", r)

    def test_chunk_size_line_200_mib(self):
        prefix = b"POST /flood/size HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n"
        r = self._flood(prefix, b"0" * (1 << 20), 200 << 20)
        self._check("200 MiB of chunk-size zeros", r)

    def test_trailers_100_mb(self):
        prefix = b"POST /flood/trailers HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        line = b"X-Trailer-Field: " + b"t" * 1000 + b"\r\n"
        block = line * ((1 << 20) // len(line))
        r = self._flood(prefix, block, 100 * 1000 * 1000)
        self._check("100 MB of trailers", r)


if __name__ == "__main__":
    unittest.main()
