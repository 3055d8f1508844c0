#!/usr/bin/env python3
"""A real HTTP/1.1 upstream for integration tests (library and CLI).

Threaded, keep-alive, HTTP/1.1.  Behaviour is steered by request headers:

  x-fake-status: N            response status (default 200)
  x-fake-delay-ms: N          wait N ms (after reading the request) before responding
  x-fake-body-bytes: N        respond with N bytes of pattern(N) instead of the echo
  x-fake-chunked: 1           respond with Transfer-Encoding: chunked
  x-fake-reset: 1             read the request, then close with RST, no response
  x-fake-hang: 1              read the request, never respond (until the peer closes)
  x-fake-close: 1             respond, then close the connection (Connection: close)
  x-fake-wait-release: 1      send headers and the first half of the body, then wait
                              until FakeUpstream.release() is called
  x-fake-response-headers: {json object}   extra response headers to send (a list value
                              sends the header once per element)

By default the response body is the request body (echo).  Every response carries
x-fake-instance, x-fake-method, x-fake-path, x-fake-seen-headers (JSON of the
lower-cased request headers, values truncated), x-fake-request-bytes,
x-fake-request-sha256 and x-fake-request-chunked.

HEAD, 1xx, 204 and 304 responses carry no body.  `GET /__stats` returns
{"connections": N, "requests": N} (requests excludes /__stats itself).
`Upgrade:` requests (e.g. WebSocket) get 101 and then raw bytes are echoed.
`Expect: 100-continue` requests get an interim 100 Continue before the body is read.

Per instance: FakeUpstream(name, defaults={"x-fake-status": "503"}) applies those
steering headers to every request that does not carry them (CLI: --default NAME=VALUE,
repeatable), e.g. an instance that always answers 503, is always slow, or always hangs.

CLI: python3 fake_upstream.py --port N --name NAME [--default x-fake-status=503]
"""

import argparse
import base64
import collections
import hashlib
import json
import signal
import socket
import struct
import sys
import threading
import time

PATTERN_PERIOD = 251
_PATTERN_BLOCK = bytes(i % PATTERN_PERIOD for i in range(PATTERN_PERIOD * 1024))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
    202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    408: "Request Timeout", 409: "Conflict", 413: "Content Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def pattern(n, offset=0):
    """Deterministic bytes: byte i is (offset + i) % 251."""
    out = bytearray()
    start = offset % PATTERN_PERIOD
    while len(out) < n:
        take = min(n - len(out), len(_PATTERN_BLOCK) - start)
        out += _PATTERN_BLOCK[start:start + take]
        start = 0
    return bytes(out)


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


class _BadRequest(Exception):
    pass


