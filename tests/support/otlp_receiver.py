#!/usr/bin/env python3
"""A fake OpenTelemetry collector for tests: an OTLP/HTTP trace receiver on loopback.

It decodes what hawser's exporter sends to `/v1/traces` independently of hawser's
encoder, strictly enough to catch the encoder's mistakes:

  application/x-protobuf  decoded with Debian's python3-protobuf into message classes
                          built at run time from a schema written here from
                          opentelemetry-proto (no generated code, no protoc). A field
                          the schema does not know, or a known field number sent with
                          the wrong wire type, is a decode error.
  application/json        the OTLP/JSON mapping: lowerCamelCase keys only, trace and
                          span ids as hex, enums as integers, 64-bit integers as
                          decimal strings or numbers. Unknown keys, duplicate keys,
                          enum names and snake_case keys are decode errors (a real
                          collector ignores unknown keys; a test wants to know).
  Content-Encoding: gzip  is gunzipped first.

Both decode to the same list of span dicts (see `spans_of`), and also fail on ids of
the wrong length and on duplicate attribute keys.

    r = OtlpReceiver(responses=[(503, {"Retry-After": "1"})]).start()
    self.addCleanup(r.stop)
    ... point hawser at r.url ...
    spans = r.wait_for_spans(lambda s: any(x["name"] == "GET /x" for x in s), timeout=10)

A POST to /v1/traces is answered 200 with an empty ExportTraceServiceResponse in the
request's encoding, unless the response script says otherwise: `responses` is served in
order, one entry per request, before falling back to 200. An entry is a status, a
(status, headers) or (status, headers, body) tuple; status None closes the connection
without answering. Spans of a request answered with anything but 200 are recorded
with the request but not counted in spans(), so a test can check that the exporter
retried and lost nothing. A bad payload is answered 400 (415 for an unknown content
type); any other path 404. `delay` (seconds, settable at any time) makes every answer
slow; stop() then start() serves on the same port again (a collector down, then up).

CLI (prints what arrives): python3 otlp_receiver.py [--port 4318] [--delay S]
"""

import argparse
import base64
import decimal
import gzip
import http.server
import json
import re
import socket
import sys
import threading
import time

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    # Debian's python3-protobuf (scripts/setup) lives in /usr/lib/python3/dist-packages,
    # which a python3 other than Debian's own (e.g. pyenv's) does not search.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        raise ImportError("otlp_receiver needs Debian's python3-protobuf "
                          "(apt-get install python3-protobuf)") from None

LOOPBACK = "127.0.0.1"
TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# --------------------------------------------------------------------------------------
# The schema, from opentelemetry-proto (common/v1/common.proto, resource/v1/resource.proto,
# trace/v1/trace.proto, collector/trace/v1/trace_service.proto). Left out on purpose:
# fields hawser must not send to a trace endpoint (AnyValue.string_value_strindex = 8 and
# KeyValue.key_strindex = 3, for profiles; Resource.entity_refs = 3, in development), so
# they decode as unknown fields.

_COMMON = "opentelemetry.proto.common.v1"
_RESOURCE = "opentelemetry.proto.resource.v1"
_TRACE = "opentelemetry.proto.trace.v1"
_COLLECTOR = "opentelemetry.proto.collector.trace.v1"


def _f(name, number, type_, repeated=False, oneof=None):
    """A field: type_ is a scalar type name, or '.package.Message' / 'enum:.package.Enum'."""
    return (name, number, type_, repeated, oneof)


_KV = "." + _COMMON + ".KeyValue"

