"""Issue 14, acceptance 2-6: OpenTelemetry traces through a sidecar pair.

    test --plaintext--> caller hawser ==mTLS==> responder hawser --> fake upstream (the app)
    each sidecar exports OTLP/HTTP to an OtlpReceiver (tests/support/otlp_receiver.py), which
    decodes protobuf with google.protobuf classes built from the public OTLP field numbers and
    JSON by the OTLP JSON mapping: an encoder that got a field wrong fails here.

Checked: one trace with the caller's CLIENT spans as the parents of the callee's SERVER span
and the trace id reaching the app in `traceparent`; one child span per retried attempt;
http/json; an incoming X-Ray header kept across both sidecars (the app sees both formats);
sample_ratio 0 exports nothing unless the caller sampled; a collector answering 503 loses no
span; a collector that is down leaves requests unharmed and counts the failures; a full queue
drops and counts; SIGTERM flushes what is queued; the ECS task metadata in the resource.
"""

import json
import os
import re
import shutil
import tempfile
import unittest

import hawser_harness as hh
from ecs_metadata import EcsMetadata
from fake_upstream import FakeUpstream
from otlp_receiver import OtlpReceiver

NS = "demo"
CALLER_ID = "spiffe://%s/caller" % NS
RESPONDER_ID = "spiffe://%s/responder" % NS
SERVER, CLIENT = 2, 3
TIMEOUTS = {"connect": "2s", "request": "10s", "idle": "30s"}
FAST_BATCH = {"max_spans": 64, "delay": "100ms"}
ENV = {}


def tracing(receiver, **extra):
    otlp = {"endpoint": receiver.url, "batch": dict(FAST_BATCH)}
    otlp.update(extra)
    return {"tracing": {"otlp": otlp}, "access_log": {"path": "off"}}


def start(config, name, env=None):
    h = hh.Hawser(hh.base_config(**config), name=name, env=env)
    unittest.addModuleCleanup(h.stop)
    h.start()
    return h


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="hawser-tracing-")
    unittest.addModuleCleanup(shutil.rmtree, tmp, True)
    app = FakeUpstream("app")
    app.start()
    unittest.addModuleCleanup(app.stop)
    certs, ids = hh.make_certs(os.path.join(tmp, "pki"), namespace=NS, services=("caller", "responder"))
    receivers = {}
    for name in ("pair", "json"):
        receivers[name] = OtlpReceiver().start()
        unittest.addModuleCleanup(receivers[name].stop)

    responder = start(dict(
        node={"service": "responder", "namespace": NS},
        tls=hh.tls_block(*ids["responder"], certs.ca_pem()),
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": app.address, "protocol": "http",
                  "timeouts": TIMEOUTS, "tls": {"mode": "strict"}, "authorization": {"allow": [CALLER_ID]}}],
        telemetry=tracing(receivers["pair"], propagation=["w3c", "xray"], compression="gzip"),
    ), "responder")

    def outbound(**svc):
        s = {"name": "responder", "alias": "127.0.0.1:0", "protocol": "http",
             "discovery": {"static": [hh.addr_str(responder.listener("app"))]},
             "timeouts": TIMEOUTS, "tls": {"mode": "mutual", "sans": [RESPONDER_ID]},
             "retry": {"attempts": 3, "on": ["server-error"], "backoff": {"base": "10ms", "max": "20ms"}}}
        s.update(svc)
        return {"services": [s]}

    caller = start(dict(
        node={"service": "caller", "namespace": NS},
        tls=hh.tls_block(*ids["caller"], certs.ca_pem()),
        outbound=outbound(),
        telemetry=tracing(receivers["pair"], propagation=["w3c", "xray"], compression="gzip"),
    ), "caller")
    caller_json = start(dict(
        node={"service": "caller", "namespace": NS},
        tls=hh.tls_block(*ids["caller"], certs.ca_pem()),
        outbound=outbound(),
        telemetry=tracing(receivers["json"], protocol="http/json", sample_ratio=0, compression="none"),
    ), "caller-json")
    ENV.update(app=app, certs=certs, ids=ids, responder=responder, caller=caller, caller_json=caller_json,
               rx=receivers["pair"], rx_json=receivers["json"], tmp=tmp)


