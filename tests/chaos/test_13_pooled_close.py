"""Chaos 13 — pooled mTLS connections closed by the peer sidecar.

The responder's inbound idle timeout (250 ms) closes the caller's pooled
connections, without a TLS close_notify, shortly before the caller reuses them:
the caller hands out a connection idle for less than its liveness-check window
without checking it (no syscall per request), so it must notice the closed one
on first use and send the request again on a fresh connection. The client never
sees a failure."""

import time
import unittest

import chaos_common as cc
import hawser_harness as hh


class PooledClose(unittest.TestCase):
    def test_requests_across_peer_idle_closes_all_succeed(self):
        c, ids = cc.certs(self)
        up = cc.fake(self, "app-b")
        cfg = cc.responder_config(hh.tls_block(*ids["responder"], c.ca_pem()), up.address, workers=1)
        cfg["inbound"][0]["timeouts"] = {"connect": "1s", "request": "10s", "idle": "250ms"}
        responder = cc.start(self, cfg, "responder")
        caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()),
                                                 {"static": [hh.addr_str(responder.listener("app"))]},
                                                 workers=1), "caller")
        alias = caller.listener("responder")
        results = []
        # Gaps around the responder's idle timeout: some reuse a live connection,
        # some a connection the responder has just closed.
        for i, gap in enumerate([0.0, 0.1, 0.27, 0.3, 0.35, 0.4, 0.45, 0.26, 0.28, 0.0] * 2):
            time.sleep(gap)
            st, _, body = cc.request(alias, "/pooled/%d" % i)
            results.append(st)
        self.assertEqual(results, [200] * len(results))
        opened = caller.metric("hawser_upstream_connections_total")
        self.assertGreater(opened, 1, "the responder never closed a pooled connection: the test proves nothing")


if __name__ == "__main__":
    unittest.main()
