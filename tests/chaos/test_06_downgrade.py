"""Chaos 6 — TLS downgrade.

Against a strict inbound: plaintext HTTP is refused (`reason="plaintext"`), TLS 1.0
and TLS 1.1 ClientHellos from `openssl s_client` are refused
(`reason="protocol_version"`), a plain `openssl s_client` negotiates TLS 1.3 and is
asked for a client certificate.  A permissive inbound on the same certificates
accepts both plaintext and mTLS (and still refuses TLS 1.0/1.1)."""

import shutil
import unittest

import chaos_common as cc
import hawser_harness as hh


def s_client(addr, *args, stdin=b""):
    rc, out, err = hh.run_cmd(["openssl", "s_client", "-connect", hh.addr_str(addr)] + list(args),
                              timeout=15, input_bytes=stdin)
    return rc, out + err


@unittest.skipUnless(shutil.which("openssl"), "openssl CLI needed")
class Downgrade(unittest.TestCase):
    def setUp(self):
        self.c, self.ids = cc.certs(self)
        self.up = cc.fake(self, "app-b")

    def start_inbound(self, mode, allow=None):
        return cc.start(self, cc.responder_config(hh.tls_block(*self.ids["responder"], self.c.ca_pem()),
                                                  self.up.address, mode=mode, allow=allow),
                        "responder-" + mode)

    def old_protocols_refused(self, h, addr):
        before = cc.handshake_errors(h, "protocol_version")
        for flag in ("-tls1", "-tls1_1"):
            # SECLEVEL=0 so the local OpenSSL really sends a TLS 1.0/1.1 ClientHello.
            rc, out = s_client(addr, flag, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", self.c.ca_pem(),
                               "-cert", self.ids["caller"][0], "-key", self.ids["caller"][1])
            self.assertIn("alert protocol version", out, "%s was not refused:\n%s" % (flag, out))
            self.assertNotIn("BEGIN CERTIFICATE", out, "%s got a certificate:\n%s" % (flag, out))
        hh.wait_until(lambda: cc.handshake_errors(h, "protocol_version") == before + 2, timeout=5,
                      message="protocol_version += 2")

    def test_strict_refuses_plaintext_and_old_tls(self):
        h = self.start_inbound("strict", allow=[cc.spiffe("caller")])
        addr = h.listener("app")

        # Plaintext HTTP: no response, connection closed, counted.
        r, closed = hh.raw_exchange(addr, b"GET /plain HTTP/1.1\r\nHost: responder\r\n\r\n")
        self.assertIsNone(r, "strict inbound answered plaintext: %r" % (r,))
        self.assertTrue(closed)
        hh.wait_until(lambda: cc.handshake_errors(h, "plaintext") == 1, timeout=5, message="plaintext == 1")

        self.old_protocols_refused(h, addr)

        # Default s_client, no client certificate: TLS 1.3, a client certificate requested.
        rc, out = s_client(addr, "-CAfile", self.c.ca_pem())
        self.assertIn("New, TLSv1.3, Cipher is TLS_", out, out)
        self.assertIn("Acceptable client certificate CA names", out, out)
        self.assertIn("CN = hawser development CA", out.split("Acceptable client certificate CA names", 1)[1])
        self.assertIn("Verify return code: 0 (ok)", out)
        # With a client certificate a request goes through (TLS 1.3).
        rc, out = s_client(addr, "-CAfile", self.c.ca_pem(), "-cert", self.ids["caller"][0],
                           "-key", self.ids["caller"][1], "-ign_eof", "-quiet",
                           stdin=b"GET /s-client HTTP/1.1\r\nHost: responder\r\nConnection: close\r\n\r\n")
        self.assertIn("HTTP/1.1 200", out, out)
        self.assertIn("x-fake-instance: app-b", out.lower())
        # TLS 1.2 is still accepted at the default minimum.
        rc, out = s_client(addr, "-tls1_2", "-CAfile", self.c.ca_pem(), "-cert", self.ids["caller"][0],
                           "-key", self.ids["caller"][1])
        self.assertIn("New, TLSv1.2, Cipher is ECDHE-ECDSA-", out, out)
        self.assertEqual([r["path"] for r in self.up.requests_for("/")], ["/s-client"],
                         "only the mTLS request may reach the app")

    def test_permissive_accepts_plaintext_and_mtls(self):
        # No authorization list: plaintext callers have no identity to authorize (with an
        # allow list they would get 403 unauthorized), which is what a migration needs.
        h = self.start_inbound("permissive")
        addr = h.listener("app")

        st, hdrs, body = cc.request(addr, "/plain", headers={"x-forwarded-client-cert": "By=forged;URI=spiffe://demo/caller"})
        self.assertEqual(st, 200, body)
        self.assertNotIn("x-forwarded-client-cert", hh.seen_headers(hdrs),
                         "a plaintext request must not carry (forged) client identity")

        ctx = hh.client_ssl_context(self.c.ca_pem(), *self.ids["caller"])
        st, hdrs, body = hh.tls_request(addr, ctx, "GET", "/tls", headers={"Host": "responder"})
        self.assertEqual(st, 200, body)
        self.assertEqual(hh.seen_headers(hdrs)["x-forwarded-client-cert"],
                         "By=%s;URI=%s" % (cc.spiffe("responder"), cc.spiffe("caller")))
        self.assertEqual(cc.handshake_errors(h, "plaintext"), 0)
        self.old_protocols_refused(h, addr)


if __name__ == "__main__":
    unittest.main()
