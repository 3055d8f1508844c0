"""Self-tests of the support code (no hawser needed):  cd tests/support && python3 -m unittest -v selftest"""

import gzip
import hashlib
import http.client
import json
import socket
import struct
import threading
import unittest
import urllib.error
import urllib.request

import hawser_harness as hh
import otlp_receiver
from echo_server import EchoServer
from ecs_metadata import EcsMetadata
from fake_upstream import FakeUpstream, pattern, ws_accept
from otlp_receiver import OtlpDecodeError, OtlpReceiver, message_class


class FakeUpstreamTest(unittest.TestCase):
    def setUp(self):
        self.f = FakeUpstream("u1")
        self.f.start()
        self.addCleanup(self.f.stop)
        self.addr = ("127.0.0.1", self.f.port)

    def test_echo_keepalive_and_stats(self):
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        for i in range(5):
            c.request("POST", "/p%d?q=1" % i, body=b"hello%d" % i, headers={"X-A": "b"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"hello%d" % i)
            self.assertEqual(r.getheader("x-fake-instance"), "u1")
            self.assertEqual(r.getheader("x-fake-path"), "/p%d?q=1" % i)
            self.assertEqual(json.loads(r.getheader("x-fake-seen-headers"))["x-a"], "b")
        c.close()
        st, _, body = hh.http_request(self.addr, "GET", "/__stats")
        self.assertEqual(json.loads(body), {"connections": 2, "requests": 5})

    def test_body_bytes_chunked_head_204_304(self):
        st, h, body = hh.http_request(self.addr, "GET", "/", headers={"x-fake-body-bytes": "100000",
                                                                      "x-fake-chunked": "1"})
        self.assertEqual(body, pattern(100000))
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        c.request("HEAD", "/", headers={"x-fake-body-bytes": "500"})
        r = c.getresponse()
        self.assertEqual(r.getheader("content-length"), "500")
        self.assertEqual(r.read(), b"")
        for code in (204, 304):
            c.request("GET", "/", headers={"x-fake-status": str(code)})
            r = c.getresponse()
            self.assertEqual(r.status, code)
            self.assertEqual(r.read(), b"")
        c.request("GET", "/x")
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_chunked_request(self):
        data = [b"a" * 1000, b"b" * 5000, b"c"]
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        c.request("POST", "/c", body=iter(data), encode_chunked=True)
        r = c.getresponse()
        body = r.read()
        self.assertEqual(body, b"".join(data))
        self.assertEqual(r.getheader("x-fake-request-chunked"), "1")
        self.assertEqual(r.getheader("x-fake-request-sha256"), hashlib.sha256(body).hexdigest())

    def test_expect_continue_raw(self):
        with hh.RawConn(self.addr) as c:
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            r = c.read_head()
            self.assertEqual(r.status, 100)
            c.send(b"hello")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello"))

    def test_reset_and_hang(self):
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            hh.http_request(self.addr, "GET", "/", headers={"x-fake-reset": "1"})
        with self.assertRaises(socket.timeout):
            hh.http_request(self.addr, "GET", "/", headers={"x-fake-hang": "1"}, timeout=0.5)

    def test_upgrade(self):
        with hh.RawConn(self.addr) as c:
            c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            r = c.read_head()
            self.assertEqual(r.status, 101)
            self.assertEqual(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            self.assertEqual(ws_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            c.send(b"\x00\x01binary\xff")
            self.assertEqual(c.read_exact(9), b"\x00\x01binary\xff")

    def test_wait_release(self):
        c = http.client.HTTPConnection(*self.addr, timeout=5)
        c.request("GET", "/", headers={"x-fake-body-bytes": "200000", "x-fake-wait-release": "1"})
        r = c.getresponse()
        first = r.read(100000)
        self.assertEqual(first, pattern(100000))
        threading.Timer(0.2, self.f.release).start()
        self.assertEqual(first + r.read(), pattern(200000))


class IdleTimeoutTest(unittest.TestCase):
    def test_idle_close(self):
        f = FakeUpstream("idle", idle_timeout=0.2)
        f.start()
        self.addCleanup(f.stop)
        c = http.client.HTTPConnection("127.0.0.1", f.port, timeout=5)
        self.addCleanup(c.close)
        c.request("GET", "/", headers={"x-fake-response-headers": json.dumps({"Set-Cookie": ["a=1", "b=2"]})})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.msg.get_all("Set-Cookie"), ["a=1", "b=2"])
        hh.wait_until(lambda: f.idle_closes == 1, timeout=3)


class EchoTest(unittest.TestCase):
    def test_echo_half_close(self):
        e = EchoServer()
        e.start()
        self.addCleanup(e.stop)
        s = socket.create_connection(("127.0.0.1", e.port), timeout=5)
        data = bytes(range(256)) * 4096
        t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
        t.start()
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        t.join()
        s.close()
        self.assertEqual(bytes(got), data)


class HarnessTest(unittest.TestCase):
    def test_yaml(self):
        y = hh.to_yaml({"a": {"b": 1, "c": [1, 2]}, "l": [{"x": "y", "z": {"q": True}}, {"n": None}],
                        "e": {}})
        self.assertEqual(y, 'a:\n  b: 1\n  c:\n    - 1\n    - 2\nl:\n  - x: "y"\n    z:\n      q: true\n'
                            '  - n: null\ne: {}')

    def test_metrics(self):
        m = hh.parse_metrics('# HELP x\n# TYPE x counter\nx_total{a="1",b="q\\"z"} 3\nx_total{a="2"} 4\n'
                             'y 5.5\nh_bucket{le="+Inf"} 7\n')
        self.assertEqual(hh.metric_sum(m, "x_total"), 7)
        self.assertEqual(hh.metric_sum(m, "x_total", b='q"z'), 3)
        self.assertEqual(hh.metric_sum(m, "y"), 5.5)
        self.assertEqual(hh.metric_sum(m, "h_bucket", le="+Inf"), 7)


# --------------------------------------------------------------------------------------
# OTLP receiver. The protobuf bytes below are written by hand from the wire format (varint
# keys, little-endian fixed64/fixed32), independently of the receiver's runtime schema.

def _varint(n):
    n &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _vint(field, n):
    return _varint(field << 3) + _varint(n)


def _fixed64(field, n):
    return _varint(field << 3 | 1) + struct.pack("<Q", n)


def _fixed32(field, n):
    return _varint(field << 3 | 5) + struct.pack("<I", n)


def _ld(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _kv(key, any_value):
    return _ld(1, key.encode()) + _ld(2, any_value)


TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "eee19b7ec3c1b173"
START = 1700000000123456789  # above 2**53: a JSON double would lose it
END = START + 2500000

EXPECTED_SPAN = {
    "trace_id": TRACE_ID, "span_id": SPAN_ID, "parent_span_id": PARENT_ID, "name": "GET /x", "kind": 2,
    "start_ns": START, "end_ns": END,
    "attributes": {"http.response.status_code": 200, "x.neg": -5, "x.d": 1.5, "x.b": True},
    "status_code": 2, "status_message": "boom", "trace_state": "k=v", "flags": 0x101,
    "events": [{"name": "retry", "time_ns": START + 5, "attributes": {}}], "links": [],
    "resource": {"service.name": "svc"}, "scope": "hawser", "scope_version": "0.1",
}


def hand_encoded_request(span_extra=b"", start_field=None):
    """ExportTraceServiceRequest with one span equal to EXPECTED_SPAN, fields in number order."""
    span = (_ld(1, bytes.fromhex(TRACE_ID)) + _ld(2, bytes.fromhex(SPAN_ID)) + _ld(3, b"k=v")
            + _ld(4, bytes.fromhex(PARENT_ID)) + _ld(5, b"GET /x") + _vint(6, 2)
            + (start_field if start_field is not None else _fixed64(7, START)) + _fixed64(8, END)
            + _ld(9, _kv("http.response.status_code", _vint(3, 200))) + _ld(9, _kv("x.neg", _vint(3, -5)))
            + _ld(9, _kv("x.d", _varint(4 << 3 | 1) + struct.pack("<d", 1.5)))
            + _ld(9, _kv("x.b", _vint(2, 1)))
            + _ld(11, _fixed64(1, START + 5) + _ld(2, b"retry"))
            + _ld(15, _ld(2, b"boom") + _vint(3, 2)) + _fixed32(16, 0x101) + span_extra)
    scope_spans = _ld(1, _ld(1, b"hawser") + _ld(2, b"0.1")) + _ld(2, span)
    resource_spans = _ld(1, _ld(1, _kv("service.name", _ld(1, b"svc")))) + _ld(2, scope_spans)
    return _ld(1, resource_spans)


def runtime_request():
    """The same request built with the receiver's runtime classes."""
    req = message_class("ExportTraceServiceRequest")()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "hawser", "0.1"
    s = ss.spans.add(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID), trace_state="k=v",
                     parent_span_id=bytes.fromhex(PARENT_ID), name="GET /x", kind=2,
                     start_time_unix_nano=START, end_time_unix_nano=END, flags=0x101)
    s.attributes.add(key="http.response.status_code").value.int_value = 200
    s.attributes.add(key="x.neg").value.int_value = -5
    s.attributes.add(key="x.d").value.double_value = 1.5
    s.attributes.add(key="x.b").value.bool_value = True
    s.events.add(time_unix_nano=START + 5, name="retry")
    s.status.message, s.status.code = "boom", 2
    return req


def json_request(**span_overrides):
    """The same request in OTLP/JSON, written out by hand: hex ids (one upper case), int64 as
    string, as number and in exponent form."""
    span = {
        "traceId": TRACE_ID.upper(), "spanId": SPAN_ID, "traceState": "k=v", "parentSpanId": PARENT_ID,
        "name": "GET /x", "kind": 2, "startTimeUnixNano": str(START), "endTimeUnixNano": END,
        "attributes": [
            {"key": "http.response.status_code", "value": {"intValue": "2e2"}},
            {"key": "x.neg", "value": {"intValue": -5}},
            {"key": "x.d", "value": {"doubleValue": 1.5}},
            {"key": "x.b", "value": {"boolValue": True}},
        ],
        "events": [{"timeUnixNano": str(START + 5), "name": "retry"}],
        "status": {"message": "boom", "code": 2},
        "flags": 257,
    }
    span.update(span_overrides)
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "hawser", "version": "0.1"}, "spans": [span]}],
    }]}


