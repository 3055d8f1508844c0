"""Graceful drain and config reload under load (issue 2, acceptance 5 and 6)."""

import http.client
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import hawser_harness as hh
from fake_upstream import FakeUpstream

DRAIN = 5.0


def failures(results):
    return [r for r in results if not r["ok"]]


class Drain(unittest.TestCase):
    """client --> caller hawser (alias) --> responder hawser (inbound) --> fake upstream"""

    def setUp(self):
        self.up = hh.start_fake(self, "app")
        self.responder = hh.start_hawser(self, hh.base_config(
            drain_timeout="%ds" % DRAIN,
            inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": self.up.address, "protocol": "http"}]),
            name="responder")
        self.caller = hh.start_hawser(self, hh.base_config(
            drain_timeout="%ds" % DRAIN,
            outbound={"services": [{"name": "responder", "alias": "127.0.0.1:0", "protocol": "http",
                                    "discovery": {"static": [hh.addr_str(self.responder.listener("app"))]}}]}),
            name="caller")
        self.alias = self.caller.listener("responder")

    def _slow_request(self, delay_ms, out):
        def run():
            try:
                out["start"] = time.monotonic()
                st, h, body = hh.http_request(self.alias, "POST", "/slow", body=b"slow-body",
                                              headers={"x-fake-delay-ms": str(delay_ms)}, timeout=20)
                out["result"] = (st, body)
            except Exception as e:  # noqa: BLE001
                out["result"] = repr(e)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def _drain_under_load(self, target, trigger):
        # Four concurrent loops (keep-alive and fresh connections) so that requests are
        # in every state (connecting, sending, waiting, idle keep-alive) when the drain starts.
        loads = [hh.LoadLoop(self.alias, headers={"x-fake-delay-ms": "20"}).start() for _ in range(2)]
        loads += [hh.LoadLoop(self.alias, fresh_only=True).start() for _ in range(2)]
        for l in loads:
            self.addCleanup(lambda l=l: l.stop() if l._thread.is_alive() else None)
        hh.wait_until(lambda: all(len(l.snapshot()) >= 10 for l in loads), timeout=10,
                      message="load loop warm-up")
        slow = {}
        st = self._slow_request(2000, slow)
        hh.wait_until(lambda: self.up.requests_for("/slow"), timeout=5, message="slow request to reach the app")
        t_sig = time.monotonic()
        trigger()
        # /ready turns 503 and state is DRAINING while the slow request is in flight.
        hh.wait_until(lambda: target.admin_get("/ready", timeout=1)[0] == 503, timeout=2,
                      message="/ready 503 while draining")
        self.assertEqual(target.admin_json("/server_info")["state"], "DRAINING")
        rc = target.wait_exit(DRAIN + 3)
        t_exit = time.monotonic()
        self.assertEqual(rc, 0, target._diag())
        self.assertLess(t_exit - t_sig, DRAIN + 1.5, "exit took longer than drain_timeout")
        st.join(10)
        self.assertEqual(slow.get("result"), (200, b"slow-body"), "in-flight request during drain")
        results = [r for l in loads for r in l.stop()]
        # "Started before the signal" with a 25 ms margin: the load threads share the GIL with
        # the thread sending the signal, so a timestamp can precede its connect()/send() by a
        # few switch intervals (5 ms each).
        before = [r for r in results if r["start"] < t_sig - 0.025]
        self.assertGreater(len(before), 40)
        self.assertEqual(failures(before), [], "requests started before the drain signal failed")
        return results

    def test_sigterm_caller_side(self):
        self._drain_under_load(self.caller, self.caller.sigterm)
        # after exit, the listener is gone
        with self.assertRaises(OSError):
            hh.http_request(self.alias, "GET", "/gone", timeout=2)

    def test_sigterm_responder_side(self):
        results = self._drain_under_load(self.responder, self.responder.sigterm)
        # once the responder is gone, the caller answers for it with a hawser-generated error
        st, h, _ = hh.http_request(self.alias, "GET", "/after")
        self.assertIn(st, (502, 503))
        self.assertIn(h.get("x-hawser-reason"), ("upstream-connect-failure", "no-healthy-upstream"))

    def test_post_drain_under_load(self):
        def trigger():
            st, _, body = self.caller.admin_post("/drain")
            self.assertEqual(st, 200, body)
        # the issue: "on SIGTERM or POST /drain ... in-flight requests finish ..., exit 0"
        self._drain_under_load(self.caller, trigger)

    def test_keepalive_connection_closed_after_current_response(self):
        c = http.client.HTTPConnection(*self.alias, timeout=15)
        self.addCleanup(c.close)
        c.request("GET", "/warm")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertFalse(r.will_close)
        c.request("POST", "/inflight", body=b"abc", headers={"x-fake-delay-ms": "1500"})
        hh.wait_until(lambda: self.up.requests_for("/inflight"), timeout=5, message="request at app")
        self.caller.sigterm()
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"abc"))
        self.assertEqual((r.getheader("connection") or "").lower(), "close",
                         "response finishing during drain should carry Connection: close")
        self.assertEqual(self.caller.wait_exit(DRAIN + 3), 0)