_FILES = [
    ("opentelemetry/proto/common/v1/common.proto", _COMMON, [], {
        "AnyValue": [_f("string_value", 1, "string", oneof="value"),
                     _f("bool_value", 2, "bool", oneof="value"),
                     _f("int_value", 3, "int64", oneof="value"),
                     _f("double_value", 4, "double", oneof="value"),
                     _f("array_value", 5, "." + _COMMON + ".ArrayValue", oneof="value"),
                     _f("kvlist_value", 6, "." + _COMMON + ".KeyValueList", oneof="value"),
                     _f("bytes_value", 7, "bytes", oneof="value")],
        "ArrayValue": [_f("values", 1, "." + _COMMON + ".AnyValue", repeated=True)],
        "KeyValueList": [_f("values", 1, _KV, repeated=True)],
        "KeyValue": [_f("key", 1, "string"), _f("value", 2, "." + _COMMON + ".AnyValue")],
        "InstrumentationScope": [_f("name", 1, "string"), _f("version", 2, "string"),
                                 _f("attributes", 3, _KV, repeated=True),
                                 _f("dropped_attributes_count", 4, "uint32")],
    }, {}),
    ("opentelemetry/proto/resource/v1/resource.proto", _RESOURCE,
     ["opentelemetry/proto/common/v1/common.proto"], {
         "Resource": [_f("attributes", 1, _KV, repeated=True),
                      _f("dropped_attributes_count", 2, "uint32")],
     }, {}),
    ("opentelemetry/proto/trace/v1/trace.proto", _TRACE,
     ["opentelemetry/proto/common/v1/common.proto", "opentelemetry/proto/resource/v1/resource.proto"], {
         "ResourceSpans": [_f("resource", 1, "." + _RESOURCE + ".Resource"),
                           _f("scope_spans", 2, "." + _TRACE + ".ScopeSpans", repeated=True),
                           _f("schema_url", 3, "string")],
         "ScopeSpans": [_f("scope", 1, "." + _COMMON + ".InstrumentationScope"),
                        _f("spans", 2, "." + _TRACE + ".Span", repeated=True),
                        _f("schema_url", 3, "string")],
         "Span": [_f("trace_id", 1, "bytes"), _f("span_id", 2, "bytes"),
                  _f("trace_state", 3, "string"), _f("parent_span_id", 4, "bytes"),
                  _f("flags", 16, "fixed32"), _f("name", 5, "string"),
                  _f("kind", 6, "enum:." + _TRACE + ".Span.SpanKind"),
                  _f("start_time_unix_nano", 7, "fixed64"), _f("end_time_unix_nano", 8, "fixed64"),
                  _f("attributes", 9, _KV, repeated=True), _f("dropped_attributes_count", 10, "uint32"),
                  _f("events", 11, "." + _TRACE + ".Span.Event", repeated=True),
                  _f("dropped_events_count", 12, "uint32"),
                  _f("links", 13, "." + _TRACE + ".Span.Link", repeated=True),
                  _f("dropped_links_count", 14, "uint32"),
                  _f("status", 15, "." + _TRACE + ".Status")],
         "Span.Event": [_f("time_unix_nano", 1, "fixed64"), _f("name", 2, "string"),
                        _f("attributes", 3, _KV, repeated=True),
                        _f("dropped_attributes_count", 4, "uint32")],
         "Span.Link": [_f("trace_id", 1, "bytes"), _f("span_id", 2, "bytes"),
                       _f("trace_state", 3, "string"), _f("attributes", 4, _KV, repeated=True),
                       _f("dropped_attributes_count", 5, "uint32"), _f("flags", 6, "fixed32")],
         "Status": [_f("message", 2, "string"),
                    _f("code", 3, "enum:." + _TRACE + ".Status.StatusCode")],
     }, {
         "Span.SpanKind": ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                           "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"],
         "Status.StatusCode": ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
     }),
    ("opentelemetry/proto/collector/trace/v1/trace_service.proto", _COLLECTOR,
     ["opentelemetry/proto/trace/v1/trace.proto"], {
         "ExportTraceServiceRequest": [_f("resource_spans", 1, "." + _TRACE + ".ResourceSpans",
                                          repeated=True)],
         "ExportTraceServiceResponse": [_f("partial_success", 1,
                                           "." + _COLLECTOR + ".ExportTracePartialSuccess")],
         "ExportTracePartialSuccess": [_f("rejected_spans", 1, "int64"),
                                       _f("error_message", 2, "string")],
     }, {}),
]

_FD = descriptor_pb2.FieldDescriptorProto


