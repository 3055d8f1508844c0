"""Acceptance: external clients against a strict inbound, and authorization.

`curl` with a client certificate gets through (the app sees the caller's identity in
x-forwarded-client-cert, a forged one from the network is replaced); `curl` without
one is refused (`reason="no_client_cert"`).  Identities outside `authorization.allow`
get 403 `x-hawser-reason: unauthorized`; a `spiffe://demo/*` pattern admits the
namespace and nothing else."""

import json
import shutil
import unittest

import chaos_common as cc
import hawser_harness as hh


def curl(url, *args):
    rc, out, err = hh.run_cmd(["curl", "-sS", "--max-time", "10", "-D", "-", url] + list(args), timeout=20)
    return rc, out, err


@unittest.skipUnless(shutil.which("curl"), "curl needed")
class ExternalClients(unittest.TestCase):
    def test_curl_and_authorization(self):
        c, ids = cc.certs(self, services=("caller", "stranger"))
        responder = c.issue("responder", cc.spiffe("responder"), ip=["127.0.0.1"])
        foreign = c.issue("foreign", "spiffe://other/caller")
        up = cc.fake(self, "app-b")
        exact = cc.start(self, cc.responder_config(hh.tls_block(*responder, c.ca_pem()), up.address,
                                                   allow=[cc.spiffe("caller")]), "exact")
        url = "https://127.0.0.1:%d/curl" % exact.listener("app")[1]
        ca = ["--cacert", c.ca_pem()]

        rc, out, err = curl(url, *ca, "--cert", ids["caller"][0], "--key", ids["caller"][1],
                            "-H", "x-forwarded-client-cert: By=forged;URI=spiffe://demo/admin")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^HTTP/1\.1 200 ")
        seen = json.loads(next(l.split(":", 1)[1].strip() for l in out.splitlines()
                               if l.lower().startswith("x-fake-seen-headers:")))
        self.assertEqual(seen["x-forwarded-client-cert"],
                         "By=%s;URI=%s" % (cc.spiffe("responder"), cc.spiffe("caller")))

        before = cc.handshake_errors(exact, "no_client_cert")
        rc, out, err = curl(url, *ca)
        self.assertNotEqual(rc, 0, "curl without a client certificate got through: %s" % out)
        self.assertNotIn("HTTP/1.1", out)
        hh.wait_until(lambda: cc.handshake_errors(exact, "no_client_cert") == before + 1, timeout=5,
                      message="no_client_cert += 1")

        def status(h, cert):
            st, hdrs, body = hh.tls_request(h.listener("app"), hh.client_ssl_context(c.ca_pem(), *cert),
                                            "GET", "/authz", headers={"Host": "responder"})
            return st, hdrs.get("x-hawser-reason")

        self.assertEqual(status(exact, ids["caller"]), (200, None))
        self.assertEqual(status(exact, ids["stranger"]), (403, "unauthorized"))
        self.assertEqual(status(exact, foreign), (403, "unauthorized"))

        prefix = cc.start(self, cc.responder_config(hh.tls_block(*responder, c.ca_pem()), up.address,
                                                    allow=["spiffe://demo/*"]), "prefix")
        self.assertEqual(status(prefix, ids["caller"]), (200, None))
        self.assertEqual(status(prefix, ids["stranger"]), (200, None))
        self.assertEqual(status(prefix, foreign), (403, "unauthorized"))
        self.assertEqual(len(up.requests_for("/authz")), 3, "403s must not reach the app")


if __name__ == "__main__":
    unittest.main()