class Reload(unittest.TestCase):
    def setUp(self):
        self.one = hh.start_fake(self, "one")
        self.two = hh.start_fake(self, "two")
        self.alias_port = hh.free_port()
        self.admin_port = hh.free_port()

    def cfg(self, endpoints=None, discovery=None, **extra):
        c = hh.base_config(
            admin={"address": "127.0.0.1:%d" % self.admin_port},
            outbound={"services": [{"name": "svc", "alias": "127.0.0.1:%d" % self.alias_port, "protocol": "http",
                                    "discovery": discovery or {"static": endpoints},
                                    "timeouts": {"connect": "1s", "request": "10s", "idle": "60s"}}]})
        c.update(extra)
        return c

    def reloads(self, h, result):
        return h.metric("hawser_config_reloads_total", result=result)

    def _start_with_load(self, cfg):
        h = hh.start_hawser(self, cfg, name="reload")
        alias = h.listener("svc")
        self.assertEqual(alias[1], self.alias_port)
        load = hh.LoadLoop(alias, headers={"x-fake-delay-ms": "5"}).start()
        self.addCleanup(lambda: load.stop() if load._thread.is_alive() else None)
        hh.wait_until(lambda: len(load.snapshot()) >= 20, timeout=10, message="load warm-up")
        return h, load

    def _assert_moved(self, load, t_applied, settle=0.0):
        hh.wait_until(lambda: len([r for r in load.snapshot() if r["start"] > t_applied + settle]) >= 20,
                      timeout=10, message="requests after reload")
        results = load.stop()
        self.assertEqual(failures(results), [], "failed requests during reload")
        before = [r["instance"] for r in results if r["end"] < t_applied - 0.05]
        after = [r["instance"] for r in results if r["start"] > t_applied + settle]
        self.assertIn("one", before)
        self.assertEqual(set(after), {"two"}, "requests started after the reload went to the old upstream")

    def test_sighup_moves_traffic(self):
        h, load = self._start_with_load(self.cfg([self.one.address]))
        ok0 = self.reloads(h, "success")
        h.write_config(self.cfg([self.two.address]))
        h.sighup()
        hh.wait_until(lambda: self.reloads(h, "success") == ok0 + 1, timeout=5,
                      message="hawser_config_reloads_total{result=success} +1")
        self._assert_moved(load, time.monotonic())
        eps = [e["address"] for c in h.admin_json("/clusters")["clusters"] if c["name"] == "svc"
               for e in c["endpoints"]]
        self.assertEqual(eps, [self.two.address])
        self.assertTrue(h.alive())

    def test_post_reload_moves_traffic(self):
        h, load = self._start_with_load(self.cfg([self.one.address]))
        ok0 = self.reloads(h, "success")
        h.write_config(self.cfg([self.two.address]))
        st, _, body = h.admin_post("/reload")
        t_applied = time.monotonic()
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["result"], "success")
        self._assert_moved(load, t_applied)
        self.assertEqual(self.reloads(h, "success"), ok0 + 1)
        self.assertIn(self.two.address, json.dumps(h.admin_json("/config_dump")))

    def test_broken_config_rejected_old_keeps_serving(self):
        h, load = self._start_with_load(self.cfg([self.one.address]))
        fail0 = self.reloads(h, "failure")
        ok0 = self.reloads(h, "success")
        good = self.cfg([self.one.address])
        bad = dict(good, workers="many")
        h.write_config(bad)
        h.sighup()
        hh.wait_until(lambda: self.reloads(h, "failure") == fail0 + 1, timeout=5,
                      message="hawser_config_reloads_total{result=failure} +1 after SIGHUP")
        st, _, body = h.admin_post("/reload")
        self.assertIn(st, (400, 500), body)
        doc = json.loads(body)
        self.assertEqual(doc["result"], "failure")
        self.assertIn("workers", doc["error"])
        self.assertEqual(self.reloads(h, "failure"), fail0 + 2)
        self.assertEqual(self.reloads(h, "success"), ok0)
        # a syntactically broken file too
        h.write_config(text="outbound: [unclosed\n")
        st, _, body = h.admin_post("/reload")
        self.assertIn(st, (400, 500), body)
        self.assertEqual(self.reloads(h, "failure"), fail0 + 3)
        # a log line says why
        h.wait_for_log(lambda d: d.get("level") in ("error", "warn", "warning") and "workers" in json.dumps(d),
                       message="a log line about the rejected reload")
        n = len(load.snapshot())
        hh.wait_until(lambda: len(load.snapshot()) >= n + 10, timeout=5, message="more load on the old config")
        self.assertEqual(h.admin_get("/ready")[0], 200)
        self.assertEqual(h.admin_json("/server_info")["state"], "LIVE")
        # the old config still routes everything to "one"
        t_fixed = time.monotonic()
        h.write_config(self.cfg([self.two.address]))
        st, _, body = h.admin_post("/reload")
        self.assertEqual(st, 200, body)
        results = load.stop()
        self.assertEqual(failures(results), [])
        self.assertEqual({r["instance"] for r in results if r["end"] < t_fixed}, {"one"})

    def test_file_discovery_moves_traffic(self):
        eps = os.path.join(tempfile.mkdtemp(prefix="hawser-eps-"), "eps.yaml")
        self.addCleanup(shutil.rmtree, os.path.dirname(eps), True)

        def write(addrs, atomic=True):
            text = "".join('- "%s"\n' % a for a in addrs)
            if atomic:
                with open(eps + ".tmp", "w") as f:
                    f.write(text)
                os.replace(eps + ".tmp", eps)
            else:
                with open(eps, "w") as f:
                    f.write(text)

        write([self.one.address])
        h, load = self._start_with_load(self.cfg(discovery={"file": eps}))
        self.assertEqual({r["instance"] for r in load.snapshot()}, {"one"})
        write([self.two.address])
        t0 = time.monotonic()
        hh.wait_until(lambda: any(r["instance"] == "two" for r in load.snapshot() if r["start"] > t0),
                      timeout=3, message="traffic to move after rewriting the endpoints file")
        t_moved = time.monotonic()
        hh.wait_until(lambda: len([r for r in load.snapshot() if r["start"] > t_moved + 0.3]) >= 20, timeout=10,
                      message="more requests")
        snap = load.snapshot()
        self.assertEqual({r["instance"] for r in snap if r["start"] > t_moved + 0.3}, {"two"})
        # in-place rewrite with both endpoints: round robin over both
        write([self.one.address, self.two.address], atomic=False)
        t1 = time.monotonic()
        hh.wait_until(lambda: {r["instance"] for r in load.snapshot() if r["start"] > t1} >= {"one", "two"},
                      timeout=3, message="both endpoints used after in-place rewrite")
        results = load.stop()
        self.assertEqual(failures(results), [])
        eps_now = sorted(e["address"] for c in h.admin_json("/clusters")["clusters"] if c["name"] == "svc"
                         for e in c["endpoints"])
        self.assertEqual(eps_now, sorted([self.one.address, self.two.address]))