def _build_classes():
    """{short name ('Span', 'Span.Event', ...): message class}, from _FILES."""
    pool = descriptor_pool.DescriptorPool()
    names = []
    for file_name, package, deps, messages, enums in _FILES:
        fp = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3",
                                                dependency=deps)
        protos = {}
        for short in messages:  # nested ('Span.Event') after their parent, as listed
            parent, _, leaf = short.rpartition(".")
            protos[short] = (protos[parent].nested_type if parent else fp.message_type).add(name=leaf)
        for short, values in enums.items():
            parent, _, leaf = short.rpartition(".")
            enum = protos[parent].enum_type.add(name=leaf)
            for number, value_name in enumerate(values):
                enum.value.add(name=value_name, number=number)
        for short, fields in messages.items():
            mp = protos[short]
            for name, number, type_, repeated, oneof in fields:
                fd = mp.field.add(name=name, number=number,
                                  label=_FD.LABEL_REPEATED if repeated else _FD.LABEL_OPTIONAL)
                if type_.startswith("enum:"):
                    fd.type, fd.type_name = _FD.TYPE_ENUM, type_[5:]
                elif type_.startswith("."):
                    fd.type, fd.type_name = _FD.TYPE_MESSAGE, type_
                else:
                    fd.type = getattr(_FD, "TYPE_" + type_.upper())
                if oneof is not None:
                    if oneof not in [o.name for o in mp.oneof_decl]:
                        mp.oneof_decl.add(name=oneof)
                    fd.oneof_index = [o.name for o in mp.oneof_decl].index(oneof)
            names.append((short, package + "." + short))
        pool.Add(fp)
    factory = message_factory.MessageFactory(pool)
    get = getattr(message_factory, "GetMessageClass", None) or factory.GetPrototype  # >= 4.22 : 4.21
    return {short: get(pool.FindMessageTypeByName(full)) for short, full in names}


CLASSES = _build_classes()


def message_class(name):
    """The runtime class of an OTLP message: 'ExportTraceServiceRequest', 'Span', 'Span.Event' ..."""
    return CLASSES[name]


# --------------------------------------------------------------------------------------
# Decoding

class OtlpDecodeError(Exception):
    pass


def _unknown_fields(msg):
    try:
        from google.protobuf import unknown_fields  # protobuf >= 4.22
        found = unknown_fields.UnknownFieldSet(msg)
    except ImportError:
        found = msg.UnknownFields()
    return [(f.field_number, f.wire_type) for f in found]


def _check_no_unknown_fields(msg, path):
    unknown = _unknown_fields(msg)
    if unknown:
        raise OtlpDecodeError("%s (%s): unknown field(s) %s (field number, wire type): a field "
                              "number or wire type the OTLP schema does not have"
                              % (path, msg.DESCRIPTOR.name, unknown))
    for fd, value in msg.ListFields():
        if fd.type != fd.TYPE_MESSAGE:
            continue
        if fd.label == fd.LABEL_REPEATED:
            for i, item in enumerate(value):
                _check_no_unknown_fields(item, "%s.%s[%d]" % (path, fd.name, i))
        else:
            _check_no_unknown_fields(value, "%s.%s" % (path, fd.name))


def decode_protobuf(body):
    """ExportTraceServiceRequest bytes -> message; OtlpDecodeError on anything unknown."""
    request = message_class("ExportTraceServiceRequest")()
    try:
        request.ParseFromString(body)
    except Exception as e:  # noqa: BLE001 - DecodeError, or a C++ parse failure
        raise OtlpDecodeError("not a protobuf ExportTraceServiceRequest: %s" % e) from None
    _check_no_unknown_fields(request, "request")
    return request


# OTLP/JSON: these bytes fields are hex, every other bytes field is base64.
_HEX_FIELDS = {("Span", "trace_id"), ("Span", "span_id"), ("Span", "parent_span_id"),
               ("Link", "trace_id"), ("Link", "span_id")}
_INT_RANGES = {_FD.TYPE_INT64: (-2 ** 63, 2 ** 63 - 1), _FD.TYPE_FIXED64: (0, 2 ** 64 - 1),
               _FD.TYPE_UINT32: (0, 2 ** 32 - 1), _FD.TYPE_FIXED32: (0, 2 ** 32 - 1),
               _FD.TYPE_ENUM: (-2 ** 31, 2 ** 31 - 1)}
