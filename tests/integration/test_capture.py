"""Issue 15, acceptance 1, 2, 3, 5 and 7: the capture tee, the forwarder, export.

    test --> caller hawser ==mTLS==> responder hawser --> fake upstream (the app)
                 \\                        /
                  `== capture (mTLS) ==> hawser forwarder --> spool --> archive directory

Checked: 10,000 exchanges appear exactly once each in the forwarder's storage, inbound and
outbound, bodies intact up to max_body_bytes (truncated past it); a forwarder killed with
SIGKILL mid-stream and restarted loses nothing (the sidecars retry; export drops the
duplicates); a forwarder that is away leaves the queue within queue_bytes, counts drops and
shipping resumes by itself; an Authorization header and a configured JSON field never reach
storage; the HAR export has the HAR 1.2 structure and round-trips the exchange; archive keys
are <prefix>/<service>/<yyyy>/<mm>/<dd>/<segment>.ndjson.gz; a sender the forwarder does not
allow is refused. Storage is read by tests/support/capture_support.py (its own gzip and
CRC32C), never by hawser's code.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import hawser_harness as hh
from capture_support import (Forwarder, archive_objects, capture_block, forwarder_config, stored_bytes,
                             stored_records)
from echo_server import EchoServer
from fake_upstream import FakeUpstream

NS = "demo"
IDS = {s: "spiffe://%s/%s" % (NS, s) for s in ("caller", "responder", "forwarder", "stranger")}
TIMEOUTS = {"connect": "2s", "request": "10s", "idle": "30s"}
MAX_BODY = 512
ENV = {}


def start(proc):
    unittest.addModuleCleanup(proc.stop)
    proc.start()
    return proc


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="hawser-capture-")
    unittest.addModuleCleanup(shutil.rmtree, tmp, True)
    app = FakeUpstream("app")
    app.start()
    unittest.addModuleCleanup(app.stop)
    echo = EchoServer()
    echo.start()
    unittest.addModuleCleanup(echo.stop)
    certs, ids = hh.make_certs(os.path.join(tmp, "pki"), namespace=NS, services=tuple(IDS))
    ca = certs.ca_pem()

    def fwd(name, **extra):
        spool, archive = os.path.join(tmp, name, "spool"), os.path.join(tmp, name, "archive")
        cfg = forwarder_config(spool, archive, listen="127.0.0.1:%d" % hh.free_port(),
                               tls=hh.tls_block(*ids["forwarder"], ca), allow=[IDS["caller"], IDS["responder"]],
                               **extra)
        f = start(Forwarder(cfg, name=name))
        f.spool, f.archive, f.address = spool, archive, cfg["listen"]
        return f

    # The fake app echoes the request headers it saw in a response header: a header rule of the
    # forwarder's own keeps that copy of the secrets out too.
    main = fwd("forwarder", storage={"prefix": "capture"},
               redact={"headers": ["x-fake-seen-headers"], "json_fields": ["password", "card.number"]})
    spare = fwd("forwarder-b")

    def sidecar(name, forwarder, **cap):
        return dict(node={"service": name, "namespace": NS}, tls=hh.tls_block(*ids[name], ca),
                    capture=capture_block(forwarder.address, max_body_bytes=MAX_BODY, **cap),
                    telemetry={"access_log": {"path": "off"}})

    responder = start(hh.Hawser(hh.base_config(
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": app.address, "protocol": "http",
                  "timeouts": TIMEOUTS, "tls": {"mode": "strict"}},
                 {"name": "echo", "listen": "127.0.0.1:0", "app": echo.address, "protocol": "tcp",
                  "timeouts": TIMEOUTS, "tls": {"mode": "strict"}}],
        **sidecar("responder", main)), name="responder"))

    def caller(name, forwarder, **cap):
        svc = {"name": "responder", "alias": "127.0.0.1:0", "protocol": "http",
               "discovery": {"static": [hh.addr_str(responder.listener("app"))]},
               "timeouts": TIMEOUTS, "tls": {"mode": "mutual", "sans": [IDS["responder"]]}}
        tcp = dict(svc, name="responder-tcp", protocol="tcp",
                   discovery={"static": [hh.addr_str(responder.listener("echo"))]})
        return start(hh.Hawser(hh.base_config(outbound={"services": [svc, tcp]},
                                              **sidecar("caller", forwarder, **cap)), name=name))

    ENV.update(tmp=tmp, app=app, certs=certs, ids=ids, main=main, spare=spare, responder=responder,
               caller=caller("caller", main), caller_k=caller("caller-k", spare),
               caller_b=caller("caller-b", spare, queue_bytes="64KiB"))


def counter(sidecar, outcome):
    return hh.metric_sum(sidecar.metrics(), "hawser_capture_records_total", outcome=outcome)


def gauge(sidecar, name):
    return hh.metric_sum(sidecar.metrics(), name)


def load(sidecar, paths, threads=4, body=lambda i: b"", headers=None):
    """Requests over keep-alive connections from `threads` threads; returns the statuses."""
    host, port = sidecar.listener("responder")
    statuses, lock = {}, threading.Lock()

    def run(chunk):
        conn = http.client.HTTPConnection(host, port, timeout=20)
        for i, path in chunk:
            b = body(i)
            try:
                conn.request("POST" if b else "GET", path, body=b or None, headers=headers or {})
                r = conn.getresponse()
                r.read()
                st = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=20)
                st = 0
            with lock:
                statuses[path] = st
        conn.close()

    items = list(enumerate(paths))
    workers = [threading.Thread(target=run, args=(items[k::threads],)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    return statuses


def wait_records(forwarder, predicate, timeout=60, message="records"):
    """Waits until `predicate(records)` holds for what `forwarder` stored; returns them."""
    box = {}

    def check():
        box["r"] = stored_records(forwarder.spool, forwarder.archive)
        return predicate(box["r"])

    hh.wait_until(check, timeout=timeout, interval=0.25, message=message)
    return box["r"]


def of_prefix(records, prefix):
    return [r for r in records if r.get("request", {}).get("target", "").startswith(prefix)]


def body_of(message):
    return base64.b64decode(message["body"])


def export(args):
    return hh.run_cmd([hh.hawser_bin(), "capture", "export"] + args, timeout=120)


class CaptureTest(unittest.TestCase):
    def test_1_every_exchange_exactly_once(self):
        n = 10000
        paths = ["/n/%d" % i for i in range(n)]
        payload = lambda i: (b"%06d:" % i) * (i % 9 * 20)  # 0 .. 1120 bytes: some past max_body_bytes
        statuses = load(ENV["caller"], paths, body=payload)
        self.assertEqual(sorted(set(statuses.values())), [200], "every request must succeed")
        wait_records(ENV["main"], lambda rs: len(of_prefix(rs, "/n/")) >= 2 * n, timeout=120,
                     message="20,000 records of /n/")
        # Exactly once: read the archive alone once the spool is empty (a segment is in both for a
        # moment, between its upload and its removal from the spool).
        main = ENV["main"]
        hh.wait_until(lambda: not any(f.endswith((".open", ".closed")) for f in os.listdir(main.spool)),
                      timeout=60, message="every segment archived")
        mine = of_prefix(stored_records(main.archive), "/n/")
        ids = [r["id"] for r in mine]
        self.assertEqual(len(ids), len(set(ids)), "record ids must be unique")
        by = {}
        for r in mine:
            by.setdefault((r["direction"], r["request"]["target"]), []).append(r)
        for i, path in enumerate(paths):
            for direction in ("inbound", "outbound"):
                got = by.get((direction, path), [])
                self.assertEqual(len(got), 1, "%s %s captured %d times" % (direction, path, len(got)))
                r = got[0]
                sent = payload(i)
                self.assertEqual(r["response"]["status"], 200)
                self.assertEqual(body_of(r["request"]), sent[:MAX_BODY])
                self.assertEqual(r["request"]["body_bytes"], len(sent))
                self.assertEqual(r["request"]["truncated"], len(sent) > MAX_BODY)
                self.assertEqual(body_of(r["response"]), sent[:MAX_BODY], "the app echoes the body")
        sample = by[("inbound", "/n/7")][0]
        self.assertEqual(sample["service"], "responder")
        self.assertEqual(sample["peer"], IDS["caller"], "inbound: the caller's verified identity")
        out = by[("outbound", "/n/7")][0]
        self.assertEqual(out["service"], "caller")
        self.assertEqual(out["remote_service"], "responder")
        self.assertEqual(out["peer"], IDS["responder"], "outbound: the identity the upstream proved")
        self.assertRegex(out["start"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        # Archive keys: <prefix>/<service>/<yyyy>/<mm>/<dd>/<segment>.ndjson.gz
        hh.wait_until(lambda: archive_objects(ENV["main"].archive), timeout=30, message="an archive object")
        for key in archive_objects(ENV["main"].archive):
            self.assertRegex(key, r"^capture/(caller|responder)/\d{4}/\d\d/\d\d/\d+-\d+\.ndjson\.gz$")

    def test_2_sigkill_loses_nothing_acknowledged(self):
        fw, caller = ENV["spare"], ENV["caller_k"]  # a queue (16 MiB) that holds what waits for the restart
        n = 1500
        paths = ["/k/%d" % i for i in range(n)]
        sent_before = counter(caller, "sent")
        result = {}
        t = threading.Thread(target=lambda: result.update(load(caller, paths, threads=2)))
        t.start()
        # Kill it once some of this stream's records were acknowledged.
        hh.wait_until(lambda: counter(caller, "sent") >= sent_before + 200, timeout=60,
                      message="records acknowledged before the kill")
        os.killpg(fw.proc.pid, signal.SIGKILL)
        fw.proc.wait(10)
        acked = counter(caller, "sent") - sent_before
        fw.start()
        t.join(300)
        self.assertEqual(sorted(set(result.values())), [200], "the data plane must not notice")
        self.assertEqual(counter(caller, "dropped"), 0, "the queue held everything while the forwarder restarted")
        recs = wait_records(fw, lambda rs: len({r["request"]["target"] for r in of_prefix(rs, "/k/")}) >= n,
                            timeout=120, message="every /k/ exchange stored")
        stored = of_prefix(recs, "/k/")
        self.assertGreaterEqual(len(stored), acked)
        self.assertEqual({r["request"]["target"] for r in stored}, set(paths), "no exchange lost")
        # Duplicates (a batch stored but not acknowledged before the kill) carry the same id: export drops them.
        st, out, err = export(["--from", fw.spool, "--format", "ndjson"])
        st2, out2, err2 = export(["--from", fw.archive, "--format", "ndjson"])
        self.assertEqual((st, st2), (0, 0), err + err2)
        lines = [json.loads(l) for l in (out + out2).splitlines() if l.strip()]
        exported = [r for r in lines if r["request"]["target"].startswith("/k/")]
        ids = {}
        for r in exported:
            ids.setdefault(r["id"], r)
        self.assertEqual(len({r["request"]["target"] for r in ids.values()}), n)
        self.assertEqual(len(ids), n, "one record per exchange once duplicates are dropped")

    def test_3_forwarder_away_bounded_queue_and_resume(self):
        fw, caller = ENV["spare"], ENV["caller_b"]
        fw.sigterm()
        self.assertEqual(fw.wait_exit(20), 0)
        dropped_before, sent_before = counter(caller, "dropped"), counter(caller, "sent")
        limit = 64 * 1024
        peak = [0]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], gauge(caller, "hawser_capture_queue_bytes"))
                stop.wait(0.05)

        w = threading.Thread(target=watch)
        w.start()
        statuses = load(caller, ["/away/%d" % i for i in range(600)], threads=2, body=lambda i: b"x" * 400)
        stop.set()
        w.join(10)
        self.assertEqual(sorted(set(statuses.values())), [200], "requests unharmed while the forwarder is away")
        self.assertLessEqual(peak[0], limit, "the queue stays within queue_bytes")
        self.assertGreater(peak[0], 0)
        self.assertGreater(counter(caller, "dropped"), dropped_before, "a full queue drops and counts")
        fw.start()
        hh.wait_until(lambda: counter(caller, "sent") > sent_before and
                      gauge(caller, "hawser_capture_queue_bytes") == 0, timeout=60,
                      message="shipping resumed and the queue drained")

    def test_4_redaction_before_storage(self):
        token, secret, card = "Bearer sekrit-token-4711", "hunter2-secret-0815", "4111111111111111"
        body = json.dumps({"user": "ann", "password": secret, "card": {"number": card, "exp": "12/30"}}).encode()
        st, _, _ = hh.http_request(ENV["caller"].listener("responder"), "POST", "/redact/1",
                                   headers={"Authorization": token, "Content-Type": "application/json",
                                            "Cookie": "session=cookie-secret-99"},
                                   body=body)
        self.assertEqual(st, 200)
        recs = wait_records(ENV["main"], lambda rs: len(of_prefix(rs, "/redact/1")) >= 2, message="redacted records")
        raw = stored_bytes(ENV["main"].spool, ENV["main"].archive)
        for s in (token, "sekrit-token-4711", secret, card, "cookie-secret-99"):
            self.assertFalse(s.encode() in raw, "%r reached storage" % s)
        for r in of_prefix(recs, "/redact/1"):
            self.assertTrue(r["redacted"])
            for m in (r["request"], r["response"]):
                decoded = body_of(m)
                self.assertNotIn(secret.encode(), decoded)
                self.assertNotIn(card.encode(), decoded)
            doc = json.loads(body_of(r["request"]))
            self.assertEqual(doc["user"], "ann", "only the configured fields are replaced")
            self.assertEqual(doc["card"]["exp"], "12/30")
            self.assertEqual(doc["password"], "[redacted]")
            headers = {k.lower(): v for k, v in r["request"]["headers"]}
            self.assertEqual(headers["authorization"], "[redacted]")
            self.assertEqual(headers["cookie"], "[redacted]")

    def test_5_har_export(self):
        body = b'{"hello": "world"}'
        st, _, _ = hh.http_request(ENV["caller"].listener("responder"), "POST", "/har/1?x=1&y=two",
                                   headers={"Content-Type": "application/json", "X-Trace-Me": "har-test"},
                                   body=body)
        self.assertEqual(st, 200)
        wait_records(ENV["main"], lambda rs: len(of_prefix(rs, "/har/1")) >= 2, message="HAR records")
        out_path = os.path.join(ENV["tmp"], "capture.har")
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        code, _, err = export(["--from", os.path.dirname(ENV["main"].spool), "--format", "har", "--output", out_path,
                               "--service", "caller", "--since", since])
        self.assertEqual(code, 0, err)
        with open(out_path) as f:
            har = json.load(f)
        check_har(self, har)
        entries = [e for e in har["log"]["entries"] if "/har/1" in e["request"]["url"]]
        self.assertEqual(len(entries), 1, "--service caller: the outbound record only")
        e = entries[0]
        self.assertEqual(e["request"]["method"], "POST")
        self.assertTrue(e["request"]["url"].endswith("/har/1?x=1&y=two"), e["request"]["url"])
        self.assertEqual({q["name"]: q["value"] for q in e["request"]["queryString"]}, {"x": "1", "y": "two"})
        self.assertEqual(e["response"]["status"], 200)
        req_h = {h["name"].lower(): h["value"] for h in e["request"]["headers"]}
        self.assertEqual(req_h["x-trace-me"], "har-test")
        self.assertEqual(e["request"]["postData"]["text"], body.decode())
        self.assertEqual(e["request"]["postData"]["mimeType"], "application/json")
        self.assertEqual(e["response"]["content"]["text"], body.decode(), "the app echoes")
        self.assertEqual(e["_hawser"]["direction"], "outbound")
        self.assertEqual(e["_hawser"]["peer"], IDS["responder"])

    def test_6_a_sender_not_allowed_is_refused(self):
        certs, ids = ENV["certs"], ENV["ids"]
        ctx = hh.client_ssl_context(ca=certs.ca_pem(), cert=ids["stranger"][0], key=ids["stranger"][1])
        host, port = hh.parse_addr(ENV["main"].address)
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
        conn.request("POST", "/v1/capture", body=b"", headers={"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        self.assertEqual(r.status, 403)
        self.assertIn(b"spiffe://demo/stranger", r.read())
        conn.close()
        self.assertGreaterEqual(hh.metric_sum(ENV["main"].metrics(), "hawser_forwarder_refused_peers_total"), 1)


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class CaptureTcpTest(unittest.TestCase):
    def test_tcp_sessions_are_recorded_as_metadata(self):
        """A `protocol: tcp` session through the pair: one record each side, bytes and identities."""
        caller, main = ENV["caller"], ENV["main"]
        n = 1237  # a length no other test sends
        payload = os.urandom(n)
        with socket.create_connection(caller.listener("responder-tcp"), timeout=10) as s:
            s.sendall(payload)
            got = b""
            while len(got) < n:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        self.assertEqual(got, payload)

        def mine(rs):
            return [r for r in rs if r.get("kind") == "tcp" and r.get("bytes_in") == n]

        records = mine(wait_records(main, lambda rs: len(mine(rs)) >= 2, message="both tcp records"))
        self.assertEqual(len(records), 2, records)
        by_dir = {r["direction"]: r for r in records}
        out, inb = by_dir["outbound"], by_dir["inbound"]
        self.assertEqual((out["service"], out["remote_service"], out["peer"], out["bytes_out"]),
                         ("caller", "responder-tcp", IDS["responder"], n))
        self.assertEqual(out["upstream"], hh.addr_str(ENV["responder"].listener("echo")))
        self.assertEqual((inb["service"], inb["peer"], inb["bytes_out"], inb["listener"]),
                         ("responder", IDS["caller"], n, "echo"))
        for r in records:
            self.assertNotIn("request", r)  # metadata only: no payload bytes
            self.assertGreater(r["duration_us"], 0)
        self.assertNotIn(base64.b64encode(payload[:64]), stored_bytes(main.spool, main.archive))


def check_har(t, har):
    """The HAR 1.2 structure (required fields and types) of every entry."""
    log = har["log"]
    t.assertEqual(log["version"], "1.2")
    t.assertIsInstance(log["creator"]["name"], str)
    t.assertIsInstance(log["creator"]["version"], str)
    t.assertIsInstance(log["entries"], list)
    t.assertTrue(log["entries"])

    def pairs(items):
        t.assertIsInstance(items, list)
        for p in items:
            t.assertIsInstance(p["name"], str)
            t.assertIsInstance(p["value"], str)

    for e in log["entries"]:
        t.assertRegex(e["startedDateTime"], ISO)
        t.assertIsInstance(e["time"], (int, float))
        rq, rs = e["request"], e["response"]
        for k in ("method", "url", "httpVersion"):
            t.assertIsInstance(rq[k], str)
        for k in ("cookies", "headers", "queryString"):
            t.assertIsInstance(rq[k], list)
        pairs(rq["headers"])
        pairs(rq["queryString"])
        t.assertIsInstance(rq["headersSize"], int)
        t.assertIsInstance(rq["bodySize"], int)
        if "postData" in rq:
            t.assertIsInstance(rq["postData"]["mimeType"], str)
            t.assertIsInstance(rq["postData"]["text"], str)
        t.assertIsInstance(rs["status"], int)
        t.assertIsInstance(rs["statusText"], str)
        t.assertIsInstance(rs["httpVersion"], str)
        t.assertIsInstance(rs["cookies"], list)
        pairs(rs["headers"])
        t.assertIsInstance(rs["content"]["size"], int)
        t.assertIsInstance(rs["content"]["mimeType"], str)
        t.assertIsInstance(rs["redirectURL"], str)
        t.assertIsInstance(rs["headersSize"], int)
        t.assertIsInstance(rs["bodySize"], int)
        t.assertIsInstance(e["cache"], dict)
        for k in ("send", "wait", "receive"):
            t.assertIsInstance(e["timings"][k], (int, float))
        for k in e:
            if k not in ("startedDateTime", "time", "request", "response", "cache", "timings", "pageref",
                         "serverIPAddress", "connection", "comment"):
                t.assertTrue(k.startswith("_"), "custom fields start with an underscore: %s" % k)



class CaptureConfigTest(unittest.TestCase):
    """A capture or forwarder config error names the file, the key and the problem."""

    def check(self, config, key, problem, forwarder=False):
        path = self._write(config)
        args = ["forwarder", "--check", "--config", path] if forwarder else ["check-config", path]
        rc, _, err = hh.run_cmd([hh.hawser_bin()] + args)
        self.assertEqual(rc, 2, err)
        self.assertIn(path, err)
        self.assertIn(key, err)
        self.assertIn(problem, err)

    def test_sidecar_keys(self):
        base = hh.base_config()
        self.check(dict(base, capture={"enabled": True}), "capture.forwarder", "required")
        self.check(dict(base, capture={"enabled": True, "forwarder": "f:8888", "queue_bytes": "12XB"}),
                   "capture.queue_bytes", "invalid size")
        self.check(dict(base, capture={"enabled": True, "forwarder": "f:8888", "tls": {"mode": "mutual"}}),
                   "capture.tls.mode", "needs the top-level tls")
        self.check(dict(base, capture={"enabled": True, "forwarder": "f:8888", "redact_headers": ["bad header"]}),
                   "capture.redact_headers[0]", "not a header name")
        self.check(dict(base, capture={"enabled": True, "forwarder": "f:8888", "sampel_ratio": 1}),
                   "capture.sampel_ratio", "unknown key")
        self.check(dict(base, capture={"enabled": True, "forwarder": "f:8888", "batch": {"delay": "0s"}}),
                   "capture.batch.delay", "greater than 0")

    def test_forwarder_keys(self):
        good = forwarder_config("/tmp/s", "/tmp/a")
        self.check({"listen": "0.0.0.0:8888"}, "storage", "required", forwarder=True)
        self.check(dict(good, authorization={"allow": ["spiffe://demo/caller"]}), "authorization", "needs tls",
                   forwarder=True)
        bad = forwarder_config("/tmp/s", "/tmp/s")
        self.check(bad, "storage.directory", "must not be the spool", forwarder=True)
        bad = forwarder_config("/tmp/s", "/tmp/a", redact={"json_fields": ["a..b"]})
        self.check(bad, "redact.json_fields[0]", "dotted field path", forwarder=True)
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "forwarder", "--check", "--config", self._write(good)])
        self.assertEqual((rc, out.strip()), (0, "ok"), err)

    def test_forwarder_config_from_the_environment(self):
        """HAWSER_CONFIG_YAML holds the forwarder's document, as an ECS task definition passes it."""
        good = hh.to_yaml(forwarder_config("/tmp/s", "/tmp/a")) + "\n"
        bad = hh.to_yaml(forwarder_config("/tmp/s", "/tmp/a", limits={"max_batch_bytes": "1XB"})) + "\n"
        fwd = [hh.hawser_bin(), "forwarder", "--check"]
        rc, out, err = hh.run_cmd(fwd, env={"HAWSER_CONFIG_YAML": good})
        self.assertEqual((rc, out.strip()), (0, "ok"), err)
        rc, _, err = hh.run_cmd(fwd, env={"HAWSER_CONFIG_YAML": bad})
        self.assertEqual(rc, 2, err)
        self.assertIn("HAWSER_CONFIG_YAML", err)
        self.assertIn("limits.max_batch_bytes", err)
        # --config wins over the environment.
        rc, out, err = hh.run_cmd(fwd + ["--config", self._write(forwarder_config("/tmp/s", "/tmp/a"))],
                                  env={"HAWSER_CONFIG_YAML": bad})
        self.assertEqual((rc, out.strip()), (0, "ok"), err)
        env = {"HAWSER_CONFIG_YAML": ""}
        rc, _, err = hh.run_cmd(fwd, env=env)
        self.assertEqual(rc, 2, err)
        self.assertIn("needs --config FILE (or HAWSER_CONFIG_YAML)", err)

    def _write(self, config):
        d = tempfile.mkdtemp(prefix="hawser-capture-config-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "f.yaml")
        with open(path, "w") as f:
            f.write(hh.to_yaml(config) + "\n")
        return path


class SpeedscaleEnvironmentTest(unittest.TestCase):
    """Acceptance 8: the variables of a goproxy task definition, no config file: a dual-mode
    capturing sidecar (ingress on PROXY_IN_PORT to the app, forward proxy on PROXY_OUT_PORT),
    shipping to FORWARDER_ADDR over mTLS with the certificates of TLS_CERT_DIR."""

    def test_goproxy_variables_start_a_capturing_sidecar(self):
        certs, ids = ENV["certs"], ENV["ids"]
        d = tempfile.mkdtemp(prefix="hawser-goproxy-")
        self.addCleanup(shutil.rmtree, d, True)
        shutil.copyfile(ids["caller"][0], os.path.join(d, "tls.crt"))  # the seed task's secret layout
        shutil.copyfile(ids["caller"][1], os.path.join(d, "tls.key"))
        shutil.copyfile(certs.ca_pem(), os.path.join(d, "ca.crt"))
        app_host, app_port = ENV["app"].address.rsplit(":", 1)
        in_port, out_port, admin_port = hh.free_port(), hh.free_port(), hh.free_port()
        env = {"REVERSE_PROXY_PORT": app_port, "REVERSE_PROXY_HOST": app_host, "PROXY_TYPE": "dual",
               "PROXY_IN_PORT": str(in_port), "PROXY_OUT_PORT": str(out_port), "PROXY_PROTOCOL": "http",
               "CAPTURE_MODE": "proxy", "FORWARDER_ADDR": ENV["main"].address, "TLS_OUT_UNWRAP": "false",
               "TLS_CERT_DIR": d, "APP_LABEL": "goproxy-app", "APP_POD_NAME": "goproxy-app-7d9f",
               "APP_POD_NAMESPACE": NS, "LOG_LEVEL": "info",
               "HAWSER_ADMIN_ADDRESS": "127.0.0.1:%d" % admin_port, "HAWSER_LISTEN_HOST": "127.0.0.1"}
        h = hh.Hawser(name="goproxy-env", env=env, no_config=True)
        self.addCleanup(h.stop)
        h.start()
        self.assertEqual(h.admin, ("127.0.0.1", admin_port))
        dump = h.admin_json("/config_dump")
        self.assertEqual(dump["node"]["service"], "goproxy-app")
        st, _, _ = hh.http_request(("127.0.0.1", in_port), "GET", "/env/in")
        self.assertEqual(st, 200, "ingress (PROXY_IN_PORT) reaches the app")
        st, _, _ = hh.http_request(("127.0.0.1", out_port), "GET", "http://%s/env/out" % ENV["app"].address)
        self.assertEqual(st, 200, "the forward proxy (PROXY_OUT_PORT) reaches the destination")
        def mine(rs):
            return {r["request"]["target"]: r for r in rs if r["service"] == "goproxy-app"}

        recs = mine(wait_records(ENV["main"], lambda rs: len(mine(rs)) >= 2, message="the goproxy-style records"))
        self.assertEqual(recs["/env/in"]["direction"], "inbound")
        # The forward proxy's request as the app sent it: absolute form.
        self.assertEqual(recs["http://%s/env/out" % ENV["app"].address]["direction"], "outbound")

    def test_malformed_variables_are_named(self):
        for env, name in (({"REVERSE_PROXY_PORT": "eighty"}, "REVERSE_PROXY_PORT"),
                          ({"PROXY_TYPE": "sideways", "REVERSE_PROXY_PORT": "80"}, "PROXY_TYPE"),
                          ({"FORWARDER_ADDR": "f:8888"}, "REVERSE_PROXY_PORT"),
                          ({"REVERSE_PROXY_PORT": "80", "TLS_OUT_UNWRAP": "true"}, "TLS_OUT_UNWRAP"),
                          ({"REVERSE_PROXY_PORT": "80", "TLS_CERT_DIR": "/nonexistent"}, "TLS_CERT_DIR")):
            clean = {k: v for k, v in os.environ.items() if k not in ("HAWSER_CONFIG", "HAWSER_CONFIG_YAML")}
            clean.update(env)
            p = subprocess.run([hh.hawser_bin(), "check-config"], env=clean, capture_output=True, text=True,
                               timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(name, p.stderr)


if __name__ == "__main__":
    unittest.main()