class _Conn:
    """Buffered reader over a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise _BadRequest("line too long")
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read_some(self, n):
        if not self.buf:
            if not self._fill():
                return b""
        take = bytes(self.buf[:n])
        del self.buf[:n]
        return take

    def read_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.read_some(n - len(out))
            if not chunk:
                raise _BadRequest("unexpected EOF in body")
            out += chunk
        return bytes(out)


class FakeUpstream:
    def __init__(self, name="fake", host="127.0.0.1", port=0, idle_timeout=None, defaults=None):
        self.name = name
        # Per-instance steering: x-fake-* headers applied to every request that does not
        # carry them itself, e.g. {"x-fake-status": "503"} for "this instance always fails".
        self.defaults = {k.lower(): str(v) for k, v in (defaults or {}).items()}
        self.idle_timeout = idle_timeout   # server-side keep-alive timeout (seconds), None = forever
        self.idle_closes = 0               # connections closed by that timeout
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self.connections = 0
        self.requests = 0
        self.log = collections.deque(maxlen=2000)   # one dict per request
        self.progress = {}                          # path -> request body bytes read so far
        self._release = threading.Event()
        self._stop = threading.Event()
        self._socks = set()
        self._lsock = None
        self._thread = None

    # ----- lifecycle -----
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1024)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="fake-upstream-%s" % self.name,
                                        daemon=True)
        self._thread.start()
        return self.port

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def stop(self):
        self._stop.set()
        self._release.set()
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
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def release(self):
        """Let responses held by x-fake-wait-release continue."""
        self._release.set()

    def arm_release(self):
        """Make the next x-fake-wait-release responses wait again."""
        self._release.clear()

    def stats(self):
        with self._lock:
            return {"connections": self.connections, "requests": self.requests}

    def body_progress(self, target):
        """Request body bytes read so far for the request with this target."""
        with self._lock:
            return self.progress.get(target, 0)

    def requests_for(self, path_prefix):
        with self._lock:
            return [r for r in self.log if r["path"].startswith(path_prefix)]

    # ----- internals -----
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            c.settimeout(None)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                self._socks.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()
        try:
            self._lsock.close()
        except OSError:
            pass

    def _serve(self, sock):
        conn = _Conn(sock)
        try:
            while not self._stop.is_set():
                if not self._one_request(conn):
                    break
        except (OSError, _BadRequest, ValueError):
            pass
        finally:
            with self._lock:
                self._socks.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _send(self, sock, data):
        sock.sendall(data)

    def _one_request(self, conn):
        sock = conn.sock
        if self.idle_timeout is not None and not conn.buf:
            sock.settimeout(self.idle_timeout)
            try:
                if not conn._fill():
                    return False
            except socket.timeout:
                with self._lock:
                    self.idle_closes += 1
                return False
            finally:
                sock.settimeout(None)
        line = conn.readline()
        while line in (b"\r\n", b"\n"):
            line = conn.readline()
        if not line:
            return False
        parts = line.decode("latin-1").strip().split(" ")
        if len(parts) != 3:
            self._send(sock, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        method, target, version = parts
        headers = []
        while True:
            hl = conn.readline()
            if hl in (b"\r\n", b"\n", b""):
                break
            name, _, value = hl.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        h = {}
        for k, v in headers:
            lk = k.lower()
            h[lk] = (h[lk] + ", " + v) if lk in h else v
        for k, v in self.defaults.items():
            h.setdefault(k, v)
        conn_tokens = [t.strip().lower() for t in h.get("connection", "").split(",") if t.strip()]

        # Upgrade (WebSocket style): 101, then echo raw bytes.
        if "upgrade" in h and "upgrade" in conn_tokens:
            return self._upgrade(conn, method, target, h)

        if h.get("expect", "").lower() == "100-continue":
            self._send(sock, b"HTTP/1.1 100 Continue\r\n\r\n")

        # Request body, read streaming.
        body = bytearray()
        chunked = "chunked" in h.get("transfer-encoding", "").lower()
        with self._lock:
            self.progress[target] = 0
        if chunked:
            while True:
                size_line = conn.readline()
                if not size_line:
                    raise _BadRequest("EOF in chunked body")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while conn.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += conn.read_exact(size)
                conn.read_exact(2)
                with self._lock:
                    self.progress[target] = len(body)
        elif "content-length" in h:
            n = int(h["content-length"].split(",")[0])
            while len(body) < n:
                chunk = conn.read_some(min(65536, n - len(body)))
                if not chunk:
                    raise _BadRequest("EOF in body")
                body += chunk
                with self._lock:
                    self.progress[target] = len(body)
        body = bytes(body)

        path = target
        if target.startswith("http://") or target.startswith("https://"):
            rest = target.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"

        record = {"method": method, "target": target, "path": path, "version": version,
                  "headers": headers, "h": h, "body_len": len(body), "chunked": chunked,
                  "time": time.time()}
        is_stats = path == "/__stats"
        with self._lock:
            if not is_stats:
                self.requests += 1
            self.log.append(record)

        if h.get("x-fake-reset") == "1":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return False
        if h.get("x-fake-hang") == "1":
            sock.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    if not sock.recv(65536):
                        break
                except socket.timeout:
                    continue
            return False
        delay = int(h.get("x-fake-delay-ms", "0") or 0)
        if delay > 0:
            self._stop.wait(delay / 1000.0)

        status = int(h.get("x-fake-status", "200") or 200)
        if is_stats:
            resp_body = json.dumps(self.stats()).encode()
        elif "x-fake-body-bytes" in h:
            resp_body = pattern(int(h["x-fake-body-bytes"]))
        else:
            resp_body = body

        keep_alive = (version == "HTTP/1.1" and "close" not in conn_tokens) or \
                     (version == "HTTP/1.0" and "keep-alive" in conn_tokens)
        if h.get("x-fake-close") == "1":
            keep_alive = False

        seen = {k: (v if len(v) <= 256 else v[:256] + "...") for k, v in h.items()}
        out = [("x-fake-instance", self.name), ("x-fake-method", method),
               ("x-fake-path", path), ("x-fake-seen-headers", json.dumps(seen, sort_keys=True)),
               ("x-fake-request-bytes", str(len(body))),
               ("x-fake-request-sha256", hashlib.sha256(body).hexdigest()),
               ("x-fake-request-chunked", "1" if chunked else "0")]
        if is_stats:
            out.append(("Content-Type", "application/json"))
        if "x-fake-response-headers" in h:
            for k, v in json.loads(h["x-fake-response-headers"]).items():
                for one in (v if isinstance(v, list) else [v]):   # a list = repeated header lines
                    out.append((k, str(one)))
        no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        resp_chunked = h.get("x-fake-chunked") == "1" and status not in (204, 304) and status >= 200
        if resp_chunked:
            out.append(("Transfer-Encoding", "chunked"))
        elif status not in (204, 304) and status >= 200:
            out.append(("Content-Length", str(len(resp_body))))
        if not keep_alive:
            out.append(("Connection", "close"))
        head = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
        head += "".join("%s: %s\r\n" % kv for kv in out) + "\r\n"
        payload = b"" if no_body else resp_body
        wait_release = h.get("x-fake-wait-release") == "1"

        if resp_chunked and not no_body:
            pieces = [payload[i:i + 16384] for i in range(0, len(payload), 16384)]
            half = len(pieces) // 2 if wait_release else len(pieces)
            self._send(sock, head.encode("latin-1"))
            for i, p in enumerate(pieces):
                if i == half and wait_release:
                    self._release.wait(60)
                self._send(sock, b"%x\r\n" % len(p) + p + b"\r\n")
            if wait_release and half == len(pieces):
                self._release.wait(60)
            self._send(sock, b"0\r\n\r\n")
        elif wait_release and payload:
            half = len(payload) // 2
            self._send(sock, head.encode("latin-1") + payload[:half])
            self._release.wait(60)
            self._send(sock, payload[half:])
        else:
            self._send(sock, head.encode("latin-1") + payload)
        return keep_alive

    def _upgrade(self, conn, method, target, h):
        sock = conn.sock
        with self._lock:
            self.requests += 1
            self.log.append({"method": method, "target": target, "path": target, "version": "HTTP/1.1",
                             "headers": list(h.items()), "h": h, "body_len": 0, "chunked": False,
                             "time": time.time()})
        out = ["HTTP/1.1 101 Switching Protocols",
               "Upgrade: %s" % h["upgrade"],
               "Connection: Upgrade",
               "x-fake-instance: %s" % self.name]
        if "sec-websocket-key" in h:
            out.append("Sec-WebSocket-Accept: %s" % ws_accept(h["sec-websocket-key"]))
        self._send(sock, ("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        if conn.buf:
            self._send(sock, bytes(conn.buf))
            conn.buf.clear()
        while not self._stop.is_set():
            data = sock.recv(65536)
            if not data:
                break
            self._send(sock, data)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--name", default="fake")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--default", action="append", default=[], metavar="HEADER=VALUE",
                    help="a steering header applied to every request without it (repeatable)")
    args = ap.parse_args(argv)
    defaults = dict(d.split("=", 1) for d in args.default)
    srv = FakeUpstream(args.name, args.host, args.port, defaults=defaults)
    port = srv.start()
    print(json.dumps({"msg": "fake upstream listening", "name": args.name,
                      "address": "%s:%d" % (args.host, port)}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