_64_BIT = (_FD.TYPE_INT64, _FD.TYPE_FIXED64)
_NUMBER_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _json_int(fd, v, path, int64_strings):
    if fd.type == fd.TYPE_ENUM:
        if type(v) is not int:  # noqa: E721 - bool is an int subclass and is not allowed
            raise OtlpDecodeError("%s: OTLP/JSON enums are integers only, got %r" % (path, v))
        n = v
    else:
        if int64_strings and fd.type in _64_BIT and not isinstance(v, str):
            raise OtlpDecodeError("%s: 64-bit integer sent as a JSON number %r (strict_int64)" % (path, v))
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise OtlpDecodeError("%s: expected an integer, got %r" % (path, v))
        if isinstance(v, int):
            n = v
        else:
            # ProtoJSON: a number or a decimal string; exponents and a zero fraction allowed.
            text = v if isinstance(v, str) else repr(v)
            if not _NUMBER_RE.match(text):
                raise OtlpDecodeError("%s: not an integer: %r" % (path, v))
            d = decimal.Decimal(text)
            if d != d.to_integral_value():
                raise OtlpDecodeError("%s: not an integer: %r" % (path, v))
            n = int(d)
    lo, hi = _INT_RANGES[fd.type]
    if not lo <= n <= hi:
        raise OtlpDecodeError("%s: %d out of range for %s" % (path, n, fd.name))
    return n


def _json_scalar(fd, v, path, int64_strings, hex_id):
    t = fd.type
    if t == fd.TYPE_STRING:
        if not isinstance(v, str):
            raise OtlpDecodeError("%s: expected a string, got %r" % (path, v))
        return v
    if t == fd.TYPE_BOOL:
        if not isinstance(v, bool):
            raise OtlpDecodeError("%s: expected true/false, got %r" % (path, v))
        return v
    if t == fd.TYPE_BYTES:
        if not isinstance(v, str):
            raise OtlpDecodeError("%s: expected a string, got %r" % (path, v))
        if hex_id:
            if not re.fullmatch(r"([0-9a-fA-F]{2})*", v):
                raise OtlpDecodeError("%s: OTLP/JSON ids are hex strings, got %r" % (path, v))
            return bytes.fromhex(v)
        try:  # standard or URL-safe base64, with or without padding
            s = v.replace("-", "+").replace("_", "/")
            return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
        except ValueError:
            raise OtlpDecodeError("%s: not base64: %r" % (path, v)) from None
    if t == fd.TYPE_DOUBLE:
        if isinstance(v, str):
            if v in ("NaN", "Infinity", "-Infinity"):
                return float(v.replace("Infinity", "inf"))
            if not _NUMBER_RE.match(v):
                raise OtlpDecodeError("%s: not a number: %r" % (path, v))
            return float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise OtlpDecodeError("%s: expected a number, got %r" % (path, v))
        return float(v)
    return _json_int(fd, v, path, int64_strings)


