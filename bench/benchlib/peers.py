"""The app and the four configurations of the mesh hop.

    load generator -> client sidecar (plaintext) ==mTLS 1.3==> server sidecar -> app

`direct` has no sidecar (the ceiling). Each pair is two processes of the same
proxy with the same worker count: nginx (http proxy, proxy_ssl + ssl_verify_client,
upstream keepalive), HAProxy (http mode, verify required, http-reuse always) and
hawser (outbound alias + inbound strict with authorization). Every side checks
the other's identity: hawser the SPIFFE URI SAN, nginx and HAProxy the DNS SAN
(client -> server) and the CN (server <- client), which they can match natively.
Access logs are off everywhere. `reuse=False` (the handshake run) gives every
client sidecar a new upstream connection per request (hawser:
`max_requests_per_connection: 1`).
"""

import http.client
import json
import os
import resource

from . import certs as certlib
from .procs import BenchError, free_port, wait_until

LOOPBACK = "127.0.0.1"
APP_BODY = "hello from the bench app\n"
APP_WORKERS = 1
KEEPALIVE_REQUESTS = 1000000  # nginx closes a connection after 1000 requests by default


def addr(host_port):
    return "%s:%d" % host_port


def get_ok(entry, path="/", timeout=2.0):
    """One GET through `entry`; True when it answers 200 with the app's body."""
    conn = http.client.HTTPConnection(entry[0], entry[1], timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        if r.status != 200 or body != APP_BODY:
            raise BenchError("GET %s via %s -> %d %r" % (path, addr(entry), r.status, body[:200]))
        return True
    finally:
        conn.close()


def wait_serving(entry, procs, timeout=20.0):
    def ok():
        for p in procs:
            p.check_alive()
        return get_ok(entry)
    wait_until(ok, timeout, "a 200 through %s" % addr(entry), interval=0.1)


# ------------------------------------------------------------------------------------
# nginx (the app and the nginx pair)

def _nginx_conf(dirname, workers, http_body):
    temp = "\n".join("  %s_temp_path %s/%s;" % (t, dirname, t)
                     for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return """daemon off;
master_process on;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
%s
  default_type text/plain;
  keepalive_requests %d;
  keepalive_timeout 120s;
%s
}
""" % (workers, dirname, dirname, temp, KEEPALIVE_REQUESTS, http_body)


def start_nginx(reg, name, dirname, workers, http_body):
    os.makedirs(dirname, exist_ok=True)
    conf = os.path.join(dirname, "nginx.conf")
    with open(conf, "w") as f:
        f.write(_nginx_conf(dirname, workers, http_body))
    return reg.start(name, ["nginx", "-p", dirname, "-c", conf, "-e", os.path.join(dirname, "error.log")],
                     os.path.join(dirname, "stdout.log"))


class App:
    """nginx answering every request with a fixed small 200 body."""

    def __init__(self, reg, workdir):
        self.addr = (LOOPBACK, free_port())
        body = """  server {
    listen %s backlog=4096;
    location / { return 200 %s; }
  }""" % (addr(self.addr), json.dumps(APP_BODY))
        self.proc = start_nginx(reg, "app", os.path.join(workdir, "app"), APP_WORKERS, body)
        wait_serving(self.addr, [self.proc])


# ------------------------------------------------------------------------------------
# the four configurations

class Direct:
    name = "direct"

    def __init__(self):
        self.entry = None
        self.server_addr = None  # the server sidecar's mTLS listener
        self.sidecars = []  # (side, Proc)

    def start(self, reg, workdir, certs, app, workers):
        self.entry = app.addr

    def stop(self, reg):
        pass


class Pair(Direct):
    def stop(self, reg):
        for _, proc in reversed(self.sidecars):
            reg.stop(proc)
        self.sidecars = []


class NginxPair(Pair):
    name = "nginx"

    def __init__(self, reuse=True):
        super().__init__()
        # False: the client sidecar opens a new mTLS connection for every
        # request (no `keepalive` in its upstream block, so nginx sends
        # `Connection: close` upstream); its TLS session cache stays on.
        self.reuse = reuse

    def start(self, reg, workdir, certs, app, workers):
        client, server = (LOOPBACK, free_port()), (LOOPBACK, free_port())
        server_body = """  upstream app {
    server %(app)s;
    keepalive 256;
    keepalive_requests %(kr)d;
    keepalive_timeout 120s;
  }
  map $ssl_client_s_dn $bench_denied { "CN=client" 0; default 1; }
  server {
    listen %(server)s ssl backlog=4096;
    ssl_certificate %(cert)s;
    ssl_certificate_key %(key)s;
    ssl_client_certificate %(ca)s;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.3;
    location / {
      if ($bench_denied) { return 403; }
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }""" % dict(app=addr(app.addr), kr=KEEPALIVE_REQUESTS, server=addr(server),
              cert=certs.cert("server"), key=certs.key("server"), ca=certs.ca)
        pool = """    keepalive 256;
    keepalive_requests %d;
    keepalive_timeout 120s;
""" % KEEPALIVE_REQUESTS if self.reuse else ""
        client_body = """  upstream mesh {
    server %(server)s;
%(pool)s  }
  server {
    listen %(client)s backlog=4096;
    location / {
      proxy_pass https://mesh;
      proxy_http_version 1.1;
%(connection)s      proxy_ssl_certificate %(cert)s;
      proxy_ssl_certificate_key %(key)s;
      proxy_ssl_trusted_certificate %(ca)s;
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name %(sni)s;
      proxy_ssl_server_name on;
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }""" % dict(server=addr(server), pool=pool, client=addr(client),
              connection='      proxy_set_header Connection "";\n' if self.reuse else "",
              cert=certs.cert("client"), key=certs.key("client"), ca=certs.ca,
              sni=certlib.dns_name("server"))
        d = os.path.join(workdir, "nginx-w%d%s" % (workers, "" if self.reuse else "-noreuse"))
        s = start_nginx(reg, "nginx-server", os.path.join(d, "server"), workers, server_body)
        self.sidecars.append(("server", s))
        c = start_nginx(reg, "nginx-client", os.path.join(d, "client"), workers, client_body)
        self.sidecars.append(("client", c))
        self.entry = client
        self.server_addr = server
        wait_serving(self.entry, [s, c])


def haproxy_maxconn():
    """16384, or what the descriptor limit holds: HAProxy wants 2 per connection
    and refuses to start when it cannot raise its limit that far."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(1024, min(16384, (soft - 200) // 2))


class HaproxyPair(Pair):
    name = "haproxy"

    def __init__(self, reuse=True):
        super().__init__()
        # False: the client sidecar opens a new mTLS connection for every
        # request (`http-reuse never`, `option http-server-close`); its
        # servers' TLS session reuse stays on (the default).
        self.reuse = reuse

    def _start(self, reg, dirname, side, workers, body):
        os.makedirs(dirname, exist_ok=True)
        cfg = os.path.join(dirname, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("""global
  nbthread %d
  maxconn %d
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s

%s
""" % (workers, haproxy_maxconn(), body))
        proc = reg.start("haproxy-" + side, ["haproxy", "-db", "-f", cfg], os.path.join(dirname, "haproxy.log"))
        self.sidecars.append((side, proc))
        return proc

    def start(self, reg, workdir, certs, app, workers):
        client, server = (LOOPBACK, free_port()), (LOOPBACK, free_port())
        d = os.path.join(workdir, "haproxy-w%d%s" % (workers, "" if self.reuse else "-noreuse"))
        s = self._start(reg, os.path.join(d, "server"), "server", workers, """frontend ingress
  bind %s ssl crt %s ca-file %s verify required alpn http/1.1
  http-request deny deny_status 403 unless { ssl_c_s_dn(CN) -m str client }
  default_backend app

backend app
  server app %s""" % (addr(server), certs.bundle("server"), certs.ca, addr(app.addr)))
        c = self._start(reg, os.path.join(d, "client"), "client", workers, """frontend egress
  bind %s
  default_backend mesh

backend mesh
%s  server server %s ssl verify required ca-file %s crt %s verifyhost %s sni str(%s) alpn http/1.1""" % (
            addr(client), "" if self.reuse else "  http-reuse never\n  option http-server-close\n",
            addr(server), certs.ca, certs.bundle("client"), certlib.dns_name("server"), certlib.dns_name("server")))
        self.entry = client
        self.server_addr = server
        wait_serving(self.entry, [s, c])


class Hawser:
    """One `hawser proxy` process: admin on port 0, listeners on port 0 (read from /listeners)."""

    def __init__(self, reg, binary, dirname, name, config, command="proxy"):
        os.makedirs(dirname, exist_ok=True)
        self.config_path = os.path.join(dirname, "hawser.yaml")
        self.admin_file = os.path.join(dirname, "admin-address")
        if os.path.exists(self.admin_file):
            os.remove(self.admin_file)
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=1)  # JSON is YAML
        self.proc = reg.start(name, [binary, command, "--config", self.config_path,
                                     "--admin-address-path", self.admin_file],
                              os.path.join(dirname, "hawser.log"))
        self.admin = None

    def wait_ready(self, timeout=30.0):
        def admin_known():
            self.proc.check_alive()
            with open(self.admin_file) as f:
                host, _, port = f.read().strip().rpartition(":")
            return (host, int(port)) if port else None
        self.admin = wait_until(admin_known, timeout, "%s admin address" % self.proc.name)

        def ready():
            self.proc.check_alive()
            status, _ = self.admin_get("/ready")
            return status == 200
        wait_until(ready, timeout, "%s /ready" % self.proc.name, interval=0.1)

    def admin_get(self, path, timeout=5.0):
        conn = http.client.HTTPConnection(self.admin[0], self.admin[1], timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def listener(self, kind):
        status, body = self.admin_get("/listeners")
        if status != 200:
            raise BenchError("%s /listeners -> %d" % (self.proc.name, status))
        for item in json.loads(body)["listeners"]:
            if item["kind"] == kind:
                host, _, port = item["address"].rpartition(":")
                return (host, int(port))
        raise BenchError("%s has no %s listener: %s" % (self.proc.name, kind, body[:300]))


def hawser_base(name, workers, certs, metrics=True, tracing=None, capture=None):
    """tracing: a `telemetry.tracing.otlp` block, or None (no tracing key at all); capture: a
    `capture` block, or None."""
    cfg = {
        "node": {"service": name, "namespace": certlib.TRUST_DOMAIN, "identity": certlib.spiffe(name)},
        "admin": {"address": "127.0.0.1:0"},
        "workers": workers,
        "drain_timeout": "2s",
        "tls": {"cert": certs.cert(name), "key": certs.key(name), "ca": certs.ca, "min_version": "1.3"},
        "telemetry": {"access_log": {"path": "off"}},
    }
    if not metrics:  # only when off, so older binaries without the key still run the rest
        cfg["telemetry"]["metrics"] = {"enabled": False}
    if tracing is not None:
        cfg["telemetry"]["tracing"] = {"otlp": dict(tracing)}
    if capture is not None:
        cfg["capture"] = dict(capture)
    return cfg


class HawserPair(Pair):
    name = "hawser"

    def __init__(self, binary, metrics=True, reuse=True, tracing=None, capture=None):
        super().__init__()
        self.capture = capture  # a `capture` block for both sidecars, or None
        self.binary = binary
        self.metrics = metrics  # False: telemetry.metrics.enabled: false on both sidecars
        # False (the handshake run): max_requests_per_connection: 1 on the client's service,
        # so every request opens a new mTLS connection (and says Connection: close on it).
        self.reuse = reuse
        self.tracing = tracing  # a telemetry.tracing.otlp block for both sidecars, or None
        self.hawsers = []

    def start(self, reg, workdir, certs, app, workers):
        d = os.path.join(workdir, "hawser-w%d" % workers)
        server_cfg = hawser_base("server", workers, certs, self.metrics, self.tracing, self.capture)
        server_cfg["inbound"] = [{
            "name": "app", "listen": "127.0.0.1:0", "app": addr(app.addr), "protocol": "http",
            "tls": {"mode": "strict"},
            "authorization": {"allow": [certlib.spiffe("client")]},
        }]
        server = Hawser(reg, self.binary, os.path.join(d, "server"), "hawser-server", server_cfg)
        self.sidecars.append(("server", server.proc))
        self.hawsers.append(server)
        server.wait_ready()
        inbound = server.listener("inbound")
        self.server_addr = inbound

        client_cfg = hawser_base("client", workers, certs, self.metrics, self.tracing, self.capture)
        client_cfg["outbound"] = {"services": [{
            "name": "server", "alias": "127.0.0.1:0", "protocol": "http",
            "discovery": {"static": [addr(inbound)]},
            "tls": {"mode": "mutual", "sans": [certlib.spiffe("server")]},
        }]}
        if not self.reuse:
            client_cfg["outbound"]["services"][0]["max_requests_per_connection"] = 1
        client = Hawser(reg, self.binary, os.path.join(d, "client"), "hawser-client", client_cfg)
        self.sidecars.append(("client", client.proc))
        self.hawsers.append(client)
        client.wait_ready()
        self.entry = client.listener("outbound")
        wait_serving(self.entry, [server.proc, client.proc])

    def stop(self, reg):
        super().stop(reg)
        self.hawsers = []
