"""Chaos 1 — certificate expiry.

A sidecar whose certificate has expired cannot connect (its client certificate is
refused by a strict inbound) and cannot be connected to (an outbound refuses its
server certificate); both sides count `reason="expired"`.  hawser itself refuses to
start on expired material (it would only fail every handshake)."""

import unittest

import chaos_common as cc
import hawser_harness as hh


class CertExpiry(unittest.TestCase):
    def test_expired_sidecar_cannot_connect_nor_be_connected_to(self):
        c, ids = cc.certs(self)
        old_caller = c.issue("caller-expired", cc.spiffe("caller"), expired=True)
        old_responder = c.issue("responder-expired", cc.spiffe("responder"), expired=True)

        # hawser will not start on an expired certificate: exit 2 naming the problem.
        bad = hh.Hawser(cc.responder_config(hh.tls_block(*old_responder, c.ca_pem()), "127.0.0.1:9"),
                        name="expired-start")
        self.addCleanup(bad.stop)
        bad.start(wait_ready=False)
        rc = bad.wait_exit(15)
        out = "\n".join(bad.stdout.snapshot() + bad.stderr.snapshot())
        self.assertEqual(rc, 2, out)
        self.assertIn("expired", out)

        up = cc.fake(self, "app-b")
        responder = cc.start(self, cc.responder_config(hh.tls_block(*ids["responder"], c.ca_pem()),
                                                       up.address, allow=[cc.spiffe("caller")]), "responder")
        r_in = responder.listener("app")

        # 1. The expired sidecar as a client: the strict inbound rejects the handshake.
        ok_ctx = hh.client_ssl_context(c.ca_pem(), *ids["caller"])
        self.assertEqual(hh.tls_handshake_outcome(r_in, ok_ctx), "ok:200")
        before = cc.handshake_errors(responder, "expired")
        expired_ctx = hh.client_ssl_context(c.ca_pem(), *old_caller)
        for _ in range(3):
            outcome = hh.tls_handshake_outcome(r_in, expired_ctx)
            self.assertTrue(outcome.startswith("error:"), outcome)
        hh.wait_until(lambda: cc.handshake_errors(responder, "expired") == before + 3, timeout=5,
                      message="responder hawser_tls_handshake_errors_total{reason=expired} += 3")
        self.assertEqual(up.stats()["requests"], 1, "only the valid probe may reach the app")

        # 2. The expired sidecar as a server: the caller's outbound refuses it.
        expired_peer = cc.sink(self, *old_responder, ca=c.ca_pem(), name="expired-responder")
        caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()),
                                                 {"static": [expired_peer.address]}), "caller")
        for _ in range(3):
            st, h, body = cc.request(caller.listener("responder"))
            self.assertEqual(st, 503, body)
            self.assertEqual(h.get("x-hawser-reason"), "upstream-connect-failure")
        hh.wait_until(lambda: cc.handshake_errors(caller, "expired") >= 3, timeout=5,
                      message="caller hawser_tls_handshake_errors_total{reason=expired} >= 3")
        self.assertEqual(cc.handshake_errors(caller, "expired"), expired_peer.connections,
                         "one expired count per handshake attempted with the expired peer")
        self.assertEqual(expired_peer.bytes_received(), 0, "no request data may reach an expired peer")


if __name__ == "__main__":
    unittest.main()