def _fill_from_json(msg, obj, path, int64_strings):
    if not isinstance(obj, dict):
        raise OtlpDecodeError("%s: expected an object for %s, got %r" % (path, msg.DESCRIPTOR.name, obj))
    by_key = {_camel(fd.name): fd for fd in msg.DESCRIPTOR.fields}
    oneofs_seen = {}
    for key, value in obj.items():
        fd = by_key.get(key)
        where = "%s.%s" % (path, key)
        if fd is None:
            hint = " (OTLP/JSON keys are lowerCamelCase)" if _camel(key) in by_key else ""
            raise OtlpDecodeError("%s: unknown key in %s%s" % (where, msg.DESCRIPTOR.name, hint))
        if value is None:  # ProtoJSON: null leaves the field unset
            continue
        if fd.containing_oneof is not None:
            other = oneofs_seen.setdefault(fd.containing_oneof.name, key)
            if other != key:
                raise OtlpDecodeError("%s: both %r and %r of oneof %s set"
                                      % (path, other, key, fd.containing_oneof.name))
        hex_id = (msg.DESCRIPTOR.name, fd.name) in _HEX_FIELDS
        if fd.label == fd.LABEL_REPEATED:
            if not isinstance(value, list):
                raise OtlpDecodeError("%s: expected an array, got %r" % (where, value))
            target = getattr(msg, fd.name)
            for i, item in enumerate(value):
                item_path = "%s[%d]" % (where, i)
                if item is None:
                    raise OtlpDecodeError("%s: null in an array" % item_path)
                if fd.type == fd.TYPE_MESSAGE:
                    _fill_from_json(target.add(), item, item_path, int64_strings)
                else:
                    target.append(_json_scalar(fd, item, item_path, int64_strings, hex_id))
        elif fd.type == fd.TYPE_MESSAGE:
            sub = getattr(msg, fd.name)
            sub.SetInParent()  # present even when {} (an empty arrayValue is still an array)
            _fill_from_json(sub, value, where, int64_strings)
        else:
            setattr(msg, fd.name, _json_scalar(fd, value, where, int64_strings, hex_id))


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise OtlpDecodeError("duplicate JSON key(s) %s" % dups)
    return dict(pairs)


def _no_bare_constants(name):
    raise OtlpDecodeError("bare %s is not JSON (ProtoJSON quotes it: \"NaN\")" % name)


def decode_json(body, strict_int64=False):
    """OTLP/JSON ExportTraceServiceRequest -> message. strict_int64: 64-bit integers
    must be strings (what the ProtoJSON encoder writes; decoders also take numbers)."""
    try:
        obj = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                         parse_constant=_no_bare_constants)
    except UnicodeDecodeError as e:
        raise OtlpDecodeError("JSON body is not UTF-8: %s" % e) from None
    except ValueError as e:
        raise OtlpDecodeError("not JSON: %s" % e) from None
    request = message_class("ExportTraceServiceRequest")()
    _fill_from_json(request, obj, "request", strict_int64)
    return request


def _any_value(v):
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    return getattr(v, which)


def _attributes(key_values):
    out = {}
    for kv in key_values:
        if kv.key in out:
            raise OtlpDecodeError("duplicate attribute key %r" % kv.key)
        out[kv.key] = _any_value(kv.value)
    return out


def _check_id(value, size, what, optional=False):
    if optional and not value:
        return
    if len(value) != size or not any(value):
        raise OtlpDecodeError("%s must be %d bytes, not all zero, got %r" % (what, size, value.hex()))


def spans_of(request):
    """ExportTraceServiceRequest -> [span dict]. Ids are lowercase hex ("" for no parent),
    times in ns, attributes {key: str | bool | int | float | bytes | list | dict | None}."""
    out = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                where = "span %r" % s.name
                _check_id(s.trace_id, 16, where + " trace_id")
                _check_id(s.span_id, 8, where + " span_id")
                _check_id(s.parent_span_id, 8, where + " parent_span_id", optional=True)
                for link in s.links:
                    _check_id(link.trace_id, 16, where + " link trace_id")
                    _check_id(link.span_id, 8, where + " link span_id")
                out.append({
                    "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(), "name": s.name, "kind": s.kind,
                    "start_ns": s.start_time_unix_nano, "end_ns": s.end_time_unix_nano,
                    "attributes": _attributes(s.attributes),
                    "status_code": s.status.code, "status_message": s.status.message,
                    "trace_state": s.trace_state, "flags": s.flags,
                    "events": [{"name": e.name, "time_ns": e.time_unix_nano,
                                "attributes": _attributes(e.attributes)} for e in s.events],
                    "links": [{"trace_id": k.trace_id.hex(), "span_id": k.span_id.hex(),
                               "trace_state": k.trace_state, "flags": k.flags,
                               "attributes": _attributes(k.attributes)} for k in s.links],
                    "resource": resource, "scope": ss.scope.name, "scope_version": ss.scope.version,
                })
    return out


