#!/usr/bin/env python3
"""The hawser demo: a two-service mesh on loopback, some traffic, a readable summary.

    caller app --HTTP_PROXY--> caller's hawser (http_proxy, outbound "responder")
                                   |  static discovery, mutual TLS: presents spiffe://demo/caller,
                                   |  accepts only spiffe://demo/responder
                                   v
    client --> caller's hawser (inbound, plaintext) --> caller app
               responder's hawser (inbound, strict mTLS, allows spiffe://demo/caller) --> responder app

The certificates (a CA, and one workload certificate per sidecar with its SPIFFE ID) are made
by `hawser certs` in the demo's temporary directory (--work-dir), removed on exit.

Run by scripts/demo after the build.  Standard library only; every wait has a deadline.
Every process this script starts is written to --pidfile ("PID MARKER" lines) so the
shell wrapper can kill exactly those on exit, and is reaped and removed from it here.

The demo is a list of steps (STEPS at the bottom).  Capabilities add a step, or a config hook
(CONFIG_HOOKS) that edits each sidecar's configuration before it starts; mTLS is both (the
`certificates` step and `mtls_config`).  Later ones (the local registry, capture, tracing)
follow the same pattern.

Exit status: 0 when every step passed, 1 otherwise.
"""

import argparse
import collections
import http.client
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
        self.own_work_dir = not opts.work_dir
        self.work_dir = opts.work_dir or tempfile.mkdtemp(prefix="hawser-demo-")
        self.log_dir = opts.log_dir or os.path.join(tempfile.gettempdir(), "hawser-demo-logs")
        os.makedirs(self.log_dir, exist_ok=True)
        for f in os.listdir(self.log_dir):  # the last run's logs only
            if f.endswith((".log", ".yaml")):
                os.unlink(os.path.join(self.log_dir, f))

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


def base_sidecar_config(service):
    return {
        "node": {"service": service, "namespace": "demo"},
        "admin": {"address": "127.0.0.1:0"},
        "workers": 2,
        "drain_timeout": "5s",
    }


# Who may call whom.  The namespace "demo" and the service names give the SPIFFE IDs.
TRUST_DOMAIN = "demo"
IDENTITIES = {name: "spiffe://%s/%s" % (TRUST_DOMAIN, name) for name in ("caller", "responder")}
STRANGER = "spiffe://%s/stranger" % TRUST_DOMAIN   # valid certificate, not on any allow list


def mtls_config(mesh, name, config):
    """Mutual TLS for one sidecar: its certificate, key and the CA (from the `certificates`
    step), and the TLS mode of each listener and outbound service."""
    files = mesh.certs[name]
    config["node"]["identity"] = files["identity"]
    config["tls"] = {"cert": files["cert"], "key": files["key"], "ca": mesh.ca}
    for inbound in config.get("inbound", []):
        if name == "responder":
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


# Functions (mesh, sidecar_name, config_dict) -> None that edit a sidecar's configuration
# before it starts.
CONFIG_HOOKS = [mtls_config]


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


def step_start_responder(mesh):
    app = mesh.apps["responder"] = App(mesh, "responder", "responder", ["--port", "0"]).start()
    cfg = base_sidecar_config("responder")
    cfg["inbound"] = [{"name": "responder", "listen": "127.0.0.1:0", "app": addr_str(app.address)}]
    sc = mesh.sidecars["responder"] = Sidecar(mesh, "responder", cfg).start()
    table([("responder app", addr_str(app.address)),
           ("responder hawser inbound", addr_str(sc.listener("responder"))
            + "  (strict mTLS; allow %s)" % IDENTITIES["caller"]),
           ("responder hawser admin", addr_str(sc.h.admin))])


def step_start_caller(mesh):
    responder_inbound = mesh.sidecars["responder"].listener("responder")
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
            "discovery": {"static": [addr_str(responder_inbound)]},
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
           ("caller hawser admin", addr_str(sc.h.admin))])


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
    if doc.get("upstream", {}).get("service") != "responder":
        raise StepFailed("unexpected body %r" % doc)
    say("  GET / -> %d  %s" % (r.status, json.dumps(doc, sort_keys=True)))

    def hops():
        lines = []
        for name in ("caller", "responder"):
            for d in mesh.sidecars[name].h.access_logs():
                if d.get("request_id") == rid:
                    lines.append((name, d))
        return lines if len(lines) >= 3 else None

    found = wait_until(hops, timeout=5, message="access log lines for %s" % rid)
    say("  x-request-id %s in the access logs:" % rid)
    table([(name + " hawser", d["direction"], d["method"], d["authority"] or "-", d["path"],
            str(d["status"]), "%.2fms" % d["duration_ms"], "-> " + (d["upstream"] or "-"))
           for name, d in found], indent="    ")