def post(receiver, body, content_type, encoding=None, path="/v1/traces", timeout=5.0):
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    return hh.http_request(("127.0.0.1", receiver.port), "POST", path, headers=headers, body=body,
                           timeout=timeout)


class OtlpDecodeTest(unittest.TestCase):
    def test_protobuf_hand_encoded_equals_runtime_classes(self):
        hand = hand_encoded_request()
        self.assertEqual(runtime_request().SerializeToString(), hand)
        self.assertEqual(otlp_receiver.decode(hand, "application/x-protobuf"), [EXPECTED_SPAN])

    def test_protobuf_unknown_field_or_wrong_wire_type_is_an_error(self):
        with self.assertRaisesRegex(OtlpDecodeError, r"spans\[0\].*\(17, 0\)"):
            otlp_receiver.decode(hand_encoded_request(span_extra=_vint(17, 1)), "application/x-protobuf")
        with self.assertRaisesRegex(OtlpDecodeError, r"\(7, 0\)"):  # start time as a varint
            otlp_receiver.decode(hand_encoded_request(start_field=_vint(7, START)), "application/x-protobuf")
        with self.assertRaisesRegex(OtlpDecodeError, "not a protobuf"):
            otlp_receiver.decode(b"\x0a\x05ab", "application/x-protobuf")
        req = runtime_request()
        req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01" * 8
        with self.assertRaisesRegex(OtlpDecodeError, "trace_id must be 16 bytes"):
            otlp_receiver.decode(req.SerializeToString(), "application/x-protobuf")

    def test_json(self):
        body = json.dumps(json_request()).encode()
        self.assertEqual(otlp_receiver.decode(body, "application/json; charset=utf-8"), [EXPECTED_SPAN])
        with self.assertRaisesRegex(OtlpDecodeError, "must be strings|JSON number"):
            otlp_receiver.decode(body, "application/json", strict_int64=True)

    def test_json_errors(self):
        bad = {
            "enum name": ({"kind": "SPAN_KIND_SERVER"}, "enums are integers"),
            "snake_case key": ({"trace_id": TRACE_ID}, "lowerCamelCase"),
            "base64 id": ({"traceId": "W47/95gDgQPSabYzgT/GDA=="}, "hex strings"),
            "unknown key": ({"colour": "blue"}, "unknown key"),
            "fraction": ({"startTimeUnixNano": "1.5"}, "not an integer"),
            "negative fixed64": ({"endTimeUnixNano": -1}, "out of range"),
            "empty trace id": ({"traceId": ""}, "trace_id must be 16 bytes"),
            "two oneof members": ({"attributes": [{"key": "a", "value": {"intValue": 1, "boolValue": True}}]},
                                  "oneof"),
        }
        for what, (override, message) in bad.items():
            with self.subTest(what), self.assertRaisesRegex(OtlpDecodeError, message):
                otlp_receiver.decode(json.dumps(json_request(**override)).encode(), "application/json")
        with self.assertRaisesRegex(OtlpDecodeError, "duplicate JSON key"):
            otlp_receiver.decode(b'{"resourceSpans": [], "resourceSpans": []}', "application/json")
        twice = [{"key": "a", "value": {"intValue": 1}}, {"key": "a", "value": {}}]
        with self.assertRaisesRegex(OtlpDecodeError, "duplicate attribute key"):
            otlp_receiver.decode(json.dumps(json_request(attributes=twice)).encode(), "application/json")

    def test_json_values(self):
        attrs = [{"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {}]}}},
                 {"key": "empty", "value": {"arrayValue": {}}},
                 {"key": "kv", "value": {"kvlistValue": {"values": [
                     {"key": "k", "value": {"doubleValue": "NaN"}}]}}},
                 {"key": "raw", "value": {"bytesValue": "AAH_"}}]  # URL-safe base64, no padding
        body = json.dumps(json_request(attributes=attrs)).encode()
        span = otlp_receiver.decode(body, "application/json")[0]
        self.assertEqual(span["attributes"]["arr"], ["x", None])
        self.assertEqual(span["attributes"]["empty"], [])
        self.assertNotEqual(span["attributes"]["kv"]["k"], span["attributes"]["kv"]["k"])  # NaN
        self.assertEqual(span["attributes"]["raw"], b"\x00\x01\xff")


class OtlpReceiverTest(unittest.TestCase):
    def setUp(self):
        self.r = OtlpReceiver().start()
        self.addCleanup(self.r.stop)

    def test_protobuf_and_json_and_gzip(self):
        st, h, body = post(self.r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual((st, h["content-type"]), (200, "application/x-protobuf"))
        message_class("ExportTraceServiceResponse").FromString(body)  # an empty response parses
        st, h, body = post(self.r, json.dumps(json_request()).encode(), "application/json")
        self.assertEqual((st, h["content-type"], body), (200, "application/json", b"{}"))
        st, _, _ = post(self.r, gzip.compress(hand_encoded_request()), "application/x-protobuf", "gzip")
        self.assertEqual(st, 200)
        body = gzip.compress(json.dumps(json_request()).encode())
        st, _, _ = post(self.r, body, "application/json", "gzip")
        self.assertEqual(st, 200)
        self.assertEqual(self.r.wait_for_spans(4, timeout=5), [EXPECTED_SPAN] * 4)
        reqs = self.r.requests()
        self.assertEqual([(q["content_type"], q["encoding"]) for q in reqs],
                         [("application/x-protobuf", ""), ("application/json", ""),
                          ("application/x-protobuf", "gzip"), ("application/json", "gzip")])
        self.assertEqual(reqs[2]["size"], len(hand_encoded_request()))
        self.assertNotEqual(reqs[2]["raw_size"], reqs[2]["size"])
        self.assertEqual(reqs[2]["headers"]["content-encoding"], "gzip")
        self.assertEqual(self.r.decode_errors(), [])

    def test_bad_payloads(self):
        st, _, _ = post(self.r, hand_encoded_request(span_extra=_vint(17, 1)), "application/x-protobuf")
        self.assertEqual(st, 400)
        st, _, _ = post(self.r, b"{}", "text/plain")
        self.assertEqual(st, 415)
        st, _, _ = post(self.r, b"not gzip", "application/json", "gzip")
        self.assertEqual(st, 400)
        st, _, _ = post(self.r, hand_encoded_request(), "application/x-protobuf", path="/v1/metrics")
        self.assertEqual(st, 404)
        self.assertEqual(len(self.r.decode_errors()), 3)
        self.assertEqual(self.r.spans(), [])
        with self.assertRaisesRegex(AssertionError, "decode error"):
            self.r.wait_for_spans(1, timeout=5)  # fails at once, not after 5 s

    def test_wait_says_what_arrived(self):
        post(self.r, hand_encoded_request(), "application/x-protobuf")
        with self.assertRaisesRegex(AssertionError, r"timed out .* 1 span\(s\) accepted .*GET /x"):
            self.r.wait_for_spans(lambda spans: any(s["name"] == "POST /y" for s in spans), timeout=0.2)

    def test_response_script(self):
        r = OtlpReceiver(responses=[(503, {"Retry-After": "1"}), 429, None]).start()
        self.addCleanup(r.stop)
        st, h, _ = post(r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual((st, h.get("retry-after")), (503, "1"))
        st, _, _ = post(r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual(st, 429)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            post(r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual(r.spans(), [])
        st, _, _ = post(r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual(st, 200)
        self.assertEqual(r.wait_for_spans(1, timeout=5), [EXPECTED_SPAN])
        self.assertEqual([(q["status"], len(q["spans"])) for q in r.requests()],
                         [(503, 1), (429, 1), (None, 1), (200, 1)])
        r.add_responses((502, {}, b"custom"))
        st, _, body = post(r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual((st, body), (502, b"custom"))

    def test_stop_and_restart_on_the_same_port(self):
        port = self.r.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.addCleanup(conn.close)
        protobuf = {"Content-Type": "application/x-protobuf"}
        conn.request("POST", "/v1/traces", body=hand_encoded_request(), headers=protobuf)
        self.assertEqual(conn.getresponse().read(), b"")
        self.r.stop()
        with self.assertRaises(ConnectionRefusedError):
            post(self.r, hand_encoded_request(), "application/x-protobuf")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):  # kept-alive one closed
            conn.request("POST", "/v1/traces", body=hand_encoded_request(), headers=protobuf)
            conn.getresponse()
        self.r.start()
        self.assertEqual(self.r.port, port)
        st, _, _ = post(self.r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual(st, 200)
        self.assertEqual(len(self.r.wait_for_spans(2, timeout=5)), 2)

    def test_slow(self):
        self.r.delay = 0.2
        st, _, _ = post(self.r, hand_encoded_request(), "application/x-protobuf")
        self.assertEqual(st, 200)
        self.r.delay = 30
        with self.assertRaises((socket.timeout, TimeoutError)):
            post(self.r, hand_encoded_request(), "application/x-protobuf", timeout=0.2)
        self.r.stop()  # does not wait out the delay; that request is never answered
        hh.wait_until(lambda: len(self.r.requests()) == 2, timeout=5, message="the slow request recorded")
        self.assertEqual([q["status"] for q in self.r.requests()], [200, None])
        self.assertEqual(len(self.r.spans()), 1)


class EcsMetadataTest(unittest.TestCase):
    def test_documents(self):
        ecs = EcsMetadata(cluster="demo", region="us-west-2", account="111122223333").start()
        self.addCleanup(ecs.stop)
        self.assertRegex(ecs.uri, r"^http://127\.0\.0\.1:\d+/v4/[0-9a-f]{32}-\d{10}$")
        with urllib.request.urlopen(ecs.uri, timeout=5) as resp:
            container = json.load(resp)
        with urllib.request.urlopen(ecs.uri + "/task", timeout=5) as resp:
            task = json.load(resp)
        self.assertEqual(container["Name"], "hawser")
        self.assertRegex(container["ContainerARN"], r"^arn:aws:ecs:us-west-2:111122223333:container/demo/")
        self.assertEqual(container["LogOptions"]["awslogs-region"], "us-west-2")
        self.assertEqual(container["LogOptions"]["awslogs-group"], "/ecs/demo-app")
        self.assertEqual(container["LogOptions"]["awslogs-stream"], "ecs/hawser/" + ecs.task_id)
        self.assertEqual(task["Cluster"], "arn:aws:ecs:us-west-2:111122223333:cluster/demo")
        self.assertEqual(task["TaskARN"], "arn:aws:ecs:us-west-2:111122223333:task/demo/" + ecs.task_id)
        self.assertEqual((task["Family"], task["Revision"], task["LaunchType"], task["AvailabilityZone"]),
                         ("demo-app", "7", "FARGATE", "us-west-2a"))
        self.assertEqual([c["Name"] for c in task["Containers"]], ["hawser", "app"])
        self.assertEqual(task["Containers"][0], container)
        self.assertEqual((ecs.count(), ecs.count("/task")), (1, 1))
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(ecs.uri + "/stats", timeout=5)
        self.assertEqual(e.exception.code, 404)
        ecs.fail_status = 500
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(ecs.uri + "/task", timeout=5)
        self.assertEqual(e.exception.code, 500)
        self.assertEqual(ecs.count("/task"), 2)
        self.assertEqual(sum(ecs.counts().values()), 4)


if __name__ == "__main__":
    unittest.main()
