#!/usr/bin/env python3
"""The hawser demo: a small mesh on loopback, some traffic, a readable summary.

    hawser registry (a local Cloud Map: namespace "demo", service "responder")
        ^ register / health / deregister           ^ DiscoverInstances every 300 ms
        |                                          |
    responder-1's hawser, responder-2's hawser     caller's hawser
    (node.register: each registers its inbound     (outbound "responder" discovers through
     once its app answers GET /health)              cloudmap {namespace: demo, service: responder})

    caller app --HTTP_PROXY--> caller's hawser (http_proxy, outbound "responder")
                                   |  mutual TLS: presents spiffe://demo/caller,
                                   |  accepts only spiffe://demo/responder
                                   v  (round robin over the registered instances)
    client --> caller's hawser (inbound, plaintext) --> caller app
               responder-N's hawser (inbound, strict mTLS, allows spiffe://demo/caller) --> responder-N app

The certificates (a CA, and one workload certificate per identity with its SPIFFE ID; both
responder sidecars prove spiffe://demo/responder) are made by `hawser certs` in the demo's
temporary directory (--work-dir), removed on exit.

Planned deregistration: while a request loop runs through the caller, responder-1's sidecar
gets SIGTERM; it deregisters, keeps serving for node.deregister_grace (1s) while the caller's
next poll drops it, then drains and exits 0.  Zero requests may fail, and afterwards all of
them go to responder-2.

Run by scripts/demo after the build.  Standard library only; every wait has a deadline.
Every process this script starts is written to --pidfile ("PID MARKER" lines) so the
shell wrapper can kill exactly those on exit, and is reaped and removed from it here.

The demo is a list of steps (STEPS at the bottom).  Capabilities add a step, or a config hook
(CONFIG_HOOKS) that edits each sidecar's configuration before it starts; mTLS is both (the
`certificates` step and `mtls_config`), and so is the local registry (the `registry` step and
`registry_config`), tracing (the `collector` step and `tracing_config`), and capture (the
`forwarder` step, `capture_config` and the `summary: capture` step: every exchange is teed to
a `hawser forwarder` over mutual TLS, stored durably, and exported as HAR).

Exit status: 0 when every step passed, 1 otherwise.
"""

import argparse
import collections
import datetime
import gzip
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SUPPORT = os.path.join(ROOT, "tests", "support")
sys.path.insert(0, SUPPORT)

from hawser_harness import (Hawser, ProcessOutput, hawser_bin, metric_sum, parse_addr,  # noqa: E402
                            wait_until, addr_str, free_port, run_cmd)
from cloudmap_helpers import CloudMapClient  # noqa: E402
from capture_support import Forwarder, forwarder_config, stored_records  # noqa: E402

SAMPLE_SERVICES = os.path.join(SUPPORT, "sample_services.py")


class StepFailed(Exception):
    pass


# --------------------------------------------------------------------------------------
# output

def say(msg=""):
    print(msg, flush=True)


def heading(title):
    say()
    say("== " + title)


