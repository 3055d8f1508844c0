"""Chaos 10 — backend certificate mismatch.

The backend for "responder" is a real hawser sidecar whose certificate (same CA)
says spiffe://demo/billing.  The caller refuses the connection with a clear warn
log line naming the expected and presented identities, counts `san_mismatch`, and
answers 503 `upstream-connect-failure`; nothing reaches the backend's app.  Listing
the backend's identity in `tls.sans` makes the same backend acceptable."""

import unittest

import chaos_common as cc
import hawser_harness as hh

MSG = "upstream presented an unexpected identity; connection refused"


class BackendMismatch(unittest.TestCase):
    def test_wrong_backend_identity_is_refused_and_logged(self):
        c, ids = cc.certs(self, services=("caller", "billing"))
        up = cc.fake(self, "billing-app")
        backend = cc.start(self, cc.responder_config(hh.tls_block(*ids["billing"], c.ca_pem()),
                                                     up.address, service="billing",
                                                     allow=[cc.spiffe("caller")]), "billing")
        b_in = hh.addr_str(backend.listener("app"))
        caller_tls = hh.tls_block(*ids["caller"], c.ca_pem())
        caller = cc.start(self, cc.caller_config(caller_tls, {"static": [b_in]}), "caller")

        st, h, body = cc.request(caller.listener("responder"), "/mismatch")
        self.assertEqual(st, 503, body)
        self.assertEqual(h.get("x-hawser-reason"), "upstream-connect-failure")
        line = caller.wait_for_log(lambda d: d.get("msg") == MSG, timeout=3, message="mismatch log line")
        self.assertEqual(line.get("level"), "warn", line)
        self.assertEqual(line.get("expected"), cc.spiffe("responder"), line)
        self.assertEqual(line.get("endpoint"), b_in, line)
        self.assertEqual(line.get("presented"), cc.spiffe("billing"), line)
        self.assertGreaterEqual(cc.handshake_errors(caller, "san_mismatch"), 1)
        self.assertEqual(up.stats()["requests"], 0, "nothing may reach the mismatched backend's app")
        self.assertNotIn("PRIVATE KEY", "\n".join(caller.stdout.snapshot()))

        # Explicit sans naming the backend's identity: accepted.
        ok = cc.start(self, cc.caller_config(caller_tls, {"static": [b_in]}, sans=[cc.spiffe("billing")]),
                      "caller-sans")
        st, h, body = cc.request(ok.listener("responder"), "/accepted")
        self.assertEqual(st, 200, body)
        self.assertEqual(h.get("x-fake-instance"), "billing-app")
        self.assertEqual(cc.handshake_errors(ok, "san_mismatch"), 0)


if __name__ == "__main__":
    unittest.main()