def decode(body, content_type, content_encoding="", strict_int64=False):
    """An OTLP/HTTP trace request body -> [span dict]; OtlpDecodeError if anything is off."""
    encoding = (content_encoding or "").strip().lower()
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as e:
            raise OtlpDecodeError("Content-Encoding: gzip but the body is not gzip: %s" % e) from None
    elif encoding not in ("", "identity"):
        raise OtlpDecodeError("unsupported Content-Encoding %r" % content_encoding)
    media = (content_type or "").split(";")[0].strip().lower()
    if media == PROTOBUF:
        return spans_of(decode_protobuf(body))
    if media == JSON:
        return spans_of(decode_json(body, strict_int64))
    raise OtlpDecodeError("unsupported Content-Type %r" % content_type)


# --------------------------------------------------------------------------------------
# The server

def _read_body(handler):
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        body = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection's thread ends after this

    def setup(self):
        super().setup()
        self.server.receiver._track(self.connection, add=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, add=False)

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.server.receiver._handle(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # restart on the same port despite TIME_WAIT

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a peer resetting is normal here
            super().handle_error(request, client_address)


def _normalize_script_entry(entry):
    if entry is None or isinstance(entry, int):
        return entry, {}, None
    status, headers, *body = entry
    return status, dict(headers or {}), (body[0] if body else None)


class OtlpReceiver:
    def __init__(self, responses=(), delay=0.0, strict_int64=False, port=0):
        self.delay = delay                # seconds before each answer; settable at any time
        self.strict_int64 = strict_int64  # JSON 64-bit integers must be strings
        self.port = port                  # kept across stop()/start()
        self._script = [_normalize_script_entry(e) for e in responses]
        self._cond = threading.Condition()
        self._spans = []
        self._requests = []
        self._conns = set()
        self._server = None
        self._thread = None
        self._stopping = threading.Event()

    # -- lifecycle

    def start(self):
        self._stopping = threading.Event()
        self._server = _Server((LOOPBACK, self.port), _Handler)
        self._server.receiver = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="otlp-receiver-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop listening and close every open connection (what a collector going down does)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    @property
    def traces_url(self):
        return self.url + TRACES_PATH

    # -- what arrived

    def spans(self):
        """Spans of the requests answered 200, in arrival order."""
        with self._cond:
            return list(self._spans)

    def requests(self):
        """Every request: {path, method, headers (lower-cased), content_type, encoding,
        raw_size, size (after gunzip), status (None: dropped), decode_error, spans, time}."""
        with self._cond:
            return [dict(r) for r in self._requests]

    def decode_errors(self):
        with self._cond:
            return [r["decode_error"] for r in self._requests if r["decode_error"]]

    def add_responses(self, *responses):
        """Append to the response script (same entries as the constructor's `responses`)."""
        with self._cond:
            self._script.extend(_normalize_script_entry(e) for e in responses)

    def clear(self):
        with self._cond:
            self._spans.clear()
            self._requests.clear()

    def wait_for_spans(self, predicate_or_count, timeout=10.0):
        """Wait until spans() holds at least N spans, or predicate(spans) is true; return the
        spans. Raise AssertionError (saying what did arrive) on the deadline, and at once on a
        decode error: a payload this receiver cannot read will not become readable."""
        if callable(predicate_or_count):
            predicate, what = predicate_or_count, "the span predicate"
        else:
            predicate, what = (lambda s: len(s) >= predicate_or_count), "%d span(s)" % predicate_or_count
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if any(r["decode_error"] for r in self._requests):
                    raise AssertionError("decode error while waiting for %s: %s" % (what, self._summary()))
                if predicate(list(self._spans)):
                    return list(self._spans)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out after %.1fs waiting for %s: %s"
                                         % (timeout, what, self._summary()))
                self._cond.wait(remaining)

    def wait_for_requests(self, count, timeout=10.0):
        """Wait until at least `count` requests (any status) arrived; return requests()."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out after %.1fs waiting for %d request(s): %s"
                                         % (timeout, count, self._summary()))
                self._cond.wait(remaining)
        return self.requests()

    def _summary(self):
        spans = ["%s(%s/%s)" % (s["name"], s["trace_id"][:8], s["span_id"][:8]) for s in self._spans]
        reqs = ["%s %s -> %s [%s%s, %d B, %d span(s)]%s" % (
            r["method"], r["path"], r["status"], r["content_type"] or "-",
            (" " + r["encoding"]) if r["encoding"] else "", r["raw_size"], len(r["spans"]),
            (" ERROR " + r["decode_error"]) if r["decode_error"] else "") for r in self._requests]
        return "%d span(s) accepted %s; %d request(s) %s" % (len(spans), spans, len(reqs), reqs)

    # -- serving

    def _track(self, conn, add):
        with self._cond:
            (self._conns.add if add else self._conns.discard)(conn)

    def _handle(self, h):
        stopping = self._stopping  # this run's: stop() then start() replaces it
        body = _read_body(h)
        path = h.path.split("?", 1)[0]
        headers = {}
        for k, v in h.headers.items():
            headers[k.lower()] = (headers[k.lower()] + ", " + v) if k.lower() in headers else v
        media = (headers.get("content-type") or "").split(";")[0].strip().lower()
        encoding = (headers.get("content-encoding") or "").strip().lower()
        record = {"path": path, "method": h.command, "headers": headers, "content_type": media,
                  "encoding": encoding, "raw_size": len(body), "size": len(body), "status": None,
                  "decode_error": None, "spans": [], "time": time.monotonic()}
        if path != TRACES_PATH or h.command != "POST":
            status, extra, reply = (404 if path != TRACES_PATH else 405), {}, None
        else:
            try:
                record["size"] = len(gzip.decompress(body)) if encoding == "gzip" else len(body)
            except (OSError, EOFError):
                pass
            try:
                record["spans"] = decode(body, media, encoding, self.strict_int64)
            except OtlpDecodeError as e:
                record["decode_error"] = str(e)
            except Exception as e:  # noqa: BLE001 - a receiver bug must show, not hang the test
                record["decode_error"] = "receiver failed: %r" % (e,)
            with self._cond:
                scripted = self._script.pop(0) if self._script else None
            if scripted is not None:
                status, extra, reply = scripted
            elif record["decode_error"]:
                status, extra, reply = (415 if media not in (PROTOBUF, JSON) else 400), {}, None
            else:
                status, extra, reply = 200, {}, None
        if self.delay:
            stopping.wait(self.delay)
        if stopping.is_set():
            status = None  # stopped while delaying: the client never gets this answer
        record["status"] = status
        with self._cond:
            self._requests.append(record)
            if status == 200 and not record["decode_error"]:
                self._spans.extend(record["spans"])
            self._cond.notify_all()
        if status is None:
            h.close_connection = True  # no answer: the collector dropped the connection
            return
        self._answer(h, status, extra, reply, media)

    @staticmethod
    def _answer(h, status, extra, reply, media):
        if reply is None:
            if media == JSON:
                reply, ctype = b"{}", JSON   # empty ExportTraceServiceResponse / google.rpc.Status
            elif media == PROTOBUF:
                reply, ctype = b"", PROTOBUF
            else:
                reply, ctype = b"not found\n" if status == 404 else b"", "text/plain"
        else:
            ctype = media or "application/octet-stream"
        try:
            h.send_response(status)
            headers = {"Content-Type": ctype, "Content-Length": str(len(reply))}
            headers.update(extra)
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(reply)
        except OSError:
            h.close_connection = True


def main():
    ap = argparse.ArgumentParser(description="OTLP/HTTP trace receiver for manual runs")
    ap.add_argument("--port", type=int, default=4318)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    r = OtlpReceiver(port=args.port, delay=args.delay).start()
    print("listening on %s" % r.traces_url, flush=True)
    seen = 0
    try:
        while True:
            reqs = r.wait_for_requests(seen + 1, timeout=3600)
            for req in reqs[seen:]:
                print("%s %s -> %s %s %s" % (req["method"], req["path"], req["status"], req["content_type"],
                                             req["decode_error"] or ""), flush=True)
                for s in req["spans"]:
                    print("  " + json.dumps(s, default=lambda b: b.hex()), flush=True)
            seen = len(reqs)
    except KeyboardInterrupt:
        r.stop()


if __name__ == "__main__":
    main()