class AccessLogOnExit(unittest.TestCase):
    """Access lines are buffered off the workers (issue 11): SIGTERM must still leave every one written."""

    REQUESTS = 300

    def _run(self, path):
        up = hh.start_fake(self, "app")
        h = hh.start_hawser(self, hh.base_config(
            inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http"}],
            telemetry={"access_log": {"path": path}}), name="logger")
        self.assertIn(("hawser_access_log_dropped_total", frozenset()), h.metrics())
        conns = [http.client.HTTPConnection(*h.listener("app"), timeout=10) for _ in range(4)]
        ids = []

        def send():
            rid = "exit-%d" % len(ids)
            c = conns[len(ids) % len(conns)]
            ids.append(rid)
            c.request("GET", "/n/%s" % rid, headers={"x-request-id": rid})
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)

        for _ in range(self.REQUESTS):
            send()
        if path != "stdout":
            # The test proves nothing if the writer happened to write the last line
            # before the signal: then send one more and look again.
            for _ in range(5):
                with open(path) as f:
                    if ids[-1] not in f.read():
                        break
                send()
            else:
                self.fail("every line was written before SIGTERM: the test proves nothing")
        for c in conns:
            c.close()
        h.sigterm()
        self.assertEqual(h.wait_exit(DRAIN + 3), 0, h._diag())
        return h, ids

    def _check(self, lines, ids):
        access = [json.loads(l) for l in lines]
        self.assertTrue(all(d.get("log") == "access" for d in access))
        got = [d["request_id"] for d in access if d["request_id"].startswith("exit-")]
        self.assertEqual(sorted(got), sorted(ids), "one access line per request sent")
        self.assertEqual(len(got), len(set(got)))

    def test_file_holds_every_line_after_sigterm(self):
        tmp = tempfile.mkdtemp(prefix="hawser-access-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "access.log")
        h, ids = self._run(path)
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.endswith(b"\n"), "last line cut short")
        self._check(data.decode().splitlines(), ids)

    def test_stdout_holds_every_line_after_sigterm(self):
        h, ids = self._run("stdout")
        h.stdout.join(5)
        lines = h.stdout.snapshot()
        for l in lines:
            json.loads(l)  # access and application lines never share a line
        self._check([l for l in lines if '"log":"access"' in l], ids)


if __name__ == "__main__":
    unittest.main()
