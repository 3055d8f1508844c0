"""Chaos 11 — recovery.

Both endpoints of "responder" go away (their sidecars stop); requests fail fast
with 503.  When the sidecars come back on the same addresses, the caller recovers
by itself — no restart, no reload — and requests succeed again within a few
seconds."""

import time
import unittest

import chaos_common as cc
import hawser_harness as hh

RECOVERY_DEADLINE = 5.0


class Recovery(unittest.TestCase):
    def test_all_endpoints_gone_then_back(self):
        c, ids = cc.certs(self)
        up = cc.fake(self, "app-b")
        tls_r = hh.tls_block(*ids["responder"], c.ca_pem())
        ports = [hh.free_port(), hh.free_port()]

        def responder(port, name):
            cfg = cc.responder_config(tls_r, up.address)
            cfg["inbound"][0]["listen"] = "127.0.0.1:%d" % port
            return cc.start(self, cfg, name)

        rs = [responder(p, "responder-%d" % i) for i, p in enumerate(ports)]
        caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()),
                                                 {"static": ["127.0.0.1:%d" % p for p in ports]}), "caller")
        alias = caller.listener("responder")
        for i in range(4):
            st, h, body = cc.request(alias, "/up/%d" % i)
            self.assertEqual(st, 200, body)

        for r in rs:
            r.stop()
        down = []
        for i in range(5):
            t0 = time.monotonic()
            st, h, body = cc.request(alias, "/down/%d" % i)
            down.append((st, h.get("x-hawser-reason"), time.monotonic() - t0 < 3.0))
        self.assertEqual(down, [(503, "upstream-connect-failure", True)] * 5)
        self.assertTrue(caller.alive())

        back = time.monotonic()
        rs = [responder(p, "responder-back-%d" % i) for i, p in enumerate(ports)]
        first_ok = hh.wait_until(lambda: cc.request(alias, "/recover", timeout=3)[0] == 200 and time.monotonic(),
                                 timeout=RECOVERY_DEADLINE, interval=0.1,
                                 message="a 200 within %ss of the endpoints coming back" % RECOVERY_DEADLINE)
        statuses = [cc.request(alias, "/after/%d" % i)[0] for i in range(20)]
        self.assertEqual(statuses, [200] * 20)
        self.assertLess(first_ok - back, RECOVERY_DEADLINE + 1)
        self.assertEqual(caller.metric("hawser_tls_handshake_errors_total"), 0)


if __name__ == "__main__":
    unittest.main()