def get(sidecar, path, headers=None, listener="responder"):
    st, h, body = hh.http_request(sidecar.listener(listener), "GET", path, headers=headers or {})
    return st, h, body


def app_headers(path):
    """The request headers the app saw for the (last) request to `path`."""
    recs = ENV["app"].requests_for(path)
    if not recs:
        raise AssertionError("the app saw no request for %s" % path)
    return recs[-1]["h"]


def traceparent(value):
    m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])", value or "")
    if not m:
        raise AssertionError("not a W3C traceparent: %r" % value)
    return m.group(1), m.group(2), m.group(3) == "01"


def of_trace(trace_id, n, receiver=None):
    rx = receiver or ENV["rx"]
    return [s for s in rx.wait_for_spans(lambda spans: len([s for s in spans if s["trace_id"] == trace_id]) >= n,
                                         timeout=20)
            if s["trace_id"] == trace_id]


def counter(sidecar, outcome):
    return hh.metric_sum(sidecar.metrics(), "hawser_trace_spans_total", outcome=outcome)


class TracingPairTest(unittest.TestCase):
    def test_one_trace_across_both_sidecars(self):
        st, _, _ = get(ENV["caller"], "/t1?secret=x", headers={"User-Agent": "trace-test/1"})
        self.assertEqual(st, 200)
        trace, app_parent, sampled = traceparent(app_headers("/t1?secret=x").get("traceparent"))
        self.assertTrue(sampled)
        spans = of_trace(trace, 2)
        self.assertEqual(len(spans), 2, spans)
        by = {(s["resource"]["service.name"], s["kind"]): s for s in spans}
        # One attempt: the caller's one CLIENT span is the request and its attempt.
        request = attempt = by[("caller", CLIENT)]
        server = by[("responder", SERVER)]
        # The links: caller CLIENT <- the callee's SERVER span <- the app.
        self.assertEqual(request["parent_span_id"], "")
        self.assertEqual(server["parent_span_id"], request["span_id"])
        self.assertEqual(app_parent, server["span_id"])
        # Semantic conventions.
        a = server["attributes"]
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["url.path"], "/t1")  # never the query
        self.assertEqual(a["url.scheme"], "https")
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual(a["user_agent.original"], "trace-test/1")
        self.assertEqual(a["hawser.peer_identity"], CALLER_ID)
        self.assertEqual(a["network.peer.address"], "127.0.0.1")
        self.assertEqual(server["status_code"], 0)  # unset
        self.assertEqual(request["attributes"]["hawser.upstream_identity"], RESPONDER_ID)
        self.assertEqual(attempt["attributes"]["hawser.attempt"], 1)
        self.assertEqual(attempt["attributes"]["network.peer.address"], "127.0.0.1")
        self.assertEqual(server["name"], "GET")
        for s in spans:
            self.assertGreater(s["end_ns"], s["start_ns"])
            self.assertEqual(s["scope"], "hawser")
            self.assertEqual(s["resource"]["service.namespace"], NS)
            self.assertEqual(s["resource"]["cloud.provider"], "aws")
        self.assertLessEqual(request["start_ns"], server["start_ns"])
        rq = [r for r in ENV["rx"].requests() if r["spans"]]
        self.assertTrue(all(r["content_type"] == "application/x-protobuf" and r["encoding"] == "gzip" for r in rq), rq)

    def test_retried_request_shows_each_attempt(self):
        st, _, _ = get(ENV["caller"], "/t2", headers={"x-fake-status": "503"})
        self.assertEqual(st, 503)
        trace, _, _ = traceparent(app_headers("/t2").get("traceparent"))
        spans = of_trace(trace, 7)  # 1 request + 3 attempts (caller), 3 SERVER (responder)
        self.assertEqual(len(spans), 7)
        request = [s for s in spans if s["kind"] == CLIENT and "hawser.attempt" not in s["attributes"]]
        attempts = sorted((s for s in spans if "hawser.attempt" in s["attributes"]),
                          key=lambda s: s["attributes"]["hawser.attempt"])
        servers = [s for s in spans if s["kind"] == SERVER]
        self.assertEqual(len(request), 1)
        self.assertEqual([a["attributes"]["hawser.attempt"] for a in attempts], [1, 2, 3])
        self.assertEqual(len(servers), 3)
        for a in attempts:
            self.assertEqual(a["parent_span_id"], request[0]["span_id"])
            self.assertEqual(a["attributes"]["http.response.status_code"], 503)
            self.assertEqual(a["status_code"], 2)  # error
        self.assertEqual(attempts[1]["attributes"]["http.request.resend_count"], 1)
        self.assertEqual(sorted(s["parent_span_id"] for s in servers), sorted(a["span_id"] for a in attempts))
        self.assertEqual(request[0]["attributes"]["hawser.attempts"], 3)
        self.assertEqual(request[0]["status_code"], 2)
        for s in servers:
            self.assertEqual(s["status_code"], 2)  # a 5xx SERVER span is an error
            self.assertEqual(s["attributes"]["error.type"], "503")

    def test_client_error_is_not_a_server_error(self):
        st, _, _ = get(ENV["caller"], "/t4", headers={"x-fake-status": "404"})
        self.assertEqual(st, 404)
        trace, _, _ = traceparent(app_headers("/t4").get("traceparent"))
        spans = of_trace(trace, 2)
        server = [s for s in spans if s["kind"] == SERVER][0]
        request = [s for s in spans if s["kind"] == CLIENT][0]
        self.assertEqual(server["status_code"], 0)
        self.assertEqual(request["status_code"], 2)

    def test_incoming_caller_context_is_continued(self):
        caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        st, _, _ = get(ENV["caller"], "/t3", headers={
            "traceparent": "00-%s-%s-01" % (caller_trace, caller_span), "tracestate": "vendor=a1,other=b2"})
        self.assertEqual(st, 200)
        h = app_headers("/t3")
        trace, _, sampled = traceparent(h.get("traceparent"))
        self.assertEqual((trace, sampled), (caller_trace, True))
        self.assertEqual(h.get("tracestate"), "vendor=a1,other=b2")
        spans = of_trace(caller_trace, 2)
        request = [s for s in spans if s["kind"] == CLIENT][0]
        self.assertEqual(request["parent_span_id"], caller_span)
        self.assertEqual(request["trace_state"], "vendor=a1,other=b2")

    def test_xray_header_kept_across_both_sidecars(self):
        root = "1-5759e988-bd862e3fe1be46a994272793"
        st, _, _ = get(ENV["caller"], "/x1", headers={
            "X-Amzn-Trace-Id": "Root=%s;Parent=53995c3f42cd8ad8;Sampled=1" % root})
        self.assertEqual(st, 200)
        h = app_headers("/x1")
        trace, parent, sampled = traceparent(h.get("traceparent"))
        self.assertEqual(trace, "5759e988bd862e3fe1be46a994272793")
        self.assertTrue(sampled)
        self.assertEqual(h.get("x-amzn-trace-id"), "Root=%s;Parent=%s;Sampled=1" % (root, parent))
        spans = of_trace(trace, 2)
        self.assertEqual({s["resource"]["service.name"] for s in spans}, {"caller", "responder"})
        request = [s for s in spans if s["kind"] == CLIENT][0]
        self.assertEqual(request["parent_span_id"], "53995c3f42cd8ad8")

    def test_an_alb_root_without_parent_keeps_its_trace_id(self):
        st, _, _ = get(ENV["caller"], "/x3", headers={"X-Amzn-Trace-Id": "Root=1-6759e988-cd862e3fe1be46a994272793"})
        self.assertEqual(st, 200)
        trace, _, sampled = traceparent(app_headers("/x3").get("traceparent"))
        self.assertEqual(trace, "6759e988cd862e3fe1be46a994272793")
        self.assertTrue(sampled)  # no decision came with it: the caller's ratio (1.0) decided
        spans = of_trace(trace, 2)
        request = [s for s in spans if s["kind"] == CLIENT][0]
        self.assertEqual(request["parent_span_id"], "")  # a root span in the ALB's trace
        self.assertEqual(request["attributes"]["url.full"], "http://%s/x3" % hh.addr_str(ENV["caller"].listener("responder")))

    def test_new_trace_with_xray_on_has_an_xray_valid_id(self):
        st, _, _ = get(ENV["caller"], "/x2")
        self.assertEqual(st, 200)
        h = app_headers("/x2")
        trace, parent, _ = traceparent(h.get("traceparent"))
        m = re.fullmatch(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=1",
                         h.get("x-amzn-trace-id", ""))
        self.assertTrue(m, h.get("x-amzn-trace-id"))
        self.assertEqual(m.group(1) + m.group(2), trace)
        self.assertEqual(m.group(3), parent)
        # X-Ray ids start with the epoch seconds of the trace's start.
        import time
        self.assertLess(abs(int(m.group(1), 16) - time.time()), 600)


