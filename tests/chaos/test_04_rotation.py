"""Chaos 4 — certificate rotation.

Replacing cert and key on disk is picked up without a restart (poll <= 1 s): new
connections present the new certificate, an established connection keeps working on
the old one, /certs and the expiry gauge follow.  Broken replacements (key not
matching, expired) are rejected with a log line and a failure count while the
current material keeps serving."""

import json
import os
import http.client
import time
import unittest

import chaos_common as cc
import hawser_harness as hh


class Rotation(unittest.TestCase):
    def test_rotation_without_restart(self):
        c, ids = cc.certs(self)
        live = cc.LiveCerts(self, c, "responder", cc.spiffe("responder"))
        first = live.serials[0]
        up = cc.fake(self, "app-b")
        responder = cc.start(self, cc.responder_config(live.tls(), up.address,
                                                       allow=[cc.spiffe("caller")]), "responder")
        r_in = responder.listener("app")
        pid = responder.proc.pid
        ctx = hh.client_ssl_context(c.ca_pem(), *ids["caller"])

        self.assertEqual(responder.admin_json("/certs")["certificate"]["serial"].lstrip("0"), first)
        # An established keep-alive connection, made before the rotation.
        old_conn = http.client.HTTPSConnection(*r_in, timeout=10, context=ctx)
        self.addCleanup(old_conn.close)
        old_conn.request("GET", "/before", headers={"Host": "responder"})
        r = old_conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertEqual(cc.peer_serial(old_conn.sock), first)
        expiry_before = responder.metric("hawser_cert_expiry_timestamp_seconds", cert="workload")

        second = live.rotate(days=30)
        hh.wait_until(lambda: responder.metric("hawser_tls_reloads_total", result="success") == 1,
                      timeout=5, message="tls reload success")
        certs = responder.admin_json("/certs")
        self.assertEqual(certs["certificate"]["serial"].lstrip("0"), second)
        self.assertEqual(certs["identity"], cc.spiffe("responder"))
        self.assertLess(certs["certificate"]["seconds_left"], 31 * 86400)
        self.assertLess(responder.metric("hawser_cert_expiry_timestamp_seconds", cert="workload"),
                        expiry_before)
        responder.wait_for_log(lambda d: d.get("msg") == "certificates reloaded", timeout=2,
                               message="'certificates reloaded' log line")

        # New connections see the new certificate; the old connection still works.
        for _ in range(3):
            s = hh.tls_connect(r_in, ctx)
            try:
                self.assertEqual(cc.peer_serial(s), second)
            finally:
                s.close()
        self.assertEqual(hh.tls_handshake_outcome(r_in, ctx), "ok:200")
        old_conn.request("GET", "/after", headers={"Host": "responder"})
        r = old_conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200, "an established connection must survive the rotation")
        self.assertEqual(responder.proc.pid, pid)
        self.assertTrue(responder.alive())

        # Broken replacements: the key of another certificate, then an expired certificate.
        other = c.issue("unrelated", cc.spiffe("responder"))
        live.publish(os.path.join(live.dir, "v%d" % live.version, "cert.pem"), other[1])
        hh.wait_until(lambda: responder.metric("hawser_tls_reloads_total", result="failure") == 1,
                      timeout=5, message="tls reload failure (mismatched key)")
        expired = c.issue("responder-expired", cc.spiffe("responder"), expired=True)
        live.publish(*expired)
        hh.wait_until(lambda: responder.metric("hawser_tls_reloads_total", result="failure") == 2,
                      timeout=5, message="tls reload failure (expired)")
        rejected = [d for d in responder.log_lines()
                    if d.get("msg") == "new certificate material rejected; the previous material keeps serving"]
        self.assertEqual(len(rejected), 2, rejected)
        self.assertIn("expired", json.dumps(rejected[1]))
        self.assertEqual(responder.metric("hawser_tls_reloads_total", result="success"), 1)
        # Still serving the last good certificate.
        s = hh.tls_connect(r_in, ctx)
        try:
            self.assertEqual(cc.peer_serial(s), second)
        finally:
            s.close()
        self.assertEqual(hh.tls_handshake_outcome(r_in, ctx), "ok:200")
        self.assertEqual(responder.admin_json("/certs")["certificate"]["serial"].lstrip("0"), second)
        # Never any key material in logs.
        self.assertNotIn("PRIVATE KEY", "\n".join(responder.stdout.snapshot() + responder.stderr.snapshot()))


if __name__ == "__main__":
    unittest.main()
