"""Chaos 5 — DNS spoofing / man in the middle.

File discovery for "responder" is switched (as a spoofed DNS answer would) to an
endpoint holding a perfectly valid certificate from the same CA, but for another
identity.  The caller's outbound refuses it (`reason="san_mismatch"`), the client
gets 503, and not one byte of request data reaches the impostor."""

import os
import unittest

import chaos_common as cc
import hawser_harness as hh


class ManInTheMiddle(unittest.TestCase):
    def test_spoofed_endpoint_with_other_identity_gets_no_data(self):
        c, ids = cc.certs(self, services=("caller", "responder", "mallory"))
        up = cc.fake(self, "app-b")
        responder = cc.start(self, cc.responder_config(hh.tls_block(*ids["responder"], c.ca_pem()),
                                                       up.address, allow=[cc.spiffe("caller")]), "responder")
        r_in = hh.addr_str(responder.listener("app"))
        # The impostor: valid chain, identity spiffe://demo/mallory, asks for client certs.
        mallory = cc.sink(self, *ids["mallory"], ca=c.ca_pem(), name="mallory")

        inventory = os.path.join(cc.tmpdir(self), "responder.yaml")
        with open(inventory, "w") as f:
            f.write('- "%s"\n' % r_in)
        caller = cc.start(self, cc.caller_config(hh.tls_block(*ids["caller"], c.ca_pem()),
                                                 {"file": inventory}), "caller")
        alias = caller.listener("responder")
        st, h, body = cc.request(alias, "/before", headers={"x-secret": "before"})
        self.assertEqual(st, 200, body)

        # Spoof: the only endpoint of "responder" is now mallory.
        with open(inventory + ".tmp", "w") as f:
            f.write('- "%s"\n' % mallory.address)
        os.replace(inventory + ".tmp", inventory)
        caller.wait_for_log(lambda d: d.get("msg") == "endpoints updated", timeout=5,
                            message="'endpoints updated' after the spoof")

        results = []
        for i in range(5):
            st, h, body = cc.request(alias, "/secret/%d" % i, headers={"x-secret": "s3cr3t"})
            results.append((st, h.get("x-hawser-reason"), h.get("x-fake-instance")))
        self.assertEqual(results, [(503, "upstream-connect-failure", None)] * 5)
        self.assertGreaterEqual(mallory.connections, 1, "the spoofed endpoint was never dialled")
        self.assertEqual(mallory.bytes_received(), 0, "request data reached the impostor: %r" % mallory.received)
        self.assertEqual(cc.handshake_errors(caller, "san_mismatch"), mallory.connections,
                         "one san_mismatch per handshake with the impostor")
        line = caller.wait_for_log(
            lambda d: d.get("msg") == "upstream presented an unexpected identity; connection refused",
            timeout=2, message="identity mismatch log line")
        self.assertEqual(line.get("expected"), cc.spiffe("responder"), line)
        self.assertEqual(str(line.get("presented")), cc.spiffe("mallory"))
        self.assertEqual(len(up.requests_for("/secret")), 0)


if __name__ == "__main__":
    unittest.main()