class SamplingTest(unittest.TestCase):
    def test_ratio_zero_exports_only_sampled_callers_and_json_decodes(self):
        cj = ENV["caller_json"]
        # Unsampled: no context from the app, ratio 0.
        st, _, _ = get(cj, "/s0")
        self.assertEqual(st, 200)
        unsampled, _, flag = traceparent(app_headers("/s0").get("traceparent"))
        self.assertFalse(flag)
        # Sampled by the app's caller: exported despite the ratio, as JSON.
        sampled_trace = "0af7651916cd43dd8448eb211c80319c"
        st, _, _ = get(cj, "/s1", headers={"traceparent": "00-%s-b7ad6b7169203331-01" % sampled_trace})
        self.assertEqual(st, 200)
        spans = of_trace(sampled_trace, 1, ENV["rx_json"])
        self.assertEqual({s["kind"] for s in spans}, {CLIENT})
        request = spans[0]
        self.assertEqual(request["parent_span_id"], "b7ad6b7169203331")
        self.assertEqual(request["attributes"]["http.response.status_code"], 200)
        # The responder honours the flag too: its SERVER span for the sampled trace arrives,
        # and (FIFO, one exporter each) nothing of the unsampled one came before it.
        of_trace(sampled_trace, 1)
        for rx in (ENV["rx"], ENV["rx_json"]):
            self.assertEqual([s for s in rx.spans() if s["trace_id"] == unsampled], [])
        rq = [r for r in ENV["rx_json"].requests() if r["spans"]]
        self.assertTrue(rq and all(r["content_type"] == "application/json" and not r["encoding"] for r in rq), rq)


