"""Chaos 8 — high TLS load.

At least 2,000 fresh mTLS handshakes (Python clients, each: handshake, one request,
close) straight to a strict inbound, plus sustained keep-alive load through a
caller sidecar (pooled mTLS upstream connections), all at once.  Zero errors of any
kind, and no memory growth: after the load, each hawser's RSS settles back within
10% of its RSS measured after a warm-up."""

import http.client
import threading
import time
import unittest

import chaos_common as cc
import hawser_harness as hh

FRESH_THREADS = 8
FRESH_PER_THREAD = 300          # 2,400 fresh handshakes
KEEPALIVE_THREADS = 4
KEEPALIVE_SECONDS = 8.0
WARMUP_PER_THREAD = 60
SETTLE_DEADLINE = 15.0


class HighTlsLoad(unittest.TestCase):
    def setUp(self):
        self.c, self.ids = cc.certs(self)
        self.up = cc.fake(self, "app-b")
        self.responder = cc.start(self, cc.responder_config(
            hh.tls_block(*self.ids["responder"], self.c.ca_pem()), self.up.address,
            allow=[cc.spiffe("caller")]), "responder")
        self.r_in = self.responder.listener("app")
        self.caller = cc.start(self, cc.caller_config(hh.tls_block(*self.ids["caller"], self.c.ca_pem()),
                                                      {"static": [hh.addr_str(self.r_in)]}), "caller")
        self.alias = self.caller.listener("responder")
        self.ctx = hh.client_ssl_context(self.c.ca_pem(), *self.ids["caller"])

    def fresh(self, n, errors, counter):
        for i in range(n):
            try:
                st, h, body = hh.tls_request(self.r_in, self.ctx, "GET", "/fresh/%d" % i,
                                             headers={"Host": "responder", "Connection": "close"})
                if st != 200:
                    errors.append("fresh status %d %r" % (st, body[:100]))
            except Exception as e:  # noqa: BLE001
                errors.append("fresh %r" % (e,))
            counter.append(1)

    def keepalive(self, until, errors, counter):
        conn = http.client.HTTPConnection(*self.alias, timeout=10)
        try:
            i = 0
            while time.monotonic() < until:
                i += 1
                try:
                    conn.request("GET", "/ka/%d" % i, headers={"Host": "responder"})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append("keep-alive status %d" % r.status)
                    if r.will_close:
                        errors.append("keep-alive connection closed by the proxy")
                        conn.close()
                except Exception as e:  # noqa: BLE001
                    errors.append("keep-alive %r" % (e,))
                    conn.close()
                counter.append(1)
        finally:
            conn.close()

    def rss(self):
        return {h.name: hh.rss_kib(h.proc.pid) for h in (self.responder, self.caller)}

    def test_2000_handshakes_and_keepalive_no_errors_no_growth(self):
        # Warm-up with the same concurrency as the load, so allocator arenas, session caches
        # and pools exist before "before" is measured (growth beyond that is what counts).
        errors, fresh_n, ka_n = [], [], []
        warm = [threading.Thread(target=self.fresh, args=(WARMUP_PER_THREAD, errors, fresh_n))
                for _ in range(FRESH_THREADS)]
        warm += [threading.Thread(target=self.keepalive, args=(time.monotonic() + 2.0, errors, ka_n))
                 for _ in range(KEEPALIVE_THREADS)]
        for t in warm:
            t.start()
        for t in warm:
            t.join(60)
        self.assertEqual(errors, [])
        time.sleep(1.0)
        before = self.rss()
        hs_before = self.responder.metric("hawser_tls_handshake_errors_total")

        errors, fresh_n, ka_n = [], [], []
        t0 = time.monotonic()
        threads = [threading.Thread(target=self.fresh, args=(FRESH_PER_THREAD, errors, fresh_n))
                   for _ in range(FRESH_THREADS)]
        threads += [threading.Thread(target=self.keepalive, args=(t0 + KEEPALIVE_SECONDS, errors, ka_n))
                    for _ in range(KEEPALIVE_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive(), "a load thread did not finish")
        elapsed = time.monotonic() - t0
        peak = self.rss()

        self.assertEqual(errors[:10], [], "%d errors" % len(errors))
        self.assertGreaterEqual(len(fresh_n), 2000)
        self.assertGreaterEqual(len(ka_n), 500)
        self.assertEqual(self.responder.metric("hawser_tls_handshake_errors_total"), hs_before)
        self.assertEqual(self.caller.metric("hawser_tls_handshake_errors_total"), 0)
        self.assertTrue(self.responder.alive() and self.caller.alive())

        def settled():
            now = self.rss()
            return all(now[k] <= before[k] * 1.10 for k in before) and now
        try:
            after = hh.wait_until(settled, timeout=SETTLE_DEADLINE, interval=0.5,
                                  message="RSS back within 10% of before")
        except AssertionError:
            raise AssertionError("RSS KiB before=%r peak=%r now=%r (load: %d fresh, %d keep-alive in %.1fs)"
                                 % (before, peak, self.rss(), len(fresh_n), len(ka_n), elapsed)) from None
        print("\nRSS KiB before=%r peak=%r after=%r; %d fresh handshakes + %d keep-alive requests in %.1fs"
              % (before, peak, after, len(fresh_n), len(ka_n), elapsed))


if __name__ == "__main__":
    unittest.main()