def _traffic_worker(entry, jobs, results, lock, timeout):
    conn = None
    for kind, i in jobs:
        start = time.monotonic()
        status, reason, error = None, None, None
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
                if json.loads(data).get("upstream", {}).get("service") != "responder":
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
                            "latency": time.monotonic() - start})
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
    """What the responder app has seen of x-forwarded-client-cert (it is on loopback; the demo
    asks it directly, not through a sidecar)."""
    st, _, body = _get(mesh.apps["responder"].address, "/seen")
    if st != 200:
        raise StepFailed("responder app /seen -> %d" % st)
    return json.loads(body)


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
    """Clients that are not the caller's sidecar are turned away at the responder's inbound."""
    sc = mesh.sidecars["responder"]
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
        'responder hawser_tls_handshake_errors_total{reason="plaintext"} +%d'
        % (addr_str(inbound), "reset" if isinstance(got, Exception) else "EOF", errors("plaintext")))

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
        raise StepFailed("the responder app saw %d requests from these clients" % (after_app - before_app))
    say("  the responder app saw none of them (/data requests before and after: %d)" % after_app)


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
        if c["identity"] != IDENTITIES[name]:
            raise StepFailed("%s proves %r, expected %r" % (name, c["identity"], IDENTITIES[name]))
    table(rows)

    seen = _app_seen(mesh)
    say("  x-forwarded-client-cert as the responder app saw it (%d /data requests):" % seen["requests"])
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
    r = mesh.sidecars["responder"].metrics()
    accepted = metric_sum(r, "hawser_downstream_connections_total")
    failed = metric_sum(r, "hawser_tls_handshake_errors_total")
    # Every connection to the strict inbound starts with a handshake; the stranger's (step
    # negative checks) is the one completed handshake that did not come from the caller.
    say("  responder inbound: %d connections accepted, %d handshakes refused, %d completed: %d from the "
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


def step_drain(mesh):
    """SIGTERM both sidecars at once; each drains and exits 0.  Then stop the apps."""
    t0 = time.monotonic()
    for sc in mesh.sidecars.values():
        sc.h.sigterm()
    failed = []
    for name, sc in mesh.sidecars.items():
        rc = sc.h.wait_exit(15)
        sc.exit_code = rc
        mesh.pidfile.remove(sc.h.proc.pid)
        logs = [d for d in sc.h.log_lines() if d.get("msg") in ("draining", "drained; exiting")
                or d.get("level") in ("warn", "error")]
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
    if failed:
        raise StepFailed("did not exit cleanly: " + ", ".join(failed))


STEPS = [
    ("certificates: a CA and a SPIFFE identity per workload (hawser certs)", step_certificates),
    ("start the responder and its sidecar", step_start_responder),
    ("start the caller and its sidecar", step_start_caller),
    ("one request end to end", step_smoke),
    ("traffic", step_traffic),
    ("negative checks: who may not reach the responder", step_negative),
    ("summary: requests", step_report_requests),
    ("summary: mutual TLS", step_report_mtls),
    ("summary: what each sidecar reports", step_report_sidecars),
    ("drain: SIGTERM both sidecars", step_drain),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--pidfile", default=None, help="write 'PID MARKER' lines of started processes here")
    p.add_argument("--log-dir", default=None, help="where to keep the processes' logs (default: $TMPDIR/hawser-demo-logs)")
    p.add_argument("--work-dir", default=None,
                   help="an empty directory for the certificates (default: a new temporary directory, removed on exit)")
    opts = p.parse_args(argv)

    # SIGTERM (e.g. from the wrapper's trap) unwinds through the finally below.
    def on_term(_sig, _frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    say("hawser demo: %s" % hawser_bin())
    mesh = Mesh(opts)
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