class ExporterTest(unittest.TestCase):
    """Export failures, the queue bound, the flush at exit, the ECS resource: one sidecar
    each, straight to the app (no TLS: what is tested is the exporter)."""

    def sidecar(self, name, telemetry, env=None, node=None):
        cfg = dict(
            node=node or {"service": name, "namespace": NS},
            outbound={"services": [{"name": "app", "alias": "127.0.0.1:0", "protocol": "http",
                                    "discovery": {"static": [ENV["app"].address]}, "timeouts": TIMEOUTS,
                                    "tls": {"mode": "disabled"}}]})
        if telemetry is not None:
            cfg["telemetry"] = telemetry
        h = hh.Hawser(hh.base_config(**cfg), name=name, env=env)
        self.addCleanup(h.stop)
        return h.start()

    def send(self, h, n, prefix):
        for i in range(n):
            st, _, _ = get(h, "/%s%d" % (prefix, i), listener="app")
            self.assertEqual(st, 200)

    def test_collector_503_then_200_loses_no_span(self):
        rx = OtlpReceiver(responses=[(503, {"Retry-After": "1"}), (503, {})]).start()
        self.addCleanup(rx.stop)
        h = self.sidecar("retrying", tracing(rx))
        self.send(h, 5, "r")
        spans = rx.wait_for_spans(5, timeout=30)
        self.assertEqual(len(spans), 5)  # 5 requests, one attempt each: one CLIENT span each
        self.assertEqual(len({s["span_id"] for s in spans}), 5)
        self.assertGreaterEqual(len([r for r in rx.requests() if r["status"] == 503]), 2)
        hh.wait_until(lambda: counter(h, "exported") == 5, timeout=10, message="exported == 5")
        self.assertEqual(counter(h, "failed"), 0)
        self.assertEqual(counter(h, "dropped"), 0)

    def test_collector_down_counts_and_requests_are_unharmed(self):  # 4 requests, a span each
        down = "http://127.0.0.1:%d" % hh.free_port()
        h = self.sidecar("down", {"tracing": {"otlp": {"endpoint": down, "batch": dict(FAST_BATCH)}},
                                  "access_log": {"path": "off"}})
        self.send(h, 4, "d")  # every request answered while the collector is unreachable
        hh.wait_until(lambda: counter(h, "failed") == 4, timeout=60, message="4 spans counted as failed")
        self.assertEqual(counter(h, "exported"), 0)

    def test_full_queue_drops_and_sigterm_flushes_the_rest(self):
        rx = OtlpReceiver().start()
        self.addCleanup(rx.stop)
        h = self.sidecar("flush", tracing(rx, batch={"delay": "1h"}, max_queue_spans=3))
        self.send(h, 5, "f")  # 5 spans: 3 fit the queue
        hh.wait_until(lambda: counter(h, "dropped") == 2, timeout=10, message="2 spans dropped")
        self.assertEqual(rx.spans(), [])  # an hour's batch delay: nothing sent yet
        h.sigterm()
        self.assertEqual(h.wait_exit(timeout=20), 0)
        self.assertEqual(len(rx.spans()), 3)

    def test_access_log_lines_carry_the_trace_and_span_ids(self):
        rx = OtlpReceiver().start()
        self.addCleanup(rx.stop)
        log_path = os.path.join(ENV["tmp"], "access-trace.log")
        telemetry = tracing(rx)
        telemetry["access_log"] = {"path": log_path}
        h = self.sidecar("logged", telemetry)
        self.send(h, 1, "l")
        spans = rx.wait_for_spans(1, timeout=20)
        request = spans[0]

        def line():
            with open(log_path) as f:
                lines = [json.loads(x) for x in f if x.strip()]
            return lines[-1] if lines else None
        entry = hh.wait_until(line, timeout=10, message="an access log line")
        self.assertEqual(entry["trace_id"], request["trace_id"])
        self.assertEqual(entry["span_id"], request["span_id"])

    def test_ecs_task_metadata_and_otel_environment(self):
        md = EcsMetadata(region="eu-west-1", account="123456789012", cluster="prod").start()
        self.addCleanup(md.stop)
        rx = OtlpReceiver().start()
        self.addCleanup(rx.stop)
        # Tracing from the environment alone, as an SDK would take it.
        h = self.sidecar("ecs", {"access_log": {"path": "off"}}, env={
            "ECS_CONTAINER_METADATA_URI_V4": md.uri,
            "OTEL_EXPORTER_OTLP_ENDPOINT": rx.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,team=pay%20ments",
            "OTEL_SERVICE_NAME": "checkout",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20s3cret,x-tenant=blue",
        })
        self.send(h, 1, "e")
        spans = rx.wait_for_spans(1, timeout=20)
        r = spans[0]["resource"]
        self.assertEqual(r["cloud.platform"], "aws_ecs")
        self.assertEqual(r["aws.ecs.task.arn"], md.task_arn)
        self.assertEqual(r["aws.ecs.cluster.arn"], md.cluster_arn)
        self.assertEqual(r["aws.ecs.launchtype"], "fargate")
        self.assertEqual(r["cloud.region"], "eu-west-1")
        self.assertEqual(r["cloud.availability_zone"], "eu-west-1a")
        self.assertEqual(r["deployment.environment"], "test")
        self.assertEqual(r["team"], "pay ments")
        self.assertEqual(r["service.name"], "checkout")
        self.assertEqual(md.count("/task"), 1)  # read once
        rq = [x for x in rx.requests() if x["spans"]]
        self.assertEqual(rq[0]["content_type"], "application/json")
        self.assertEqual(rq[0]["headers"]["authorization"], "Bearer s3cret")
        self.assertEqual(rq[0]["headers"]["x-tenant"], "blue")
        # The collector's credentials never show in the config dump or the logs.
        st, _, dump = h.admin_get("/config_dump")
        self.assertEqual(st, 200)
        self.assertIn(b"authorization", dump)
        self.assertNotIn(b"s3cret", dump)
        self.assertFalse(any("s3cret" in line for line in h.stdout.snapshot() + h.stderr.snapshot()))


