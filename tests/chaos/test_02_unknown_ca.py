"""Chaos 2 — invalid client certificate (signed by an unknown CA).

A caller whose certificate carries the right SPIFFE ID but was signed by a rogue CA
is rejected by the strict inbound (`reason="unknown_ca"`), whether it is a Python
client or a real hawser sidecar; nothing reaches the app."""

import unittest

import chaos_common as cc
import hawser_harness as hh


class UnknownCa(unittest.TestCase):
    def test_client_cert_from_unknown_ca_is_rejected(self):
        c, ids = cc.certs(self)
        c.ca("rogue", cn="rogue CA")
        forged = c.issue("caller-forged", cc.spiffe("caller"), ca="rogue")

        up = cc.fake(self, "app-b")
        responder = cc.start(self, cc.responder_config(hh.tls_block(*ids["responder"], c.ca_pem()),
                                                       up.address, allow=[cc.spiffe("caller")]), "responder")
        r_in = responder.listener("app")

        # A Python client presenting the forged certificate (it trusts the real CA).
        forged_ctx = hh.client_ssl_context(c.ca_pem(), *forged)
        for _ in range(2):
            outcome = hh.tls_handshake_outcome(r_in, forged_ctx)
            self.assertTrue(outcome.startswith("error:"), outcome)
        hh.wait_until(lambda: cc.handshake_errors(responder, "unknown_ca") == 2, timeout=5,
                      message="responder unknown_ca == 2")

        # A real sidecar with the forged certificate: its requests fail with 503, the
        # responder counts one unknown_ca per handshake it refused.
        forged_caller = cc.start(self, cc.caller_config(
            hh.tls_block(forged[0], forged[1], c.ca_pem()),
            {"static": [hh.addr_str(r_in)]}), "forged-caller")
        st, h, body = cc.request(forged_caller.listener("responder"))
        hh.wait_until(lambda: cc.handshake_errors(responder, "unknown_ca") >= 3, timeout=5,
                      message="responder unknown_ca >= 3")
        self.assertEqual(up.stats()["requests"], 0, "nothing may reach the app")
        # With TLS 1.3 the client's side of the handshake completes before the server has
        # judged the client certificate; the refusal (an unknown_ca alert) still means the
        # connection was never established: a connect failure, not a reset of a request.
        self.assertEqual((st, h.get("x-hawser-reason")), (503, "upstream-connect-failure"), body)

        # The same sidecar with a genuine certificate gets through.
        good_caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()),
                                                      {"static": [hh.addr_str(r_in)]}), "caller")
        st, h, body = cc.request(good_caller.listener("responder"))
        self.assertEqual(st, 200, body)
        self.assertEqual(hh.seen_headers(h)["x-forwarded-client-cert"],
                         "By=%s;URI=%s" % (cc.spiffe("responder"), cc.spiffe("caller")))


if __name__ == "__main__":
    unittest.main()
