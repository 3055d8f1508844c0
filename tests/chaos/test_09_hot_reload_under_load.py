"""Chaos 9 — certificate hot reload under load.

While request loops run (through the caller sidecar: keep-alive and fresh client
connections over pooled mTLS upstreams; and fresh mTLS handshakes straight to the
responder), both sidecars' certificates are rotated three times.  Zero failed
requests; every rotation is picked up (reload counters, /certs), and the direct
clients see each new responder certificate in turn."""

import threading
import time
import unittest

import chaos_common as cc
import hawser_harness as hh

ROTATIONS = 3


class HotReloadUnderLoad(unittest.TestCase):
    def test_rotations_during_load_fail_nothing(self):
        c, ids = cc.certs(self)
        live_r = cc.LiveCerts(self, c, "responder", cc.spiffe("responder"))
        live_c = cc.LiveCerts(self, c, "caller", cc.spiffe("caller"))
        up = cc.fake(self, "app-b")
        responder = cc.start(self, cc.responder_config(live_r.tls(), up.address,
                                                       allow=[cc.spiffe("caller")]), "responder")
        r_in = responder.listener("app")
        caller = cc.start(self, cc.caller_config(live_c.tls(), {"static": [hh.addr_str(r_in)]}), "caller")
        alias = caller.listener("responder")

        loops = [hh.LoadLoop(alias, headers={"Host": "responder"}, timeout=10).start() for _ in range(3)]
        stop = threading.Event()
        direct = []          # (ok, serial or error)
        ctx = hh.client_ssl_context(c.ca_pem(), *ids["caller"])

        def direct_loop():
            import http.client
            while not stop.is_set():
                conn = http.client.HTTPSConnection(*r_in, timeout=10, context=ctx)
                try:
                    conn.connect()
                    serial = cc.peer_serial(conn.sock)
                    conn.request("GET", "/direct", headers={"Host": "responder", "Connection": "close"})
                    r = conn.getresponse()
                    r.read()
                    direct.append((r.status == 200, serial if r.status == 200 else r.status))
                except Exception as e:  # noqa: BLE001
                    direct.append((False, repr(e)))
                finally:
                    conn.close()
                time.sleep(0.01)

        dthreads = [threading.Thread(target=direct_loop, daemon=True) for _ in range(2)]
        for t in dthreads:
            t.start()
        try:
            time.sleep(1.0)
            for n in range(1, ROTATIONS + 1):
                serial_r = live_r.rotate()
                live_c.rotate()
                hh.wait_until(lambda: responder.metric("hawser_tls_reloads_total", result="success") == n and
                              caller.metric("hawser_tls_reloads_total", result="success") == n,
                              timeout=5, message="rotation %d picked up by both sidecars" % n)
                self.assertEqual(responder.admin_json("/certs")["certificate"]["serial"].lstrip("0"), serial_r)
                time.sleep(1.0)
        finally:
            stop.set()
            for t in dthreads:
                t.join(15)
            results = [r for l in loops for r in l.stop()]

        failed = [r for r in results if not r["ok"]]
        self.assertEqual(failed, [], "%d of %d requests through the caller failed" % (len(failed), len(results)))
        self.assertGreater(len(results), 100)
        dfailed = [d for d in direct if not d[0]]
        self.assertEqual(dfailed, [], "%d of %d direct mTLS requests failed" % (len(dfailed), len(direct)))
        seen = [s for ok, s in direct]
        self.assertEqual([s for s in live_r.serials if s in seen], live_r.serials,
                         "direct clients must have met every responder certificate")
        self.assertEqual(responder.metric("hawser_tls_reloads_total", result="failure"), 0)
        self.assertEqual(caller.metric("hawser_tls_reloads_total", result="failure"), 0)
        self.assertEqual(responder.metric("hawser_tls_handshake_errors_total"), 0)
        self.assertEqual(caller.metric("hawser_tls_handshake_errors_total"), 0)
        self.assertEqual(caller.admin_json("/certs")["certificate"]["serial"].lstrip("0"), live_c.serials[-1])


if __name__ == "__main__":
    unittest.main()