class TracingConfigTest(unittest.TestCase):
    def check(self, config, env):
        path = os.path.join(ENV["tmp"], "tracing-check.yaml")
        with open(path, "w") as f:
            f.write(hh.to_yaml(hh.plaintext_defaults(hh.base_config(**config))) + "\n")
        return hh.run_cmd([hh.hawser_bin(), "check-config", path], env=env)

    def test_a_malformed_otel_variable_is_an_error_naming_it(self):
        for env, needle in (
                ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
                 "OTEL_EXPORTER_OTLP_PROTOCOL"),
                ({"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
                ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "sometimes"},
                 "OTEL_TRACES_SAMPLER"),
                ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "secret-without-eq"},
                 "OTEL_EXPORTER_OTLP_HEADERS"),
                ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                  "OTEL_TRACES_SAMPLER_ARG": "0,05"}, "OTEL_TRACES_SAMPLER_ARG"),
                ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_PROPAGATORS": "baggage"},
                 "OTEL_PROPAGATORS")):
            rc, out, err = self.check({}, env)
            self.assertNotEqual(rc, 0, env)
            self.assertIn(needle, out + err)
            self.assertNotIn("secret-without-eq", out + err)

    def test_file_keys_are_checked_and_named(self):
        rc, out, err = self.check({"telemetry": {"tracing": {"otlp": {"endpoint": "http://c:4318",
                                                                       "sample_ratio": 1.5}}}}, {})
        self.assertNotEqual(rc, 0)
        self.assertIn("telemetry.tracing.otlp.sample_ratio", out + err)
        rc, out, err = self.check({"telemetry": {"tracing": {"otlp": {"endpoint": "http://c:4318",
                                                                       "propagation": ["w3c", "jaeger"]}}}}, {})
        self.assertNotEqual(rc, 0)
        self.assertIn("telemetry.tracing.otlp.propagation[1]", out + err)
        rc, out, err = self.check({"telemetry": {"tracing": {"otlp": {"protocol": "http/json"}}}}, {})
        self.assertNotEqual(rc, 0)
        self.assertIn("telemetry.tracing.otlp.endpoint", out + err)
        rc, out, err = self.check({"telemetry": {"tracing": {"otlp": {"endpoint": "http://c:4318",
                                                                       "propagation": []}}}}, {})
        self.assertNotEqual(rc, 0)
        self.assertIn("telemetry.tracing.otlp.propagation", out + err)

    def test_the_traces_endpoint_variable_is_used_as_is(self):
        text = hh.to_yaml(hh.plaintext_defaults(hh.base_config())) + "\n"
        for env, want in (({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, "http://c:4318/custom"),
                          ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces")):
            h = hh.Hawser(config_text=text, name="dump", env=env)
            self.addCleanup(h.stop)
            h.start()
            st, _, body = h.admin_get("/config_dump")
            self.assertEqual(json.loads(body)["telemetry"]["tracing"]["otlp"]["endpoint"], want)
            h.stop()


if __name__ == "__main__":
    unittest.main()
