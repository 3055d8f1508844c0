"""Chaos 7 — backend unavailability.

"responder" has two endpoints (two responder sidecars, strict mTLS).  Under load
through the caller, one of them is killed (SIGKILL: every socket closes at once).
Requests keep succeeding on the other endpoint; the only failures allowed are
requests that were in flight at the moment of the kill (connect failures and dead
pooled connections are retried on the other endpoint)."""

import signal
import time
import unittest

import chaos_common as cc
import hawser_harness as hh

LOOPS = 4
SLACK = 0.05   # seconds after the kill during which a request may still count as "in flight"


class BackendUnavailable(unittest.TestCase):
    def test_one_of_two_endpoints_dies_mid_load(self):
        c, ids = cc.certs(self)
        up_a, up_b = cc.fake(self, "app-a"), cc.fake(self, "app-b")
        tls_r = hh.tls_block(*ids["responder"], c.ca_pem())
        ra = cc.start(self, cc.responder_config(tls_r, up_a.address), "responder-a")
        rb = cc.start(self, cc.responder_config(tls_r, up_b.address), "responder-b")
        eps = [hh.addr_str(ra.listener("app")), hh.addr_str(rb.listener("app"))]
        caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()), {"static": eps},
                                                 extra_service={"load_balancer": "round_robin"}), "caller")
        alias = caller.listener("responder")

        loops = [hh.LoadLoop(alias, headers={"Host": "responder"}, timeout=10).start() for _ in range(LOOPS)]
        try:
            hh.wait_until(lambda: sum(1 for l in loops for r in l.snapshot() if r["instance"] == "app-b") >= 20,
                          timeout=10, message="load spread over app-b")
            kill_at = time.monotonic()
            rb.proc.send_signal(signal.SIGKILL)
            rb.proc.wait(5)
            time.sleep(2.0)
            after_b = time.monotonic()
            time.sleep(1.0)
        finally:
            results = [r for l in loops for r in l.stop()]

        before = [r for r in results if r["end"] < kill_at]
        in_flight = [r for r in results if r["start"] <= kill_at + SLACK <= r["end"] or
                     r["start"] <= kill_at <= r["end"]]
        later = [r for r in results if r["start"] > kill_at + SLACK]
        self.assertTrue(before and all(r["ok"] for r in before),
                        [r for r in before if not r["ok"]][:5])
        self.assertGreaterEqual(len(later), 50, "too little load after the kill")
        failed_later = [r for r in later if not r["ok"]]
        self.assertEqual(failed_later, [], "requests started after the kill failed (%d of %d)"
                         % (len(failed_later), len(later)))
        self.assertLessEqual(len([r for r in in_flight if not r["ok"]]), LOOPS)
        self.assertEqual({r["instance"] for r in later if r["start"] > after_b}, {"app-a"})
        # Handshakes cut by the kill may count (reason other/timeout); certificate problems may not.
        for reason in ("expired", "unknown_ca", "revoked", "no_client_cert", "protocol_version",
                       "san_mismatch", "plaintext"):
            self.assertEqual(cc.handshake_errors(caller, reason), 0, reason)


if __name__ == "__main__":
    unittest.main()
