"""Test harness: run real hawser processes on loopback and talk to them.

Only the Python standard library.  Every wait has a deadline.

    h = start_hawser(self, config_dict)          # registers cleanup on the TestCase
    host, port = h.listener("app")
    status, headers, body = http_request(h.listener("app"), "GET", "/x")
    h.metric("hawser_requests_total", direction="inbound")
"""

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

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BIN = os.path.normpath(os.path.join(HERE, "..", "..", "build", "cmd", "hawser"))
LOOPBACK = "127.0.0.1"
ADMIN_POST_HEADER = "X-Hawser-Admin"


def hawser_bin():
    path = os.environ.get("HAWSER_BIN") or DEFAULT_BIN
    if not os.path.exists(path):
        raise RuntimeError("hawser binary not found at %r (set HAWSER_BIN)" % path)
    return path


# --------------------------------------------------------------------------------------
# waiting

class Abort(Exception):
    """Raised by a wait_until predicate to stop waiting at once (e.g. the process died)."""


def wait_until(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Poll predicate() until it returns a truthy value; return it.  Raise on deadline.
    Exceptions from predicate are retried, except Abort, which propagates."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - we report the last one
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, message, (" (last error: %r)" % last_exc) if last_exc else ""))
        time.sleep(interval)


def free_port():
    """A currently free loopback port (for configs that must keep a fixed port across reloads)."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def addr_str(addr):
    return "%s:%d" % tuple(addr)


def parse_addr(s):
    host, _, port = s.rpartition(":")
    return (host, int(port))


# --------------------------------------------------------------------------------------
# YAML emitter (block style; strings double-quoted, which is JSON-compatible YAML)

def _scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def plaintext_defaults(config):
    """hawser requires mutual TLS unless a listener or service says
    `tls: {mode: disabled}`. Tests that do not configure the top-level `tls`
    block exercise plaintext, so they get that said for them."""
    if not isinstance(config, dict) or "tls" in config:
        return config
    config = dict(config)
    config["inbound"] = [dict(i, tls=i.get("tls", {"mode": "disabled"})) for i in config.get("inbound", [])]
    if isinstance(config.get("outbound"), dict):
        out = dict(config["outbound"])
        out["services"] = [dict(s, tls=s.get("tls", {"mode": "disabled"})) for s in out.get("services", [])]
        config["outbound"] = out
    return config


def to_yaml(obj, indent=0):
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 1))
            elif isinstance(v, list) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 1))
            elif isinstance(v, dict):
                lines.append("%s%s: {}" % (pad, k))
            elif isinstance(v, list):
                lines.append("%s%s: []" % (pad, k))
            else:
                lines.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = to_yaml(item, indent + 1).split("\n")
                sub[0] = pad + "- " + sub[0][len(pad) + 2:]
                lines.extend(sub)
            else:
                lines.append("%s- %s" % (pad, _scalar(item) if not isinstance(item, (dict, list))
                                          else ("{}" if isinstance(item, dict) else "[]")))
    else:
        lines.append(pad + _scalar(obj))
    return "\n".join(lines)


def base_config(**overrides):
    cfg = {
        "node": {"service": "test", "namespace": "test"},
        "admin": {"address": "127.0.0.1:0"},
        "workers": 2,
        "drain_timeout": "5s",
    }
    cfg.update(overrides)
    return cfg


# --------------------------------------------------------------------------------------
# Prometheus text parsing

_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v):
    return v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels.items())): float}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_s, _, value_s = rest.rpartition("}")
            labels = {}
            pos = 0
            while pos < len(labels_s):
                m = _LABEL_RE.match(labels_s, pos)
                if not m:
                    break
                labels[m.group(1)] = _unescape(m.group(2))
                pos = m.end()
        else:
            name, _, value_s = line.partition(" ")
            labels = {}
        value_s = value_s.strip().split()[0]
        try:
            value = float(value_s)
        except ValueError:
            continue
        out[(name.strip(), frozenset(labels.items()))] = value
    return out


def metric_sum(metrics, name, **labels):
    """Sum of all series called `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


# --------------------------------------------------------------------------------------
# HTTP helpers

def http_request(addr, method, path, headers=None, body=None, timeout=10.0):
    """One request on a fresh connection. Returns (status, headers_lower_dict, body)."""
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            lk = k.lower()
            hdrs[lk] = (hdrs[lk] + ", " + v) if lk in hdrs else v
        return r.status, hdrs, data
    finally:
        conn.close()


def response_headers(resp):
    hdrs = {}
    for k, v in resp.getheaders():
        lk = k.lower()
        hdrs[lk] = (hdrs[lk] + ", " + v) if lk in hdrs else v
    return hdrs


def seen_headers(hdrs):
    """Decode the fake upstream's x-fake-seen-headers from a response header dict."""
    return json.loads(hdrs["x-fake-seen-headers"])


class RawResponse:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers           # list of (name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        vals = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(vals) if vals else default

    def __repr__(self):
        hs = [(k, v if len(v) <= 120 else v[:120] + "...") for k, v in self.headers]
        return "RawResponse(%r %r, headers=%r, body=%r)" % (self.status, self.reason, hs, self.body[:200])


class RawConn:
    """A raw TCP client with an HTTP/1.1 response parser, for malformed input and 1xx/101."""

    def __init__(self, addr, timeout=10.0):
        self.sock = socket.create_connection(tuple(addr), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self, deadline):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if not self._fill(deadline):
                raise EOFError("connection closed mid-line (buffer %r)" % bytes(self.buf[:200]))

    def _exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise EOFError("connection closed mid-body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_head(self, timeout=None):
        """Read one status line + headers.  Returns RawResponse without body, or None if the
        connection closed (or was reset) before any byte of a response arrived."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        if not self.buf:
            if not self._fill(deadline):
                return None
        head = bytearray()
        line = self._line(deadline)
        head += line
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError("not an HTTP status line: %r" % line)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            hl = self._line(deadline)
            head += hl
            if hl in (b"\r\n", b"\n"):
                break
            k, _, v = hl.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        return RawResponse(status, reason, headers, b"", bytes(head))

    def read_response(self, timeout=None, head_request=False, skip_1xx=False):
        """Read a full response (body by CL / chunked / until close).  None if closed first."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            r = self.read_head(max(0.001, deadline - time.monotonic()))
            if r is None:
                return None
            if skip_1xx and 100 <= r.status < 200 and r.status != 101:
                continue
            break
        if head_request or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        body = bytearray()
        if "chunked" in te:
            while True:
                size = int(self._line(deadline).split(b";")[0].strip(), 16)
                if size == 0:
                    while self._line(deadline) not in (b"\r\n", b"\n"):
                        pass
                    break
                body += self._exact(size, deadline)
                self._exact(2, deadline)
        elif cl is not None:
            body += self._exact(int(cl.split(",")[0]), deadline)
        else:
            while self._fill(deadline):
                pass
            body += self.buf
            self.buf.clear()
        r.body = bytes(body)
        return r

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        return self._exact(n, deadline)

    def read_until_close(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while self._fill(deadline):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def closed_within(self, timeout):
        """True if the peer closes (EOF or reset) within timeout; extra bytes are buffered."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
            return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True


def raw_exchange(addr, data, timeout=5.0, head_request=False):
    """Send raw bytes, read one response.  Returns (RawResponse or None, closed_after: bool)."""
    with RawConn(addr, timeout=timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            return None, True
        try:
            r = c.read_response(timeout=timeout, head_request=head_request)
        except (ConnectionResetError, EOFError):
            return None, True
        if r is None:
            return None, True
        return r, c.closed_within(0.5)


# --------------------------------------------------------------------------------------
# Processes

class ProcessOutput:
    """Collect lines of a pipe in a thread."""

    def __init__(self, pipe, name):
        self.lines = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, args=(pipe,), name=name, daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        pipe.close()

    def snapshot(self):
        with self._lock:
            return list(self.lines)

    def join(self, timeout=5):
        self._thread.join(timeout)


def run_cmd(args, timeout=20, env=None, input_bytes=None):
    """Run a command to completion with a deadline.  Returns (rc, stdout, stderr) as text."""
    full_env = dict(os.environ)
    if env is not None:
        full_env.update(env)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
                         env=full_env, start_new_session=True)
    try:
        out, err = p.communicate(input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError("%r did not exit within %ss; stdout=%r stderr=%r" % (
            args, timeout, out[-2000:], err[-2000:]))
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def check_config(path, timeout=20):
    """`hawser check-config PATH` -> (rc, stderr)."""
    rc, _out, err = run_cmd([hawser_bin(), "check-config", path], timeout=timeout)
    return rc, err


def check_config_full(path, timeout=20):
    return run_cmd([hawser_bin(), "check-config", path], timeout=timeout)


class Hawser:
    """One `hawser proxy` process."""

    def __init__(self, config=None, name="hawser", config_text=None, env=None,
                 use_env_yaml=False, extra_args=(), preexec_fn=None, command="proxy", no_config=False,
                 prefix_cmd=(), netns=None):
        self.name = name
        # Runs hawser as prefix_cmd + [hawser, ...], e.g. `ip netns exec NS setpriv --reuid=1337 --`;
        # with `netns`, admin requests are made from inside that network namespace (tests/support/netns.py).
        self.prefix_cmd = list(prefix_cmd)
        self.netns = netns
        self.command = command  # proxy, or forwarder (tests/support/capture_support.py)
        self.no_config = no_config  # configured by the environment alone (e.g. Speedscale-style variables)
        self.preexec_fn = preexec_fn  # runs in the child before exec (e.g. setrlimit)
        self.tmpdir = tempfile.mkdtemp(prefix="hawser-%s-" % name)
        self.config_path = os.path.join(self.tmpdir, "hawser.yaml")
        self.admin_path = os.path.join(self.tmpdir, "admin-address")
        self.env = env or {}
        self.use_env_yaml = use_env_yaml
        self.extra_args = list(extra_args)
        self.proc = None
        self.stdout = None
        self.stderr = None
        self.admin = None
        self._listeners = None
        if config_text is None and config is not None:
            config_text = to_yaml(plaintext_defaults(config)) + "\n"
        self.config_text = config_text
        if config_text is not None:
            self._write(config_text)

    # --- config ---
    def _write(self, text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def write_config(self, config=None, text=None):
        if text is None:
            text = to_yaml(plaintext_defaults(config)) + "\n"
        self.config_text = text
        self._write(text)

    # --- lifecycle ---
    def start(self, wait_ready=True, timeout=20):
        env = dict(os.environ)
        env.update(self.env)
        args = self.prefix_cmd + [hawser_bin(), self.command]
        if self.no_config:
            for k in ("HAWSER_CONFIG", "HAWSER_CONFIG_YAML"):
                env.pop(k, None)
        elif self.use_env_yaml:
            env["HAWSER_CONFIG_YAML"] = self.config_text
        else:
            args += ["--config", self.config_path]
        args += ["--admin-address-path", self.admin_path] + self.extra_args
        try:
            os.unlink(self.admin_path)  # a restart must not read the last run's address
        except FileNotFoundError:
            pass
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                     preexec_fn=self.preexec_fn)
        self.stdout = ProcessOutput(self.proc.stdout, "%s-stdout" % self.name)
        self.stderr = ProcessOutput(self.proc.stderr, "%s-stderr" % self.name)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def _diag(self):
        out = self.stdout.snapshot()[-30:] if self.stdout else []
        err = self.stderr.snapshot()[-30:] if self.stderr else []
        return "\n[%s] rc=%r\n--- stdout (tail) ---\n%s\n--- stderr (tail) ---\n%s" % (
            self.name, self.proc.poll() if self.proc else None, "\n".join(out), "\n".join(err))

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout

        def admin_known():
            if self.proc.poll() is not None:
                raise Abort("hawser exited early" + self._diag())
            try:
                with open(self.admin_path) as f:
                    s = f.read().strip()
            except FileNotFoundError:
                return None
            if re.fullmatch(r"127\.0\.0\.1:\d+", s):
                return s
            return None

        try:
            s = wait_until(admin_known, timeout=max(0.1, deadline - time.monotonic()),
                           message="%s admin address file" % self.name)
        except Abort as e:
            raise AssertionError(str(e)) from None
        except AssertionError as e:
            raise AssertionError(str(e) + self._diag())
        self.admin = parse_addr(s)

        def ready():
            if self.proc.poll() is not None:
                raise Abort("hawser exited early" + self._diag())
            st, _, _ = self.admin_get("/ready", timeout=2)
            return st == 200

        try:
            wait_until(ready, timeout=max(0.1, deadline - time.monotonic()),
                       message="%s /ready 200" % self.name)
        except Abort as e:
            raise AssertionError(str(e)) from None
        except AssertionError as e:
            raise AssertionError(str(e) + self._diag())
        self._listeners = None
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def sigterm(self):
        self.signal(signal.SIGTERM)

    def sighup(self):
        self.signal(signal.SIGHUP)

    def wait_exit(self, timeout=15):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %ss%s" % (self.name, timeout, self._diag()))
        # The process is gone, so its pipes end: read their last lines before anyone looks
        # at them (on a loaded machine the reader threads can lag the exit).
        for out in (self.stdout, self.stderr):
            if out:
                out.join(5)
        return rc

    def stop(self):
        """Kill the process (SIGTERM, then SIGKILL) and remove the temp dir.  Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        if self.stdout:
            self.stdout.join(2)
        if self.stderr:
            self.stderr.join(2)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # --- admin ---
    def admin_request(self, method, path, body=None, timeout=5):
        # The admin server refuses a POST without X-Hawser-Admin (docs/admin.md#who-may-call-it).
        headers = {ADMIN_POST_HEADER: "1"} if method == "POST" else None
        if self.netns:
            import netns
            return netns.with_netns(self.netns, http_request, self.admin, method, path, headers=headers, body=body,
                                    timeout=timeout)
        return http_request(self.admin, method, path, headers=headers, body=body, timeout=timeout)

    def admin_get(self, path, timeout=5):
        return self.admin_request("GET", path, timeout=timeout)

    def admin_post(self, path, body=b"", timeout=10):
        return self.admin_request("POST", path, body=body, timeout=timeout)

    def admin_json(self, path):
        st, _, body = self.admin_get(path)
        if st != 200:
            raise AssertionError("GET %s -> %d %r" % (path, st, body[:500]))
        return json.loads(body)

    def listeners(self, refresh=False):
        """name -> (host, port)"""
        if self._listeners is None or refresh:
            doc = self.admin_json("/listeners")
            self._listeners = {l["name"]: parse_addr(l["address"]) for l in doc["listeners"]}
            self._listener_kinds = {l["name"]: l.get("kind") for l in doc["listeners"]}
        return self._listeners

    def listener(self, name):
        ls = self.listeners()
        if name not in ls:
            raise AssertionError("no listener %r in %r" % (name, ls))
        return ls[name]

    def listener_of_kind(self, kind):
        self.listeners()
        for n, k in self._listener_kinds.items():
            if k == kind:
                return self._listeners[n]
        raise AssertionError("no listener of kind %r in %r" % (kind, self._listener_kinds))

    def metrics(self):
        st, _, body = self.admin_get("/metrics")
        if st != 200:
            raise AssertionError("/metrics -> %d" % st)
        return parse_metrics(body.decode())

    def metric(self, name, **labels):
        return metric_sum(self.metrics(), name, **labels)

    # --- logs ---
    def log_lines(self):
        out = []
        for line in self.stdout.snapshot():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict):
                out.append(d)
        return out

    def access_logs(self):
        return [d for d in self.log_lines() if d.get("log") == "access"]

    def wait_for_log(self, predicate, timeout=5, message="log line"):
        return wait_until(lambda: next((d for d in self.log_lines() if predicate(d)), None),
                          timeout=timeout, message=message)


def start_hawser(testcase, config, name="hawser", class_level=False, **kw):
    """Start hawser and register its cleanup on the TestCase (instance or class)."""
    h = Hawser(config, name=name, **kw)
    if class_level:
        testcase.addClassCleanup(h.stop)
    else:
        testcase.addCleanup(h.stop)
    h.start()
    return h


def start_fake(testcase, name, class_level=False):
    from fake_upstream import FakeUpstream
    f = FakeUpstream(name)
    f.start()
    (testcase.addClassCleanup if class_level else testcase.addCleanup)(f.stop)
    return f


def start_echo(testcase, class_level=False):
    from echo_server import EchoServer
    e = EchoServer()
    e.start()
    (testcase.addClassCleanup if class_level else testcase.addCleanup)(e.stop)
    return e


class LoadLoop:
    """A background request loop.  Alternates keep-alive and fresh connections.

    Each result: dict(start, end, ok, status, instance, error, fresh); `start` is taken before
    the connect (fresh connections) or before the request is written (keep-alive)."""

    def __init__(self, addr, path="/load", headers=None, method="GET", body=None, pause=0.0,
                 timeout=15.0, fresh_only=False):
        self.fresh_only = fresh_only
        self.addr = addr
        self.path = path
        self.headers = dict(headers or {})
        self.method = method
        self.body = body
        self.pause = pause
        self.timeout = timeout
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-loop", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=30):
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("load loop did not stop within %ss" % timeout)
        return self.snapshot()

    def snapshot(self):
        with self._lock:
            return list(self.results)

    def _record(self, **kw):
        with self._lock:
            self.results.append(kw)

    def _run(self):
        conn = None
        i = 0
        while not self._stop.is_set():
            fresh = self.fresh_only or (i % 2 == 1)
            i += 1
            start = time.monotonic()
            try:
                if conn is None or fresh:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection(self.addr[0], self.addr[1], timeout=self.timeout)
                    conn.connect()
                conn.request(self.method, "%s?i=%d" % (self.path, i), body=self.body, headers=self.headers)
                r = conn.getresponse()
                data = r.read()
                ok = r.status == 200 and (self.body is None or data == self.body)
                self._record(start=start, end=time.monotonic(), ok=ok, status=r.status,
                             instance=r.getheader("x-fake-instance"),
                             reason=r.getheader("x-hawser-reason"), error=None, fresh=fresh)
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001
                self._record(start=start, end=time.monotonic(), ok=False, status=None, instance=None,
                             reason=None, error=repr(e), fresh=fresh)
                if conn is not None:
                    conn.close()
                conn = None
                self._stop.wait(0.02)
            if self.pause:
                self._stop.wait(self.pause)
        if conn is not None:
            conn.close()


# --------------------------------------------------------------------------------------
# mutual TLS: certificates made by `hawser certs`, TLS config blocks, Python TLS peers

class Certs:
    """Temporary certificates under `root`, all made by `hawser certs`.

        c = Certs(tmpdir)                       # creates CA "ca" (root/ca/ca.pem, ca-key.pem)
        cert, key = c.issue("caller", "spiffe://demo/caller")
        c.ca("rogue"); c.issue("mallory", "spiffe://demo/caller", ca="rogue")
        c.revoke("ca", [cert], out="crl.pem")  # -> CRL path (an empty list: an empty CRL)
    """

    def __init__(self, root, ca_name="ca"):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.default_ca = ca_name
        self.ca(ca_name)

    def _run(self, args):
        rc, out, err = run_cmd([hawser_bin(), "certs"] + args, timeout=30)
        if rc != 0:
            raise AssertionError("hawser certs %s -> rc %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), rc, out, err))
        return out

    def ca_dir(self, name=None):
        return os.path.join(self.root, name or self.default_ca)

    def ca_pem(self, name=None):
        return os.path.join(self.ca_dir(name), "ca.pem")

    def ca(self, name, cn=None, days=None):
        args = ["ca", "--out", self.ca_dir(name)]
        if cn:
            args += ["--name", cn]
        if days is not None:
            args += ["--days", str(days)]
        self._run(args)
        return self.ca_pem(name)

    def issue(self, name, spiffe=None, dns=(), ca=None, expired=False, days=None,
              not_before_days=None, out=None, ip=()):
        """Issue NAME.pem (leaf + chain) and NAME-key.pem into `out` (default root/certs).
        Returns (cert_path, key_path)."""
        out = out or os.path.join(self.root, "certs")
        args = ["issue", "--ca", self.ca_dir(ca), "--out", out, "--name", name]
        for s in ([spiffe] if isinstance(spiffe, str) else (spiffe or [])):
            args += ["--spiffe", s]
        for d in dns:
            args += ["--dns", d]
        for a in ip:
            args += ["--ip", a]
        if expired:
            args += ["--expired"]
        if days is not None:
            args += ["--days", str(days)]
        if not_before_days is not None:
            args += ["--not-before-days", str(not_before_days)]
        self._run(args)
        return os.path.join(out, name + ".pem"), os.path.join(out, name + "-key.pem")

    def revoke(self, ca=None, certs=(), out=None):
        """Write a CRL signed by `ca` revoking `certs` (paths). Returns the CRL path."""
        out = out or os.path.join(self.root, "crl.pem")
        args = ["revoke", "--ca", self.ca_dir(ca), "--out", out]
        if certs:
            args += ["--serial-from"] + list(certs)
        self._run(args)
        return out


def make_certs(tmpdir, namespace="demo", services=("caller", "responder"), ca_name="ca"):
    """A CA plus one workload certificate per service (spiffe://NS/SERVICE) under tmpdir.
    Returns (Certs, {service: (cert, key)})."""
    c = Certs(tmpdir, ca_name=ca_name)
    issued = {s: c.issue(s, "spiffe://%s/%s" % (namespace, s)) for s in services}
    return c, issued


def tls_block(cert, key, ca, crl=None, min_version=None, reload=True):
    """The top-level `tls` config block."""
    t = {"cert": cert, "key": key, "ca": ca}
    if crl:
        t["crl"] = crl
    if min_version:
        t["min_version"] = min_version
    t["reload"] = reload
    return t


def install_file(src, dst):
    """Atomically replace dst with a copy of src (what a secrets agent does on rotation)."""
    tmp = "%s.tmp-%d" % (dst, os.getpid())
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def client_ssl_context(ca=None, cert=None, key=None, verify=True, minimum=None, maximum=None):
    """A Python TLS client context: trusts `ca`, presents cert/key if given. hawser peers are
    identified by URI SANs, so hostname checking is off; chain verification stays on."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if verify and ca:
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def tls_connect(addr, ctx, timeout=5.0):
    """Open a TLS connection (handshake done). Raises ssl.SSLError / OSError on failure."""
    raw = socket.create_connection(tuple(addr), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname=None)
    except BaseException:
        raw.close()
        raise
    return s


def tls_request(addr, ctx, method="GET", path="/", headers=None, body=None, timeout=10.0):
    """One HTTP/1.1 request over a fresh TLS connection.  Returns (status, headers_lower, body).
    Raises on a failed handshake or a connection closed without a response."""
    import ssl  # noqa: F401
    conn = http.client.HTTPSConnection(addr[0], addr[1], timeout=timeout, context=ctx)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, response_headers(r), data
    finally:
        conn.close()


def tls_handshake_outcome(addr, ctx, timeout=5.0):
    """Try a handshake and one request; 'ok:<status>' or the error (e.g. 'SSLError(...)').
    With TLS 1.3 a server's rejection of the client certificate arrives after the client's
    handshake completed, so a request is sent to surface it."""
    try:
        st, _h, _b = tls_request(addr, ctx, "GET", "/handshake-probe", headers={"Host": "probe"},
                                 timeout=timeout)
        return "ok:%d" % st
    except Exception as e:  # noqa: BLE001
        return "error:%r" % (e,)


class TlsSink:
    """A TLS server that completes handshakes with `cert`/`key` (optionally requiring a client
    certificate from `ca`) and records every application byte it receives; it answers any
    request with 200 so a proxy that wrongly trusted it would see success.

    Used as the man in the middle: `handshakes` counts completed server-side handshakes,
    `received` holds the bytes of each connection, `errors` handshake failures."""

    def __init__(self, cert, key, ca=None, name="sink"):
        import ssl
        self.name = name
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if ca:
            self.ctx.load_verify_locations(ca)
            self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self.ctx.set_alpn_protocols(["http/1.1"])
        self._lock = threading.Lock()
        self.connections = 0
        self.handshakes = 0
        self.errors = []
        self.received = []
        self._stop = threading.Event()
        self._socks = set()
        self._lsock = None
        self._thread = None
        self.port = None

    @property
    def address(self):
        return "%s:%d" % (LOOPBACK, self.port)

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, 0))
        s.listen(256)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True, name="tls-sink-%s" % self.name)
        self._thread.start()
        return self

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self._lock:
                self.connections += 1
                self._socks.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, raw):
        import ssl
        idx = None
        s = None
        try:
            raw.settimeout(5)
            try:
                s = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with self._lock:
                    self.errors.append(repr(e))
                return
            with self._lock:
                self.handshakes += 1
                self.received.append(b"")
                idx = len(self.received) - 1
            s.settimeout(5)
            buf = b""
            while not self._stop.is_set():
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                except (ssl.SSLError, OSError):
                    break
                if not data:
                    break
                buf += data
                with self._lock:
                    self.received[idx] += data
                if b"\r\n\r\n" in buf:
                    s.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-fake-instance: %s\r\n\r\nsink!"
                              % self.name.encode())
                    buf = b""
        finally:
            with self._lock:
                self._socks.discard(raw)
            try:
                (s if s is not None else raw).close()
            except OSError:
                pass

    def bytes_received(self):
        with self._lock:
            return sum(len(b) for b in self.received)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._lsock:
            try:
                self._lsock.close()
            except OSError:
                pass
        with self._lock:
            socks = list(self._socks)
        for c in socks:
            try:
                c.close()
            except OSError:
                pass


def rss_kib(pid):
    """VmRSS of a process in KiB (from /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class RawTlsConn(RawConn):
    """RawConn over TLS (e.g. a peer presenting a workload certificate to a strict
    inbound): `ctx` from client_ssl_context(); the handshake is done on construction."""

    def __init__(self, addr, ctx, timeout=10.0):
        raw = socket.create_connection(tuple(addr), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=None)
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray()
        self.eof = False
        self.timeout = timeout


def access_lines_since(h, start_index):
    """Access-log records of `h` after the first `start_index` ones (see access_log_count)."""
    return h.access_logs()[start_index:]


def access_log_count(h):
    return len(h.access_logs())
