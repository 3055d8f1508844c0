"""Chaos 3 — revoked certificate.

The responder checks client chains against a CRL (`tls.crl`).  A client certificate
listed in the CRL is rejected (`reason="revoked"`); once a reloaded CRL no longer
lists it, the same certificate gets in — without restarting anything."""

import unittest

import chaos_common as cc
import hawser_harness as hh


class Revoked(unittest.TestCase):
    def test_revoked_client_rejected_then_admitted_after_crl_reload(self):
        c, ids = cc.certs(self)
        other = c.issue("other", cc.spiffe("other"))
        crl = c.revoke(certs=[ids["caller"][0]], out=cc.tmpdir(self) + "/crl.pem")

        up = cc.fake(self, "app-b")
        responder = cc.start(self, cc.responder_config(
            hh.tls_block(*ids["responder"], c.ca_pem(), crl=crl), up.address,
            allow=[cc.spiffe("caller"), cc.spiffe("other")]), "responder")
        r_in = responder.listener("app")
        self.assertEqual(responder.admin_json("/certs")["files"]["crl"], crl)

        # Revoked: rejected, counted; an unrevoked certificate of the same CA is fine.
        caller_ctx = hh.client_ssl_context(c.ca_pem(), *ids["caller"])
        for _ in range(2):
            outcome = hh.tls_handshake_outcome(r_in, caller_ctx)
            self.assertTrue(outcome.startswith("error:"), outcome)
        hh.wait_until(lambda: cc.handshake_errors(responder, "revoked") == 2, timeout=5,
                      message="responder revoked == 2")
        self.assertEqual(hh.tls_handshake_outcome(r_in, hh.client_ssl_context(c.ca_pem(), *other)), "ok:200")

        # A real caller sidecar with the revoked certificate cannot get through either.
        caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()),
                                                 {"static": [hh.addr_str(r_in)]}), "caller")
        st, h, body = cc.request(caller.listener("responder"))
        revoked_outcome = (st, h.get("x-hawser-reason"))   # asserted at the end
        self.assertEqual(up.stats()["requests"], 1, "only the unrevoked probe reached the app")
        revoked_before = cc.handshake_errors(responder, "revoked")
        self.assertGreaterEqual(revoked_before, 3)

        # A new CRL revoking only "other" replaces the old one on disk: reloaded within ~1 s.
        new_crl = c.revoke(certs=[other[0]], out=crl + ".new")
        hh.install_file(new_crl, crl)
        hh.wait_until(lambda: responder.metric("hawser_tls_reloads_total", result="success") == 1,
                      timeout=5, message="hawser_tls_reloads_total{result=success} == 1")
        self.assertEqual(responder.metric("hawser_tls_reloads_total", result="failure"), 0)

        self.assertEqual(hh.tls_handshake_outcome(r_in, caller_ctx), "ok:200")
        st, h, body = cc.request(caller.listener("responder"))
        self.assertEqual(st, 200, body)
        self.assertEqual(hh.seen_headers(h)["x-forwarded-client-cert"],
                         "By=%s;URI=%s" % (cc.spiffe("responder"), cc.spiffe("caller")))
        self.assertEqual(cc.handshake_errors(responder, "revoked"), revoked_before)
        # ... and "other", now listed, is refused.
        outcome = hh.tls_handshake_outcome(r_in, hh.client_ssl_context(c.ca_pem(), *other))
        self.assertTrue(outcome.startswith("error:"), outcome)
        hh.wait_until(lambda: cc.handshake_errors(responder, "revoked") == revoked_before + 1, timeout=5,
                      message="revoked += 1 for the newly listed certificate")
        # The revoked caller's request was refused at the handshake: a connect failure (503),
        # not a reset (with TLS 1.3 the refusal arrives after the client's handshake is done).
        self.assertEqual(revoked_outcome, (503, "upstream-connect-failure"))


if __name__ == "__main__":
    unittest.main()