def table(rows, indent="  "):
    """rows: list of tuples of strings; left-aligned columns."""
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        say(indent + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# --------------------------------------------------------------------------------------
# processes

class PidFile:
    """The PIDs this demo started, for the shell wrapper's EXIT trap."""

    def __init__(self, path):
        self.path = path
        self.pids = {}
        self._lock = threading.Lock()

    def add(self, pid, marker):
        with self._lock:
            self.pids[pid] = marker
            self._write()

    def remove(self, pid):
        with self._lock:
            self.pids.pop(pid, None)
            self._write()

    def _write(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for pid, marker in self.pids.items():
                f.write("%d %s\n" % (pid, marker))
        os.replace(tmp, self.path)


class App:
    """One sample service process (tests/support/sample_services.py)."""

    def __init__(self, mesh, name, role, args):
        self.mesh = mesh
        self.name = name
        self.role = role
        self.args = list(args)
        self.proc = None
        self.out = None
        self.err = None
        self.address = None

    def start(self, timeout=10):
        cmd = [sys.executable, SAMPLE_SERVICES, self.role, "--name", self.name] + self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.mesh.pidfile.add(self.proc.pid, "sample_services.py")
        self.out = ProcessOutput(self.proc.stdout, self.name + "-stdout")
        self.err = ProcessOutput(self.proc.stderr, self.name + "-stderr")

        def listening():
            if self.proc.poll() is not None:
                raise StepFailed("%s exited with %s: %s" % (self.name, self.proc.returncode,
                                                            "\n".join(self.err.snapshot()[-10:])))
            for line in self.out.snapshot():
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if d.get("event") == "listening":
                    return d["address"]
            return None

        self.address = parse_addr(wait_until(listening, timeout=timeout,
                                             message="%s to listen" % self.name))
        return self

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.mesh.pidfile.remove(self.proc.pid)
        for o in (self.out, self.err):
            if o:
                o.join(2)
        return self.proc.returncode


class Sidecar:
    """One `hawser proxy` beside an app (wraps the test harness's Hawser)."""

    def __init__(self, mesh, name, config):
        self.mesh = mesh
        self.name = name
        for hook in CONFIG_HOOKS:
            hook(mesh, name, config)
        self.config = config
        self.h = Hawser(config, name="demo-" + name)
        self.exit_code = None

    def start(self, timeout=20):
        self.h.start(wait_ready=False)
        self.mesh.pidfile.add(self.h.proc.pid, "hawser")
        self.h.wait_ready(timeout)
        return self

    def listener(self, name):
        return self.h.listener(name)

    def listener_of_kind(self, kind):
        return self.h.listener_of_kind(kind)

    def admin_json(self, path):
        return self.h.admin_json(path)

    def metrics(self):
        return self.h.metrics()

    def stop(self):
        if self.h.proc is not None:
            pid = self.h.proc.pid
            self.h.stop()
            self.mesh.pidfile.remove(pid)

    def save_logs(self, directory):
        for stream, out in (("stdout", self.h.stdout), ("stderr", self.h.stderr)):
            if out is None:
                continue
            with open(os.path.join(directory, "%s-hawser.%s.log" % (self.name, stream)), "w") as f:
                f.write("\n".join(out.snapshot()) + "\n")
        with open(os.path.join(directory, "%s-hawser.yaml" % self.name), "w") as f:
            f.write(self.h.config_text or "")


class Registry:
    """`hawser registry`: a local Cloud Map on 127.0.0.1 (port 0; the bound address comes back
    through --address-file)."""

    def __init__(self, mesh):
        self.mesh = mesh
        self.proc = None
        self.out = None
        self.address = None          # "127.0.0.1:PORT"
        self.addr_file = os.path.join(mesh.work_dir, "registry-address")
        self.exit_code = None

    @property
    def endpoint(self):
        return "http://" + self.address

    def start(self, timeout=10):
        cmd = [hawser_bin(), "registry", "--listen", "127.0.0.1:0", "--address-file", self.addr_file]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.mesh.pidfile.add(self.proc.pid, "hawser")
        self.out = ProcessOutput(self.proc.stdout, "registry")

        def listening():
            if self.proc.poll() is not None:
                raise StepFailed("hawser registry exited with %s: %s" % (
                    self.proc.returncode, "\n".join(self.out.snapshot()[-10:])))
            try:
                with open(self.addr_file) as f:
                    return f.read().strip() or None
            except FileNotFoundError:
                return None

        self.address = wait_until(listening, timeout=timeout, message="hawser registry to listen")
        return self

    def stop(self, timeout=5):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.mesh.pidfile.remove(self.proc.pid)
        if self.out:
            self.out.join(2)
        self.exit_code = self.proc.returncode
        return self.exit_code


class Collector:
    """A small OpenTelemetry collector: OTLP/HTTP JSON (`POST /v1/traces`, gzip or not) on
    127.0.0.1:0, keeping every span with the service.name of its resource."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or "json" not in (self.headers.get("content-type") or ""):
                    self.send_response(415 if self.path == "/v1/traces" else 404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                spans = []
                for rs in json.loads(body).get("resourceSpans", []):
                    attrs = {a["key"]: a["value"].get("stringValue") for a in rs.get("resource", {}).get("attributes", [])}
                    for ss in rs.get("scopeSpans", []):
                        for sp in ss.get("spans", []):
                            sp["service"] = attrs.get("service.name", "?")
                            spans.append(sp)
                with collector.lock:
                    collector.spans.extend(spans)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Mesh:
    """Everything the steps share."""

    def __init__(self, opts):
        self.opts = opts
        self.pidfile = PidFile(opts.pidfile)
        self.apps = collections.OrderedDict()       # name -> App
        self.sidecars = collections.OrderedDict()   # name -> Sidecar
        self.results = []                           # traffic results
        self.certs = {}                             # sidecar name -> {"cert", "key", "identity"}
        self.ca = None                              # path of the CA bundle
        self.stranger = None                        # a valid certificate the responder does not allow
        self.registry = None                        # Registry
        self.collector = None                       # Collector (the sidecars' spans)
        self.forwarder = None                       # capture_support.Forwarder (the sidecars' capture)
        self.cloudmap = None                        # CloudMapClient for the registry's JSON API
        self.service_id = None                      # the registry's id of demo/responder
        self.dereg = None                           # what the planned deregistration saw
        self.own_work_dir = not opts.work_dir
        self.work_dir = opts.work_dir or tempfile.mkdtemp(prefix="hawser-demo-")
        if opts.log_dir:
            self.log_dir = opts.log_dir
            os.makedirs(self.log_dir, exist_ok=True)
            for f in os.listdir(self.log_dir):  # the last run's logs only
                if f.endswith((".log", ".yaml")):
                    os.unlink(os.path.join(self.log_dir, f))
        else:
            # A fresh directory per run (kept): two runs, or two users, never share one.
            self.log_dir = tempfile.mkdtemp(prefix="hawser-demo-logs.")

    def stop_all(self):
        for s in reversed(list(self.sidecars.values())):
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - best effort on the way out
                say("  (stopping %s: %r)" % (s.name, e))
        for a in reversed(list(self.apps.values())):
            try:
                a.stop()
            except Exception as e:  # noqa: BLE001
                say("  (stopping %s: %r)" % (a.name, e))
        if self.registry is not None:
            try:
                self.registry.stop()
            except Exception as e:  # noqa: BLE001
                say("  (stopping the registry: %r)" % e)
        if self.collector is not None:
            self.collector.stop()
            self.collector = None
        if self.forwarder is not None:
            self.forwarder.stop()

    def remove_work_dir(self):
        if self.own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def save_logs(self):
        for s in self.sidecars.values():
            s.save_logs(self.log_dir)
        for a in self.apps.values():
            with open(os.path.join(self.log_dir, "%s-app.log" % a.name), "w") as f:
                lines = (a.out.snapshot() if a.out else []) + (a.err.snapshot() if a.err else [])
                f.write("\n".join(lines) + "\n")
        if self.registry is not None and self.registry.out is not None:
            with open(os.path.join(self.log_dir, "registry.log"), "w") as f:
                f.write("\n".join(self.registry.out.snapshot()) + "\n")
        if self.forwarder is not None and self.forwarder.stdout is not None:
            with open(os.path.join(self.log_dir, "forwarder.log"), "w") as f:
                f.write("\n".join(self.forwarder.stdout.snapshot() + self.forwarder.stderr.snapshot()) + "\n")


def base_sidecar_config(service):
    return {
        "node": {"service": service, "namespace": "demo"},
        "admin": {"address": "127.0.0.1:0"},
        "workers": 2,
        "drain_timeout": "5s",
    }


# Who may call whom.  The namespace "demo" and the service names give the SPIFFE IDs.
TRUST_DOMAIN = "demo"
IDENTITIES = {name: "spiffe://%s/%s" % (TRUST_DOMAIN, name) for name in ("caller", "responder", "forwarder")}
# Two instances of the responder: app, sidecar and Cloud Map instance id share the name.  Both
# sidecars have the responder's identity (one certificate, as replicas of a service would).
RESPONDERS = ("responder-1", "responder-2")
DRAINED = RESPONDERS[0]          # the one the planned deregistration takes away
CLOUDMAP = {"namespace": "demo", "service": "responder"}
POLL_INTERVAL = "300ms"
# Logged (warn) by every sidecar once: expected here, the registry runs without --credentials.
NO_CREDENTIALS = "no AWS credentials found: Cloud Map requests are sent unsigned"
DEREGISTER_GRACE = "1s"          # > the caller's poll interval x 1.1 + one DiscoverInstances, with margin


def role(name):
    """The service a sidecar or app belongs to: responder-1 and responder-2 are 'responder'."""
    return "responder" if name in RESPONDERS else name
STRANGER = "spiffe://%s/stranger" % TRUST_DOMAIN   # valid certificate, not on any allow list


def mtls_config(mesh, name, config):
    """Mutual TLS for one sidecar: its certificate, key and the CA (from the `certificates`
    step), and the TLS mode of each listener and outbound service."""
    files = mesh.certs[role(name)]
    config["node"]["identity"] = files["identity"]
    config["tls"] = {"cert": files["cert"], "key": files["key"], "ca": mesh.ca}
    for inbound in config.get("inbound", []):
        if role(name) == "responder":
            # Only sidecars with a certificate from the demo CA get a TLS session here, and of
            # those only the caller's identity may send requests (others get 403 unauthorized).
            inbound["tls"] = {"mode": "strict"}
            inbound["authorization"] = {"allow": [IDENTITIES["caller"]]}
        else:
            # The caller's inbound is where the demo's load generator -- an external client
            # with no workload certificate, like a load balancer in front of a real service --
            # sends its requests, so it stays plaintext.  Between the sidecars everything is
            # mutual TLS; in a mesh where every client is a sidecar this would be `strict`
            # (or `permissive` while clients migrate).
            inbound["tls"] = {"mode": "disabled"}
    for svc in config.get("outbound", {}).get("services", []):
        # mutual is the default; said here for the reader.  The peer must prove
        # spiffe://demo/responder (from node.namespace and the service name).
        svc["tls"] = {"mode": "mutual"}


def registry_config(mesh, name, config):
    """Every sidecar talks to the local registry (the `registry` step): the top-level
    discovery.cloudmap block.  No AWS credentials in the environment (the demo removes them),
    so the requests go unsigned, as the registry without --credentials expects.  Responders
    register themselves: once their app answers GET /health, with their inbound listener's
    bound address; on SIGTERM they deregister and keep serving for deregister_grace."""
    config["discovery"] = {"cloudmap": {"endpoint": mesh.registry.endpoint, "region": "us-east-1",
                                        "poll_interval": POLL_INTERVAL, "health_refresh": "1s"}}
    if role(name) == "responder":
        config["node"].update({
            "register": True,
            "instance_id": name,
            "cloudmap": dict(CLOUDMAP),
            "app_health": {"path": "/health", "interval": "200ms", "timeout": "500ms"},
            "advertise_address": "127.0.0.1:0",   # port 0: the inbound listener's bound port
            "deregister_grace": DEREGISTER_GRACE,
        })


# Functions (mesh, sidecar_name, config_dict) -> None that edit a sidecar's configuration
# before it starts.
def tracing_config(mesh, name, config):
    """Every sidecar sends its spans to the demo's collector (the `collector` step), as
    OTLP/HTTP JSON, every 200ms; every trace is sampled."""
    config["telemetry"] = {"tracing": {"otlp": {"endpoint": mesh.collector.url, "protocol": "http/json",
                                                "batch": {"delay": "200ms"}}}}


def capture_config(mesh, name, config):
    """Every sidecar tees its exchanges to the demo's forwarder (the `forwarder` step), over
    mutual TLS (the default with a certificate; the forwarder must prove spiffe://demo/forwarder)."""
    config["capture"] = {"enabled": True, "forwarder": mesh.forwarder.address, "max_body_bytes": "4KiB",
                         "batch": {"delay": "200ms"}}


CONFIG_HOOKS = [mtls_config, registry_config, tracing_config, capture_config]


# --------------------------------------------------------------------------------------
# steps

def _certs(mesh, *args):
    rc, out, err = run_cmd([hawser_bin(), "certs"] + list(args), timeout=20)
    if rc != 0:
        raise StepFailed("hawser certs %s -> exit %d: %s" % (args[0], rc, (err or out).strip()))
    return out.strip()


def step_certificates(mesh):
    """A development CA and one workload certificate per sidecar, with `hawser certs`."""
    ca_dir = os.path.join(mesh.work_dir, "ca")
    cert_dir = os.path.join(mesh.work_dir, "certs")
    say("  $ hawser certs ca --out %s --name 'hawser demo CA'" % ca_dir)
    say("    " + _certs(mesh, "ca", "--out", ca_dir, "--name", "hawser demo CA", "--days", "1"))
    mesh.ca = os.path.join(ca_dir, "ca.pem")
    for name, identity in list(IDENTITIES.items()) + [("stranger", STRANGER)]:
        say("  $ hawser certs issue --ca %s --out %s --name %s --spiffe %s --days 1"
            % (ca_dir, cert_dir, name, identity))
        say("    " + _certs(mesh, "issue", "--ca", ca_dir, "--out", cert_dir, "--name", name,
                            "--spiffe", identity, "--days", "1"))
        files = {"cert": os.path.join(cert_dir, name + ".pem"),
                 "key": os.path.join(cert_dir, name + "-key.pem"), "identity": identity}
        if name == "stranger":
            mesh.stranger = files
        else:
            mesh.certs[name] = files


def step_registry(mesh):
    """`hawser registry`, with the namespace and the service the responders register in."""
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]   # the sidecars' Cloud Map requests go unsigned to the local registry
    reg = mesh.registry = Registry(mesh).start()
    say("  $ hawser registry --listen 127.0.0.1:0 --address-file %s" % reg.addr_file)
    say("    listening on %s" % reg.address)
    cm = mesh.cloudmap = CloudMapClient(reg.address)
    ns_id = cm.create_namespace(CLOUDMAP["namespace"])
    say("  CreateHttpNamespace {Name: %s} -> %s (GetOperation: SUCCESS)" % (CLOUDMAP["namespace"], ns_id))
    mesh.service_id = cm.create_service(ns_id, CLOUDMAP["service"])   # with HealthCheckCustomConfig
    say("  (no --credentials: the sidecars' requests go unsigned; AWS_* variables are removed from their environment)")
    say("  CreateService {Name: %s, NamespaceId: %s, HealthCheckCustomConfig: {}} -> %s"
        % (CLOUDMAP["service"], ns_id, mesh.service_id))


def _registered(mesh):
    """{instance id: (address, health)} as the registry has it."""
    health = mesh.cloudmap.health(mesh.service_id)
    out = {}
    for i in mesh.cloudmap.call("ListInstances", {"ServiceId": mesh.service_id})["Instances"]:
        a = i.get("Attributes", {})
        out[i["Id"]] = ("%s:%s" % (a.get("AWS_INSTANCE_IPV4"), a.get("AWS_INSTANCE_PORT")), health.get(i["Id"], "?"))
    return out


def _registry_table(mesh, indent="    "):
    reg = _registered(mesh)
    table([("", iid, addr, health) for iid, (addr, health) in sorted(reg.items())] or [("", "(no instances)")],
          indent=indent)


def step_start_responders(mesh):
    """Two responder apps, each with a sidecar that registers it once the app is healthy."""
    rows = []
    for name in RESPONDERS:
        app = mesh.apps[name] = App(mesh, name, "responder", ["--port", "0", "--name", name]).start()
        cfg = base_sidecar_config("responder")
        cfg["inbound"] = [{"name": "responder", "listen": "127.0.0.1:0", "app": addr_str(app.address)}]
        sc = mesh.sidecars[name] = Sidecar(mesh, name, cfg).start()
        rows += [(name + " app", addr_str(app.address)),
                 (name + " hawser inbound", addr_str(sc.listener("responder"))
                  + "  (strict mTLS; allow %s)" % IDENTITIES["caller"]),
                 (name + " hawser admin", addr_str(sc.h.admin))]
    table(rows)

    def all_registered():
        reg = _registered(mesh)
        want = {n: addr_str(mesh.sidecars[n].listener("responder")) for n in RESPONDERS}
        return all(reg.get(n) == (a, "HEALTHY") for n, a in want.items())
    wait_until(all_registered, timeout=10, message="both responders registered and HEALTHY")
    say("  self-registration (node.register; app_health GET /health every 200ms): /server_info registration = "
        + ", ".join("%s %s" % (n, mesh.sidecars[n].admin_json("/server_info").get("registration"))
                    for n in RESPONDERS))
    say("  registry, service %s/%s (ListInstances, GetInstancesHealthStatus):"
        % (CLOUDMAP["namespace"], CLOUDMAP["service"]))
    _registry_table(mesh)


def step_start_caller(mesh):
    # The caller's sidecar needs the app's port before the app starts (the app needs the
    # sidecar's http_proxy address), so that one port is picked here.
    app_port = free_port()
    cfg = base_sidecar_config("caller")
    cfg["inbound"] = [{"name": "caller", "listen": "127.0.0.1:0", "app": "127.0.0.1:%d" % app_port}]
    cfg["outbound"] = {
        "http_proxy": "127.0.0.1:0",
        "services": [{
            "name": "responder",
            "alias": "127.0.0.1:0",
            "discovery": {"cloudmap": dict(CLOUDMAP)},   # HEALTHY instances only (the default)
            "timeouts": {"connect": "1s", "request": "5s", "idle": "30s"},
        }],
    }
    sc = mesh.sidecars["caller"] = Sidecar(mesh, "caller", cfg).start()
    proxy = sc.listener_of_kind("http_proxy")
    app = mesh.apps["caller"] = App(mesh, "caller", "caller", [
        "--port", str(app_port), "--upstream", "http://responder/data", "--proxy", addr_str(proxy)]).start()
    table([("caller app", addr_str(app.address) + "  (HTTP_PROXY=%s)" % addr_str(proxy)),
           ("caller hawser inbound", addr_str(sc.listener("caller")) + "  (plaintext: the demo's client enters here)"),
           ("caller hawser http_proxy", addr_str(proxy)),
           ("caller hawser alias 'responder'", addr_str(sc.listener("responder"))),
           ("caller -> responder", "mutual TLS, expects %s" % IDENTITIES["responder"]),
           ("caller -> responder discovery", "cloudmap %s/%s at %s, poll %s"
            % (CLOUDMAP["namespace"], CLOUDMAP["service"], mesh.registry.endpoint, POLL_INTERVAL)),
           ("caller hawser admin", addr_str(sc.h.admin))])
    want = {addr_str(mesh.sidecars[n].listener("responder")) for n in RESPONDERS}
    got = wait_until(lambda: (lambda eps: eps if eps == want else None)(_cluster_endpoints(sc)),
                     timeout=10, message="the caller's hawser to discover both responders")
    say("  caller's /clusters, responder: " + ", ".join(sorted(got)))


def _cluster_endpoints(sc, cluster="responder"):
    for c in sc.admin_json("/clusters")["clusters"]:
        if c["name"] == cluster:
            return {e["address"] for e in c["endpoints"]}
    return set()


def step_smoke(mesh):
    """One request end to end, and one x-request-id followed through three access logs."""
    entry = mesh.sidecars["caller"].listener("caller")
    conn = http.client.HTTPConnection(*entry, timeout=10)
    rid = "demo-smoke-1"
    try:
        conn.request("GET", "/", headers={"x-request-id": rid})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200:
        raise StepFailed("GET / through the caller's sidecar -> %d %r" % (r.status, body[:300]))
    doc = json.loads(body)
    if doc.get("upstream", {}).get("service") not in RESPONDERS:
        raise StepFailed("unexpected body %r" % doc)
    say("  GET / -> %d  %s" % (r.status, json.dumps(doc, sort_keys=True)))

    def hops():
        lines = []
        for name in mesh.sidecars:
            for d in mesh.sidecars[name].h.access_logs():
                if d.get("request_id") == rid:
                    lines.append((name, d))
        return lines if len(lines) >= 3 else None

    found = wait_until(hops, timeout=5, message="access log lines for %s" % rid)
    say("  x-request-id %s in the access logs:" % rid)
    table([(name + " hawser", d["direction"], d["method"], d["authority"] or "-", d["path"],
            str(d["status"]), "%.2fms" % d["duration_ms"], "-> " + (d["upstream"] or "-"))
           for name, d in found], indent="    ")


def step_collector(mesh):
    mesh.collector = Collector().start()
    table([("collector", mesh.collector.url + "/v1/traces  (OTLP/HTTP JSON; every sidecar exports here)")])


def step_forwarder(mesh):
    """`hawser forwarder`: one per cluster; accepts the sidecars' batches over mutual TLS
    (only the caller's and the responder's identities), fsyncs them into its spool, and moves
    closed segments into an archive directory."""
    spool, archive = os.path.join(mesh.work_dir, "capture", "spool"), os.path.join(mesh.work_dir, "capture", "archive")
    files = mesh.certs["forwarder"]
    cfg = forwarder_config(spool, archive, listen="127.0.0.1:%d" % free_port(),
                           tls={"cert": files["cert"], "key": files["key"], "ca": mesh.ca},
                           allow=[IDENTITIES["caller"], IDENTITIES["responder"]],
                           storage={"prefix": "demo"}, redact={"json_fields": ["password"]})
    f = mesh.forwarder = Forwarder(cfg, name="demo-forwarder")
    f.spool, f.archive, f.address = spool, archive, cfg["listen"]
    f.start(wait_ready=False)
    mesh.pidfile.add(f.proc.pid, "hawser")
    f.wait_ready(20)
    table([("forwarder", "%s (mutual TLS; allows the caller and the responder)" % f.address),
           ("spool", spool), ("archive", archive + "  (<prefix>/<service>/<yyyy>/<mm>/<dd>/<segment>.ndjson.gz)")])


def step_report_capture(mesh):
    """What the forwarder stored: every exchange each sidecar saw, once; then a HAR export."""
    sidecars = [sc for sc in mesh.sidecars.values() if sc.h.alive()]

    def shipped():
        sent = sum(metric_sum(sc.metrics(), "hawser_capture_records_total", outcome="sent") for sc in sidecars)
        queued = sum(metric_sum(sc.metrics(), "hawser_capture_queue_bytes") for sc in sidecars)
        return sent if queued == 0 and sent > 0 else None

    sent = wait_until(shipped, timeout=20, message="the sidecars' capture queues to drain")
    f = mesh.forwarder
    stored = metric_sum(f.metrics(), "hawser_forwarder_records_total", outcome="stored")
    dropped = sum(metric_sum(sc.metrics(), "hawser_capture_records_total", outcome="dropped") for sc in sidecars)
    by = collections.Counter()
    for r in stored_records(f.spool, f.archive):
        by[(r["service"], r["direction"])] += 1
    table([("sidecars", "%d records sent and acknowledged, %d dropped" % (sent, dropped)),
           ("forwarder", "%d records stored (written and fsynced before each 200)" % stored)]
          + [("", "%s %s: %d" % (svc, d, n)) for (svc, d), n in sorted(by.items())])
    if stored < sent:
        raise StepFailed("the forwarder stored %d of %d acknowledged records" % (stored, sent))
    har = os.path.join(mesh.log_dir, "capture.har")
    rc, _, err = run_cmd([hawser_bin(), "capture", "export", "--from", os.path.dirname(f.spool), "--format", "har",
                          "--service", "caller", "--output", har], timeout=60)
    if rc != 0:
        raise StepFailed("hawser capture export -> %d: %s" % (rc, err.strip()))
    with open(har) as fh:
        entries = json.load(fh)["log"]["entries"]
    say("  $ hawser capture export --from %s --format har --service caller --output %s"
        % (os.path.dirname(f.spool), har))
    say("    " + err.strip().replace("hawser: ", ""))
    if not entries:
        raise StepFailed("the HAR export has no entries")
    e = entries[0]
    say("    first entry: %s %s %s -> %d (%s, peer %s)" % (e["startedDateTime"], e["request"]["method"],
                                                        e["request"]["url"], e["response"]["status"],
                                                        e["_hawser"]["direction"], e["_hawser"]["peer"] or "-"))


KIND = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT"}


def step_trace(mesh):
    """The smoke request's trace: its id from the caller's access log, its spans from the
    collector, printed as the tree their parent links make."""
    rid = "demo-smoke-1"

    def trace_id():
        for d in mesh.sidecars["caller"].h.access_logs():
            if d.get("request_id") == rid and d.get("trace_id"):
                return d["trace_id"]
        return None

    tid = wait_until(trace_id, timeout=5, message="the trace id of %s in the caller's access log" % rid)
    # caller: SERVER (inbound), CLIENT (outbound, the app's call: one attempt); responder: SERVER
    spans = wait_until(lambda: (lambda s: s if len(s) >= 3 else None)(mesh.collector.trace(tid)),
                       timeout=10, message="3 spans of trace %s at the collector" % tid)
    say("  trace %s (x-request-id %s), %d spans from %d sidecars:"
        % (tid, rid, len(spans), len({s["service"] for s in spans})))
    by_parent = collections.defaultdict(list)
    ids = {s["spanId"] for s in spans}
    for s in spans:
        by_parent[s.get("parentSpanId") if s.get("parentSpanId") in ids else ""].append(s)
    rows = []

    def walk(parent, depth):
        for s in sorted(by_parent[parent], key=lambda s: int(s["startTimeUnixNano"])):
            attrs = {a["key"]: list(a["value"].values())[0] for a in s.get("attributes", [])}
            what = s["name"] + " " + (attrs.get("url.path") or attrs.get("url.full") or "")
            if "hawser.attempt" in attrs:
                what += "  (attempt %s -> %s)" % (attrs["hawser.attempt"],
                                                  attrs.get("hawser.upstream") or attrs.get("network.peer.address"))
            ms = (int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) / 1e6
            rows.append(("  " * depth + KIND.get(s["kind"], "?"), s["service"] + " hawser", what.strip(),
                         "span " + s["spanId"], "parent " + (s.get("parentSpanId") or "-"),
                         str(attrs.get("http.response.status_code", "-")), "%.2fms" % ms))
            walk(s["spanId"], depth + 1)
    walk("", 0)
    table(rows, indent="    ")
    if len(by_parent[""]) != 1:
        raise StepFailed("expected one root span in trace %s, got %d" % (tid, len(by_parent[""])))


def _traffic_worker(entry, jobs, results, lock, timeout):
    conn = None
    for kind, i in jobs:
        start = time.monotonic()
        status, reason, error, instance = None, None, None, None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(*entry, timeout=timeout)
            if kind == "POST /items":
                body = json.dumps({"name": "item-%d" % i, "n": i}).encode()
                conn.request("POST", "/items", body=body, headers={"content-type": "application/json"})
            else:
                conn.request("GET", "/")
            r = conn.getresponse()
            data = r.read()
            status, reason = r.status, r.getheader("x-hawser-reason")
            if kind == "GET /" and status == 200:
                instance = json.loads(data).get("upstream", {}).get("service")
                if instance not in RESPONDERS:
                    error = "unexpected body %r" % data[:200]
            if r.will_close:
                conn.close()
                conn = None
        except Exception as e:  # noqa: BLE001 - recorded as a failed request
            error = repr(e)
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            results.append({"kind": kind, "status": status, "reason": reason, "error": error,
                            "instance": instance, "latency": time.monotonic() - start})
    if conn is not None:
        conn.close()


def step_traffic(mesh):
    n, conc = mesh.opts.requests, mesh.opts.concurrency
    entry = mesh.sidecars["caller"].listener("caller")
    kinds = ["POST /items" if i % 4 == 3 else "GET /" for i in range(n)]
    jobs = [[] for _ in range(conc)]
    for i, k in enumerate(kinds):
        jobs[i % conc].append((k, i))
    lock = threading.Lock()
    t0 = time.monotonic()
    threads = [threading.Thread(target=_traffic_worker, args=(entry, j, mesh.results, lock, 10.0), daemon=True)
               for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        if t.is_alive():
            raise StepFailed("a traffic thread did not finish within 60s")
    elapsed = time.monotonic() - t0
    say("  %d requests (GET / and POST /items), %d keep-alive client connections, %.2fs, %.0f req/s"
        % (len(mesh.results), conc, elapsed, len(mesh.results) / elapsed))

    bad = [r for r in mesh.results if r["error"] or not r["status"] or r["status"] >= 300]
    posts = sum(1 for r in mesh.results if r["kind"] == "POST /items" and r["status"] == 201)
    st, _, body = _get(mesh.sidecars["caller"].listener("caller"), "/items")
    stored = json.loads(body).get("count") if st == 200 else None
    say("  caller app stores %s items (POST /items answered 201: %d)" % (stored, posts))
    spread = collections.Counter(r["instance"] for r in mesh.results if r["instance"])
    say("  GET / answered by: " + ", ".join("%s %d" % (n, spread[n]) for n in RESPONDERS))
    if bad:
        for r in bad[:5]:
            say("  FAILED: %r" % r)
        raise StepFailed("%d of %d requests failed" % (len(bad), len(mesh.results)))
    if stored != posts:
        raise StepFailed("stored %r items but %d POSTs succeeded" % (stored, posts))


def _get(addr, path):
    conn = http.client.HTTPConnection(*addr, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def _app_seen(mesh):
    """What the responder apps have seen of x-forwarded-client-cert, added up (they are on
    loopback; the demo asks them directly, not through a sidecar)."""
    total = {"requests": 0, "x-forwarded-client-cert": collections.Counter()}
    for name in RESPONDERS:
        app = mesh.apps[name]
        if app.proc is None or app.proc.poll() is not None:
            raise StepFailed("%s app is not running" % name)
        st, _, body = _get(app.address, "/seen")
        if st != 200:
            raise StepFailed("%s app /seen -> %d" % (name, st))
        seen = json.loads(body)
        total["requests"] += seen["requests"]
        total["x-forwarded-client-cert"].update(seen["x-forwarded-client-cert"])
    return total


def _plaintext_attempt(addr, timeout=5.0):
    """A plain HTTP request to a TLS-only port.  Returns what came back (b"" when the
    connection was closed without a byte), or the error that ended it."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(b"GET /data HTTP/1.1\r\nHost: responder\r\nx-forwarded-client-cert: URI=spiffe://demo/caller\r\n\r\n")
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return got
                got += chunk
        except OSError as e:  # a reset is a refusal too
            return got or e


def _tls_request(addr, ca, cert=None, key=None, timeout=5.0):
    """GET /data over TLS, with a client certificate when given.  Returns (status, reason
    header) or (None, error)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False  # the sidecar proves a SPIFFE ID (URI SAN), not a host name
    if cert:
        ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection(addr[0], addr[1], timeout=timeout, context=ctx)
    try:
        conn.request("GET", "/data", headers={"host": "responder"})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("x-hawser-reason")
    except (OSError, http.client.HTTPException) as e:
        return None, e
    finally:
        conn.close()


def step_negative(mesh):
    """Clients that are not the caller's sidecar are turned away at the responder's inbound
    (responder-1's; responder-2's is configured the same)."""
    sc = mesh.sidecars[RESPONDERS[0]]
    inbound = sc.listener("responder")
    before_app = _app_seen(mesh)["requests"]
    m0 = sc.metrics()

    def errors(reason):
        return metric_sum(sc.metrics(), "hawser_tls_handshake_errors_total", reason=reason) - \
            metric_sum(m0, "hawser_tls_handshake_errors_total", reason=reason)

    # 1. Plaintext HTTP (with a forged x-forwarded-client-cert) straight at the strict inbound.
    got = _plaintext_attempt(inbound)
    if isinstance(got, bytes) and got:
        raise StepFailed("plaintext request to the strict inbound was answered: %r" % got[:200])
    wait_until(lambda: errors("plaintext") >= 1, timeout=5,
               message='hawser_tls_handshake_errors_total{reason="plaintext"} to count it')
    say("  plaintext GET /data to %s: connection closed, no response (%s); "
        '%s hawser_tls_handshake_errors_total{reason="plaintext"} +%d'
        % (addr_str(inbound), "reset" if isinstance(got, Exception) else "EOF", RESPONDERS[0], errors("plaintext")))

    # 2. TLS without a client certificate: the handshake is refused.
    status, err = _tls_request(inbound, mesh.ca)
    if status is not None:
        raise StepFailed("TLS without a client certificate got HTTP %s" % status)
    wait_until(lambda: errors("no_client_cert") >= 1, timeout=5,
               message='hawser_tls_handshake_errors_total{reason="no_client_cert"} to count it')
    say('  TLS without a client certificate: refused (%s); reason="no_client_cert" +%d'
        % (type(err).__name__, errors("no_client_cert")))

    # 3. A valid certificate from the same CA, but an identity the responder does not allow.
    status, reason = _tls_request(inbound, mesh.ca, mesh.stranger["cert"], mesh.stranger["key"])
    if (status, reason) != (403, "unauthorized"):
        raise StepFailed("%s got %r %r, expected 403 unauthorized" % (STRANGER, status, reason))
    say("  mTLS as %s (valid certificate, not on the allow list): 403, x-hawser-reason: %s"
        % (STRANGER, reason))

    after_app = _app_seen(mesh)["requests"]
    if after_app != before_app:
        raise StepFailed("the responder apps saw %d requests from these clients" % (after_app - before_app))
    say("  the responder apps saw none of them (/data requests before and after: %d)" % after_app)


def step_report_mtls(mesh):
    say("  identities (GET /certs):")
    rows = [("", "sidecar", "identity", "subject", "issuer", "expires in")]
    for name, sc in mesh.sidecars.items():
        c = sc.admin_json("/certs")
        if not c.get("tls"):
            raise StepFailed("%s: /certs says tls is off" % name)
        cert = c["certificate"]
        rows.append(("", name, c["identity"], cert["subject"], cert["issuer"],
                     "%.1fh" % (cert["seconds_left"] / 3600.0)))
        if c["identity"] != IDENTITIES[role(name)]:
            raise StepFailed("%s proves %r, expected %r" % (name, c["identity"], IDENTITIES[role(name)]))
    table(rows)

    seen = _app_seen(mesh)
    say("  x-forwarded-client-cert as the responder apps saw it (%d /data requests):" % seen["requests"])
    table([("", value, "x %d" % n) for value, n in sorted(seen["x-forwarded-client-cert"].items())], indent="    ")
    want = "URI=" + IDENTITIES["caller"]
    wrong = {v: n for v, n in seen["x-forwarded-client-cert"].items() if want not in v}
    if wrong or not seen["requests"]:
        raise StepFailed("requests without the caller's identity reached the app: %r" % wrong)

    say("  TLS handshakes:")
    rows = []
    for name, sc in mesh.sidecars.items():
        m = sc.metrics()
        errs = {dict(ls)["reason"]: v for (n, ls), v in m.items()
                if n == "hawser_tls_handshake_errors_total" and v}
        rows.append(("", name, "handshake errors: " + (", ".join("%s=%g" % kv for kv in sorted(errs.items()))
                                                         or "none")))
    table(rows)
    ms = [mesh.sidecars[n].metrics() for n in RESPONDERS]
    accepted = sum(metric_sum(m, "hawser_downstream_connections_total") for m in ms)
    failed = sum(metric_sum(m, "hawser_tls_handshake_errors_total") for m in ms)
    # Every connection to the strict inbounds starts with a handshake; the stranger's (step
    # negative checks) is the one completed handshake that did not come from the caller.
    say("  responder inbounds (both): %d connections accepted, %d handshakes refused, %d completed: %d from the "
        "caller's sidecar (kept alive for its %d requests), 1 from %s"
        % (accepted, failed, accepted - failed, accepted - failed - 1, seen["requests"], STRANGER))


def step_report_requests(mesh):
    res = mesh.results
    say("  total requests: %d" % len(res))
    by = collections.Counter((r["kind"], r["status"] if r["status"] else "error") for r in res)
    table([("", "request", "status", "count")] +
          [("", k, str(s), str(c)) for (k, s), c in sorted(by.items(), key=lambda x: (x[0][0], str(x[0][1])))])
    rows = [("", "request", "p50", "p99", "max")]
    for kind in sorted({r["kind"] for r in res}) + ["all"]:
        lat = sorted(r["latency"] * 1000 for r in res if kind == "all" or r["kind"] == kind)
        rows.append(("", kind, "%.2fms" % percentile(lat, 50), "%.2fms" % percentile(lat, 99),
                     "%.2fms" % lat[-1]))
    say("  client-side latency (through caller's hawser inbound; GET / also crosses both sidecars):")
    table(rows)


def step_report_sidecars(mesh):
    for name, sc in mesh.sidecars.items():
        info = sc.admin_json("/server_info")
        say("  -- %s's hawser  (admin %s)  state=%s version=%s uptime=%.1fs"
            % (name, addr_str(sc.h.admin), info.get("state"), info.get("version"), info.get("uptime_seconds", 0)))
        listeners = sc.admin_json("/listeners")["listeners"]
        say("     /listeners: " + ", ".join("%s %s %s" % (l["kind"], l["name"], l["address"]) for l in listeners))
        say("     /clusters:")
        for c in sc.admin_json("/clusters")["clusters"]:
            eps = ", ".join("%s (%s%s, active %s)" % (e["address"], e["health"], ", ejected" if e.get("ejected") else "",
                                                       e.get("active_requests"))
                            for e in c["endpoints"]) or "(none)"
            say("       %-20s %s" % (c["name"], eps))
        m = sc.metrics()
        say("     /metrics (selected):")
        rows = []
        for (n, ls), v in sorted(m.items(), key=lambda x: (x[0][0], sorted(x[0][1]))):
            if n == "hawser_requests_total" and v > 0:
                d = dict(ls)
                rows.append(("", 'hawser_requests_total{direction="%s",service="%s",peer="%s",code_class="%s"}'
                             % (d.get("direction"), d.get("service"), d.get("peer"), d.get("code_class")),
                             "%g" % v))
        for n in ("hawser_downstream_connections_total", "hawser_upstream_connections_total",
                  "hawser_downstream_connections_active", "hawser_upstream_connections_active",
                  "hawser_malformed_requests_total"):
            rows.append(("", n, "%g" % metric_sum(m, n)))
        for (n, ls), v in sorted(m.items(), key=lambda x: (x[0][0], sorted(x[0][1]))):
            if n in ("hawser_local_replies_total", "hawser_tls_handshake_errors_total",
                     "hawser_tls_reloads_total", "hawser_cert_expiry_timestamp_seconds"):
                labels = ",".join('%s="%s"' % kv for kv in sorted(ls))
                rows.append(("", "%s{%s}" % (n, labels), "%.0f" % v))
        table(rows, indent="     ")
        requests = metric_sum(m, "hawser_requests_total")
        upstream = metric_sum(m, "hawser_upstream_connections_total")
        count = metric_sum(m, "hawser_request_duration_seconds_count")
        total = metric_sum(m, "hawser_request_duration_seconds_sum")
        say("     keep-alive reuse: %d requests proxied over %d upstream connections (%.1f requests each)"
            % (requests, upstream, requests / upstream if upstream else float("nan")))
        if count:
            say("     mean time in hawser per request (incl. upstream): %.2fms" % (1000 * total / count))
        if upstream and upstream >= requests:
            raise StepFailed("%s: upstream connections are not reused (%d for %d requests)"
                             % (name, upstream, requests))


def _loop_worker(entry, stop, results, lock):
    """GET / through the caller's inbound, again and again on one keep-alive connection, until
    `stop`; each result says which responder answered (the caller app passes its body on)."""
    conn = None
    while not stop.is_set():
        start = time.monotonic()
        status, instance, error = None, None, None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(*entry, timeout=10)
            conn.request("GET", "/")
            r = conn.getresponse()
            data = r.read()
            status = r.status
            if status == 200:
                instance = json.loads(data).get("upstream", {}).get("service")
                if instance not in RESPONDERS:
                    error = "unexpected body %r" % data[:200]
            else:
                error = "HTTP %d %r" % (status, data[:200])
            if r.will_close:
                conn.close()
                conn = None
        except Exception as e:  # noqa: BLE001 - recorded as a failed request
            error = repr(e)
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            results.append({"start": start, "end": time.monotonic(), "status": status,
                            "instance": instance, "error": error})
        time.sleep(0.005)
    if conn is not None:
        conn.close()


def step_planned_deregistration(mesh):
    """SIGTERM responder-1's sidecar while requests flow through the caller: it deregisters,
    serves through deregister_grace while the caller's next poll drops it, drains, exits 0."""
    sc = mesh.sidecars[DRAINED]
    survivor = [n for n in RESPONDERS if n != DRAINED][0]
    caller = mesh.sidecars["caller"]
    entry = caller.listener("caller")
    registered_before = _registered(mesh)
    clusters_before = sorted(_cluster_endpoints(caller))

    results, lock, stop = [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_loop_worker, args=(entry, stop, results, lock), daemon=True)
               for _ in range(2)]
    for t in threads:
        t.start()
    try:
        def both_serving():
            with lock:
                seen = {r["instance"] for r in results if r["instance"]}
                return len(results) >= 40 and seen >= set(RESPONDERS)
        wait_until(both_serving, timeout=10, message="the request loop to reach both responders")
        say("  request loop: 2 keep-alive clients, GET / through the caller's inbound, both responders answering")
        t_term, t_term_wall = time.monotonic(), time.time()
        sc.h.sigterm()
        say("  SIGTERM -> %s's hawser (deregister_grace %s; the caller polls every %s)"
            % (DRAINED, DEREGISTER_GRACE, POLL_INTERVAL))

        def gone_from_caller():
            return _cluster_endpoints(caller) == {addr_str(mesh.sidecars[survivor].listener("responder"))}
        t_dropped = None
        deadline = t_term + 15
        while sc.h.alive() and time.monotonic() < deadline:
            if t_dropped is None and gone_from_caller():
                t_dropped = time.monotonic()
            time.sleep(0.02)
        rc = sc.h.wait_exit(max(0.1, deadline - time.monotonic()))
        t_exit = time.monotonic()
        sc.exit_code = rc
        mesh.pidfile.remove(sc.h.proc.pid)
        if t_dropped is None and gone_from_caller():
            t_dropped = time.monotonic()
        time.sleep(1.5)   # traffic after the exit: all of it on the survivor
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    if any(t.is_alive() for t in threads):
        raise StepFailed("a request loop thread did not finish")

    last_on_drained = max((r["end"] for r in results if r["instance"] == DRAINED), default=None)
    mesh.dereg = {
        "results": results, "t_term": t_term, "t_exit": t_exit, "t_dropped": t_dropped, "rc": rc,
        "last_on_drained": last_on_drained, "survivor": survivor,
        "registered_before": registered_before, "registered_after": _registered(mesh),
        "clusters_before": clusters_before, "clusters_after": sorted(_cluster_endpoints(caller)),
        "t_term_wall": t_term_wall,
        "logs": [d for d in sc.h.log_lines()
                 if d.get("msg", "").startswith("self-registration: dereg") or d.get("msg") in ("draining", "drained; exiting")
                 or (d.get("level") in ("warn", "error") and d.get("msg") != NO_CREDENTIALS)],
    }
    say("  %s's hawser exited with code %d, %.2fs after SIGTERM" % (DRAINED, rc, t_exit - t_term))
    if t_dropped is not None:
        say("  the caller's hawser dropped it from /clusters %.2fs after SIGTERM" % (t_dropped - t_term))
    if last_on_drained is not None:
        say("  last request answered by %s: %.2fs after SIGTERM" % (DRAINED, last_on_drained - t_term))
    failed = [r for r in results if r["error"]]
    problems = []
    if failed:
        for r in failed[:5]:
            say("  FAILED: %r" % r)
        problems.append("%d of %d requests failed" % (len(failed), len(results)))
    if rc != 0:
        problems.append("%s's hawser exited with %d" % (DRAINED, rc))
    if DRAINED in mesh.dereg["registered_after"]:
        problems.append("%s is still registered" % DRAINED)
    after = {r["instance"] for r in results if r["start"] > t_exit}
    if after != {survivor}:
        problems.append("after the exit, requests went to %r" % sorted(after, key=str))
    if problems:
        raise StepFailed("; ".join(problems))


def _since(log_line, t0_wall):
    """'+1.23s': when a log line (its "time", ISO 8601 UTC with milliseconds) was written,
    relative to t0_wall (time.time())."""
    try:
        t = datetime.datetime.strptime(log_line["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    except (KeyError, ValueError):
        return "      "
    return "%+.2fs" % (t.replace(tzinfo=datetime.timezone.utc).timestamp() - t0_wall)


def step_report_deregistration(mesh):
    d = mesh.dereg
    res, t_term, t_exit = d["results"], d["t_term"], d["t_exit"]
    say("  registry before:")
    table([("", iid, addr, health) for iid, (addr, health) in sorted(d["registered_before"].items())], indent="    ")
    say("  registry after:")
    table([("", iid, addr, health) for iid, (addr, health) in sorted(d["registered_after"].items())]
          or [("", "(no instances)")], indent="    ")
    say("  caller's /clusters, responder: before %s; after %s"
        % (", ".join(d["clusters_before"]), ", ".join(d["clusters_after"])))
    say("  %s's hawser, log (SIGTERM to exit %.2fs, exit code %d):" % (DRAINED, t_exit - t_term, d["rc"]))
    for line in d["logs"]:
        say("    %s log: %s" % (_since(line, d["t_term_wall"]), json.dumps(line, sort_keys=True)))
    phases = [("before SIGTERM", lambda r: r["start"] < t_term),
              ("SIGTERM .. exit (grace + drain)", lambda r: t_term <= r["start"] <= t_exit),
              ("after exit", lambda r: r["start"] > t_exit)]
    rows = [("", "requests started", "total", "ok", "failed") + RESPONDERS]
    for label, pred in phases + [("all", lambda r: True)]:
        sel = [r for r in res if pred(r)]
        by = collections.Counter(r["instance"] for r in sel if not r["error"])
        rows.append(("", label, str(len(sel)), str(sum(by.values())), str(sum(1 for r in sel if r["error"])))
                    + tuple(str(by[n]) for n in RESPONDERS))
    say("  the request loop through the caller (GET /, answered by):")
    table(rows)
    failed = sum(1 for r in res if r["error"])
    say("  traffic shifted to %s; %d of %d requests failed; %s's hawser exited %d"
        % (d["survivor"], failed, len(res), DRAINED, d["rc"]))


def step_drain(mesh):
    """SIGTERM the sidecars still running at once; each drains and exits 0.  Then stop the apps
    and the registry."""
    t0 = time.monotonic()
    for sc in mesh.sidecars.values():
        sc.h.sigterm()   # a no-op for one that already exited (the planned deregistration)
    failed = []
    for name, sc in mesh.sidecars.items():
        if sc.exit_code is not None:
            say("  %s's hawser: exited earlier (planned deregistration), exit code %d" % (name, sc.exit_code))
            if sc.exit_code != 0:
                failed.append(name)
            continue
        rc = sc.h.wait_exit(15)
        sc.exit_code = rc
        mesh.pidfile.remove(sc.h.proc.pid)
        logs = [d for d in sc.h.log_lines() if d.get("msg") in ("draining", "drained; exiting")
                or (d.get("level") in ("warn", "error") and d.get("msg") != NO_CREDENTIALS)]
        say("  %s's hawser: exit code %d after %.2fs" % (name, rc, time.monotonic() - t0))
        for d in logs:
            say("    log: " + json.dumps(d, sort_keys=True))
        if rc != 0:
            failed.append(name)
    for name, app in mesh.apps.items():
        rc = app.stop()
        say("  %s app stopped (exit code %s)" % (name, rc))
        if rc not in (0, -signal.SIGTERM):
            failed.append(name + " app")
    if mesh.registry is not None:
        rc = mesh.registry.stop()
        say("  hawser registry stopped (exit code %s)" % rc)
        if rc not in (0, -signal.SIGTERM):
            failed.append("registry")
    if mesh.forwarder is not None:
        mesh.forwarder.sigterm()
        rc = mesh.forwarder.wait_exit(20)
        mesh.pidfile.remove(mesh.forwarder.proc.pid)
        say("  hawser forwarder: exit code %d" % rc)
        if rc != 0:
            failed.append("forwarder")
    if failed:
        raise StepFailed("did not exit cleanly: " + ", ".join(failed))


STEPS = [
    ("certificates: a CA and a SPIFFE identity per workload (hawser certs)", step_certificates),
    ("registry: a local Cloud Map (hawser registry)", step_registry),
    ("collector: an OpenTelemetry collector for the sidecars' spans", step_collector),
    ("forwarder: the cluster's capture forwarder (hawser forwarder)", step_forwarder),
    ("start two responders, each with a sidecar that registers it", step_start_responders),
    ("start the caller and its sidecar (discovers the responders in the registry)", step_start_caller),
    ("one request end to end", step_smoke),
    ("one trace through both sidecars", step_trace),
    ("traffic", step_traffic),
    ("negative checks: who may not reach the responder", step_negative),
    ("summary: requests", step_report_requests),
    ("summary: mutual TLS", step_report_mtls),
    ("summary: what each sidecar reports", step_report_sidecars),
    ("summary: capture (every exchange, stored once, exported as HAR)", step_report_capture),
    ("planned deregistration: SIGTERM %s's sidecar under load" % DRAINED, step_planned_deregistration),
    ("summary: planned deregistration", step_report_deregistration),
    ("drain: SIGTERM the other sidecars, stop the apps and the registry", step_drain),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pidfile", default=None, help="write 'PID MARKER' lines of started processes here")
    p.add_argument("--log-dir", default=None, help="where to keep the processes' logs (default: a new directory "
                   "$TMPDIR/hawser-demo-logs.XXXXXXXX per run, kept and printed)")
    p.add_argument("--work-dir", default=None,
                   help="an empty directory for the certificates (default: a new temporary directory, removed on exit)")
    opts = p.parse_args(argv)

    # SIGTERM (e.g. from the wrapper's trap) unwinds through the finally below.
    def on_term(_sig, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    say("hawser demo: %s" % hawser_bin())
    mesh = Mesh(opts)
    say("logs and configs: %s" % mesh.log_dir)
    t_start = time.monotonic()
    ok = True
    try:
        for title, fn in STEPS:
            heading(title)
            t0 = time.monotonic()
            try:
                fn(mesh)
            except (StepFailed, AssertionError) as e:
                say("  FAILED: %s" % e)
                ok = False
                break
            except Exception as e:  # noqa: BLE001 - a bug or an environment problem: say which, then clean up
                say("  FAILED: unexpected %s: %s" % (type(e).__name__, e))
                ok = False
                break
            say("  (%.2fs)" % (time.monotonic() - t0))
    except KeyboardInterrupt:
        say("\ninterrupted")
        ok = False
    finally:
        mesh.stop_all()
        try:
            mesh.save_logs()
        except OSError:
            pass
        mesh.remove_work_dir()
    say()
    say("logs and configs: %s" % mesh.log_dir)
    say("demo %s in %.1fs" % ("passed" if ok else "FAILED", time.monotonic() - t_start))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
