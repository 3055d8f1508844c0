"""Cloud Map test helpers (standard library only).

    reg = RegistryProcess(tmpdir, data=True, credentials=("AK", "SECRET"), log_requests=True).start()
    cm = CloudMapClient(reg.address, sign=("AK", "SECRET"))
    ns_id = cm.create_namespace("demo")            # CreateHttpNamespace + GetOperation polling
    svc_id = cm.create_service(ns_id, "responder")
    cm.register(svc_id, "i-1", "127.0.0.1", 8081, version="v2")
    cm.deregister(svc_id, "i-1")
    cm.set_health(svc_id, "i-1", "UNHEALTHY")
    reg.stop(); reg.start()                         # same port, same --data file

    creds = ContainerCredentialsServer("auth", "AK", [("SECRET", "T1"), ("SECRET", "T2")], lifetime=12).start()
    env = creds.env()                               # AWS_CONTAINER_CREDENTIALS_FULL_URI + token

    rec = RecordingProxy(reg.address).start()       # sees every request's headers, forwards them
    fake = FakeCloudMap().start()                   # answers DiscoverInstances* as the test says

Every server binds 127.0.0.1 on an ephemeral port, runs in daemon threads and
has an idempotent stop().
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

from hawser_harness import hawser_bin, wait_until

TARGET_PREFIX = "Route53AutoNaming_v20170314."
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------------------
# SigV4 (an independent implementation, for signing test calls to the registry)

def sigv4_headers(headers, payload, access_key, secret, token=None, region="us-east-1"):
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed["x-amz-date"] = amz_date
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical = "\n".join(["POST", "/", "", "".join("%s:%s\n" % (n, signed[n]) for n in names),
                           ";".join(names), hashlib.sha256(payload).hexdigest()])
    scope = "%s/%s/servicediscovery/aws4_request" % (amz_date[:8], region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, "servicediscovery", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {"X-Amz-Date": amz_date,
           "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
               access_key, scope, ";".join(names), signature)}
    if token:
        out["X-Amz-Security-Token"] = token
    return out


# --------------------------------------------------------------------------------------
# The registry's JSON API

class CloudMapError(Exception):
    def __init__(self, op, status, body):
        super().__init__("%s -> %s %r" % (op, status, body))
        self.op, self.status, self.body = op, status, body


class CloudMapClient:
    """A small AWS JSON 1.1 client for `hawser registry` (or any Cloud Map endpoint)."""

    def __init__(self, address, sign=None, timeout=10.0):
        self.address = address                  # "HOST:PORT"
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.sign = sign                        # (access_key, secret[, token]) or None
        self.timeout = timeout

    def raw_call(self, op, body):
        """POST one operation; returns (status, decoded JSON body or {})."""
        payload = json.dumps(body).encode()
        hdrs = {"Host": self.address, "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": TARGET_PREFIX + op}
        if self.sign:
            hdrs.update(sigv4_headers(hdrs, payload, *self.sign))
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", "/", body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            try:
                decoded = json.loads(data) if data else {}
            except ValueError:
                decoded = {"_raw": data.decode("utf-8", "replace")}
            return resp.status, decoded
        finally:
            conn.close()

    def call(self, op, body):
        status, resp = self.raw_call(op, body)
        if status != 200:
            raise CloudMapError(op, status, resp)
        return resp

    def create_namespace(self, name, timeout=10.0):
        """CreateHttpNamespace, then poll GetOperation until SUCCESS; returns the namespace id."""
        op_id = self.call("CreateHttpNamespace", {"Name": name})["OperationId"]

        def done():
            op = self.call("GetOperation", {"OperationId": op_id})["Operation"]
            if op["Status"] == "FAIL":
                raise AssertionError("namespace %s: operation failed: %r" % (name, op))
            return op["Targets"]["NAMESPACE"] if op["Status"] == "SUCCESS" else None
        return wait_until(done, timeout=timeout, interval=0.05, message="namespace %s created" % name)

    def create_service(self, namespace_id, name, custom_health=True):
        req = {"Name": name, "NamespaceId": namespace_id}
        if custom_health:
            req["HealthCheckCustomConfig"] = {}
        return self.call("CreateService", req)["Service"]["Id"]

    def register(self, service_id, instance_id, ip, port, **attributes):
        attrs = {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": str(port)}
        attrs.update({k: str(v) for k, v in attributes.items()})
        return self.call("RegisterInstance", {"ServiceId": service_id, "InstanceId": instance_id,
                                              "Attributes": attrs})

    def deregister(self, service_id, instance_id):
        return self.call("DeregisterInstance", {"ServiceId": service_id, "InstanceId": instance_id})

    def set_health(self, service_id, instance_id, status):
        return self.call("UpdateInstanceCustomHealthStatus",
                         {"ServiceId": service_id, "InstanceId": instance_id, "Status": status})

    def health(self, service_id):
        return self.call("GetInstancesHealthStatus", {"ServiceId": service_id})["Status"]

    def discover(self, namespace, service, health_status="HEALTHY", query=None):
        req = {"NamespaceName": namespace, "ServiceName": service, "HealthStatus": health_status}
        if query:
            req["QueryParameters"] = query
        return self.call("DiscoverInstances", req)

    def revision(self, namespace, service):
        return self.call("DiscoverInstancesRevision",
                         {"NamespaceName": namespace, "ServiceName": service})["InstancesRevision"]


class RegistryProcess:
    """`hawser registry` on 127.0.0.1; restartable on the same port (and --data file)."""

    def __init__(self, tmpdir, data=False, credentials=None, log_requests=False, extra=()):
        self.tmpdir = tmpdir
        self.addr_file = os.path.join(tmpdir, "registry-address")
        self.data_file = os.path.join(tmpdir, "registry-state.json") if data else None
        self.credentials = credentials
        self.log_requests = log_requests
        self.extra = list(extra)
        self.port = 0
        self.proc = None
        self.lines = []        # stdout lines of every run, in order
        self.runs = 0
        self._lock = threading.Lock()
        self._readers = []

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def endpoint(self):
        return "http://%s" % self.address

    def _drain(self, pipe):
        for line in iter(pipe.readline, ""):
            with self._lock:
                self.lines.append(line.rstrip("\n"))
        pipe.close()

    def json_lines(self):
        with self._lock:
            lines = list(self.lines)
        out = []
        for l in lines:
            try:
                d = json.loads(l)
            except ValueError:
                continue
            if isinstance(d, dict):
                out.append(d)
        return out

    def request_logs(self):
        return [d for d in self.json_lines() if d.get("msg") == "registry request"]

    def start(self, timeout=10.0):
        if os.path.exists(self.addr_file):
            os.unlink(self.addr_file)
        args = [hawser_bin(), "registry", "--listen", "%s:%d" % (LOOPBACK, self.port),
                "--address-file", self.addr_file]
        if self.data_file:
            args += ["--data", self.data_file]
        if self.credentials:
            args += ["--credentials", "%s:%s" % tuple(self.credentials)]
        if self.log_requests:
            args += ["--log-requests"]
        args += self.extra
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            t = threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True)
            t.start()
            self._readers.append(t)

            def listening():
                if self.proc.poll() is not None:
                    return "exited"
                try:
                    with open(self.addr_file) as f:
                        s = f.read().strip()
                except FileNotFoundError:
                    return None
                return s or None
            got = wait_until(listening, timeout=max(0.5, deadline - time.monotonic()),
                             message="registry address file")
            if got != "exited":
                break
            # A restart on a fixed port can race the old socket's release; retry until the deadline.
            if time.monotonic() >= deadline:
                raise AssertionError("registry exited at start: %s" % "\n".join(self.lines[-20:]))
            time.sleep(0.1)
        self.port = int(got.rpartition(":")[2])
        self.runs += 1
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for t in self._readers:
            t.join(timeout=5)
        return self.proc.returncode


# --------------------------------------------------------------------------------------
# Loopback HTTP servers

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _LoopbackHttp:
    """A ThreadingHTTPServer on 127.0.0.1:0 whose handler calls self.handle(handler)."""

    def __init__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer._dispatch(self)

            def do_POST(self):
                outer._dispatch(self)

        self._handler = Handler
        self._httpd = None
        self._thread = None
        self.port = None
        self.lock = threading.Lock()

    def _dispatch(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        status, headers, payload = self.handle(h.command, h.path, {k.lower(): v for k, v in h.headers.items()},
                                               body)
        if isinstance(payload, str):
            payload = payload.encode()
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def handle(self, method, path, headers, body):  # pragma: no cover - overridden
        return 404, [], b""

    def start(self):
        self._httpd = _Server((LOOPBACK, 0), self._handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def endpoint(self):
        return "http://%s" % self.address

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)


def iso8601(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ContainerCredentialsServer(_LoopbackHttp):
    """The ECS container-credentials endpoint: GET PATH with `Authorization: AUTH_TOKEN`.

    The n-th successful request is served `issue[n]` (the last entry repeats): a pair
    (secret, session_token); AccessKeyId is `access_key` and Expiration is now + `lifetime`
    seconds.  Every request is recorded in `requests` (time, path, authorization, status,
    served token and secret, expiration as a UNIX time)."""

    def __init__(self, auth_token, access_key, issue, lifetime=20.0, path="/creds"):
        super().__init__()
        self.auth_token = auth_token
        self.access_key = access_key
        self.issue = list(issue)
        self.lifetime = lifetime
        self.path = path
        self.requests = []

    def handle(self, method, path, headers, body):
        now = time.time()
        with self.lock:
            auth = headers.get("authorization")
            rec = {"time": now, "path": path, "authorization": auth, "token": None, "secret": None}
            if path != self.path or method != "GET":
                rec["status"] = 404
                self.requests.append(rec)
                return 404, [], b"not found"
            if auth != self.auth_token:
                rec["status"] = 403
                self.requests.append(rec)
                return 403, [("Content-Type", "application/json")], json.dumps({"message": "bad token"})
            served = sum(1 for r in self.requests if r["status"] == 200)
            secret, token = self.issue[min(served, len(self.issue) - 1)]
            expiration = float(int(now + self.lifetime))  # what the JSON says (whole seconds)
            rec.update(status=200, token=token, secret=secret, expiration=expiration)
            self.requests.append(rec)
        doc = {"AccessKeyId": self.access_key, "SecretAccessKey": secret, "Token": token,
               "Expiration": iso8601(expiration), "RoleArn": "arn:aws:iam::123456789012:role/test"}
        return 200, [("Content-Type", "application/json")], json.dumps(doc)

    def served(self):
        with self.lock:
            return [dict(r) for r in self.requests if r["status"] == 200]

    def count(self):
        with self.lock:
            return len(self.requests)

    def env(self):
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://%s%s" % (self.address, self.path),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.auth_token}


class RecordingProxy(_LoopbackHttp):
    """Forwards every request to `upstream` ("HOST:PORT") unchanged and records
    (time, target, x-amz-security-token, authorization, upstream status)."""

    def __init__(self, upstream):
        super().__init__()
        self.upstream = upstream
        self.records = []

    def handle(self, method, path, headers, body):
        host, _, port = self.upstream.rpartition(":")
        fwd = {k: v for k, v in headers.items() if k not in ("connection", "content-length")}
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request(method, path, body=body, headers=fwd)
            r = conn.getresponse()
            data = r.read()
            status = r.status
            out = [(k, v) for k, v in r.getheaders()
                   if k.lower() not in ("content-length", "connection", "transfer-encoding")]
            conn.close()
        except OSError as e:
            status, out, data = 502, [], ("proxy: %r" % e).encode()
        with self.lock:
            self.records.append({"time": time.time(), "target": headers.get("x-amz-target", ""),
                                 "token": headers.get("x-amz-security-token"),
                                 "authorization": headers.get("authorization"), "status": status})
        return status, out, data

    def snapshot(self):
        with self.lock:
            return [dict(r) for r in self.records]


class FakeCloudMap(_LoopbackHttp):
    """A programmable Cloud Map data-plane endpoint.

    `respond` is a function (op, request_json_or_None) -> (status, body bytes/str/obj,
    [extra headers]); the default answers from `instances`/`revision`.  Every request is
    recorded in `requests` as (time, op, status)."""

    def __init__(self):
        super().__init__()
        self.instances = []
        self.revision = 1
        self.respond = None
        self.requests = []

    @staticmethod
    def instance(instance_id, ip, port, namespace="demo", service="responder", **attrs):
        a = {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": str(port)}
        a.update(attrs)
        return {"InstanceId": instance_id, "NamespaceName": namespace, "ServiceName": service,
                "HealthStatus": "HEALTHY", "Attributes": a}

    def valid(self, op, req):
        if op == "DiscoverInstancesRevision":
            return 200, {"InstancesRevision": self.revision}
        if op == "DiscoverInstances":
            return 200, {"Instances": self.instances, "InstancesRevision": self.revision}
        return 400, {"__type": "UnknownOperationException", "message": op}

    def handle(self, method, path, headers, body):
        op = headers.get("x-amz-target", "").rpartition(".")[2]
        try:
            req = json.loads(body) if body else None
        except ValueError:
            req = None
        with self.lock:
            fn = self.respond or self.valid
        result = fn(op, req)
        status, payload = result[0], result[1]
        extra = list(result[2]) if len(result) > 2 else []
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        with self.lock:
            self.requests.append({"time": time.time(), "op": op, "status": status})
        return status, [("Content-Type", "application/x-amz-json-1.1")] + extra, payload

    def set_respond(self, fn):
        with self.lock:
            self.respond = fn

    def count(self, op=None, since=0.0):
        with self.lock:
            return sum(1 for r in self.requests if r["time"] >= since and (op is None or r["op"] == op))


def free_loopback_port():
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port
