#!/usr/bin/env python3
"""Two tiny sample HTTP services for the demo (and for tests that want a realistic pair).

Python standard library only: ThreadingHTTPServer, HTTP/1.1 with keep-alive.

responder  -- stores nothing.
    GET /data      {"service": NAME, "counter": N, "time": ..., "client_cert": XFCC}
                   (N counts /data requests; XFCC is the x-forwarded-client-cert header the
                   request arrived with -- the caller's identity as its sidecar's mTLS peer,
                   e.g. "By=spiffe://demo/responder;URI=spiffe://demo/caller" -- or null)
    GET /seen      {"requests": N, "x-forwarded-client-cert": {VALUE: COUNT, ...}}
                   what the app has seen of that header over every /data request
                   ("(none)" counts requests without it)
    GET /health    {"status": "ok"}

caller     -- stores data in memory and calls the responder through ITS OWN sidecar.
    POST /items    store a JSON object; 201 {"id": N, "item": {...}}
    GET  /items    {"items": [...], "count": N}
    GET  /items/N  one item (404 if unknown)
    GET  /         fetch the responder's data through the sidecar's outbound and
                   return {"service": NAME, "items": N, "upstream": {...}, "upstream_status": S}
                   (502 with {"error": ...} when the upstream fetch fails)
    GET  /health   {"status": "ok"}

How the caller reaches the responder (the sidecar's outbound side):

  --proxy HOST:PORT   the sidecar's http_proxy listener; the caller sends an absolute-form
                      request (`GET http://responder/data HTTP/1.1`), as any HTTP_PROXY
                      client does.  Default: $HTTP_PROXY / $http_proxy.
  no proxy            --upstream points at the sidecar's alias listener directly, e.g.
                      --upstream http://127.0.0.1:15001/data

  --upstream URL      default http://responder/data ($UPSTREAM_URL)

Outbound connections are kept alive (one per server thread), and x-request-id is
passed on so one id follows the request through both sidecars.

CLI:
    python3 sample_services.py responder --port N [--name responder]
    python3 sample_services.py caller --port N --upstream http://responder/data --proxy 127.0.0.1:PORT

--port 0 picks a free port.  Once listening, one JSON line is printed on stdout:
    {"event": "listening", "service": "caller", "address": "127.0.0.1:PORT"}
SIGTERM/SIGINT stop the server and exit 0.
"""

import argparse
import http.client
import itertools
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sample"
    sys_version = ""
    # Headers and body go out in separate writes; without TCP_NODELAY the body waits
    # for the peer's delayed ACK (~40ms per response).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: the sidecars log every request
        pass

    # --- helpers ---
    def _read_body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _send_json(self, status, doc, extra_headers=None):
        body = (json.dumps(doc, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        rid = self.headers.get("x-request-id")
        if rid:
            self.send_header("x-request-id", rid)
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _path(self):
        return urllib.parse.urlsplit(self.path).path

    def do_HEAD(self):
        self.do_GET()


class ResponderHandler(_Handler):
    def do_GET(self):
        path = self._path()
        if path == "/health":
            self._send_json(200, {"status": "ok"})
        elif path == "/data":
            xfcc = self.headers.get("x-forwarded-client-cert")
            n = self.server.record_data(xfcc)
            self._send_json(200, {"service": self.server.name, "counter": n, "time": time.time(),
                                  "client_cert": xfcc})
        elif path == "/seen":
            self._send_json(200, self.server.seen())
        else:
            self._send_json(404, {"error": "not found", "path": path})

    def do_POST(self):
        self._read_body()
        self._send_json(405, {"error": "method not allowed"})


class CallerHandler(_Handler):
    def do_GET(self):
        path = self._path()
        if path == "/health":
            self._send_json(200, {"status": "ok"})
        elif path == "/items":
            items = self.server.all_items()
            self._send_json(200, {"items": items, "count": len(items)})
        elif path.startswith("/items/"):
            item = self.server.get_item(path[len("/items/"):])
            if item is None:
                self._send_json(404, {"error": "no such item"})
            else:
                self._send_json(200, item)
        elif path == "/":
            status, doc = self.server.fetch_upstream(self.headers.get("x-request-id"), self.headers.get("traceparent"))
            out = {"service": self.server.name, "items": self.server.item_count(),
                   "upstream_status": status, "upstream": doc}
            if status == 200:
                self._send_json(200, out)
            else:
                out["error"] = "upstream fetch failed"
                self._send_json(502, out)
        else:
            self._send_json(404, {"error": "not found", "path": path})

    def do_POST(self):
        body = self._read_body()
        if self._path() != "/items":
            self._send_json(404, {"error": "not found"})
            return
        try:
            item = json.loads(body or b"null")
        except ValueError:
            self._send_json(400, {"error": "body is not JSON"})
            return
        if not isinstance(item, dict):
            self._send_json(400, {"error": "expected a JSON object"})
            return
        stored = self.server.add_item(item)
        self._send_json(201, stored, {"location": "/items/%d" % stored["id"]})


class SampleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, name):
        super().__init__(addr, handler)
        self.name = name
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def next_count(self):
        with self._lock:
            return next(self._counter)


class ResponderServer(SampleServer):
    def __init__(self, addr, name="responder"):
        super().__init__(addr, ResponderHandler, name)
        self._xfcc = {}
        self._requests = 0

    def record_data(self, xfcc):
        """Counts one /data request and the x-forwarded-client-cert it carried; returns N."""
        with self._lock:
            key = xfcc if xfcc is not None else "(none)"
            self._xfcc[key] = self._xfcc.get(key, 0) + 1
            self._requests += 1
            return next(self._counter)

    def seen(self):
        with self._lock:
            return {"requests": self._requests, "x-forwarded-client-cert": dict(self._xfcc)}


class CallerServer(SampleServer):
    def __init__(self, addr, upstream, proxy=None, name="caller", timeout=10.0):
        super().__init__(addr, CallerHandler, name)
        self.upstream = upstream
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("--upstream must be an http:// URL, got %r" % upstream)
        self._up_host = u.hostname
        self._up_port = u.port or 80
        self._up_path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.proxy = proxy  # (host, port) or None
        self.timeout = timeout
        self._items = {}
        self._ids = itertools.count(1)
        self._local = threading.local()

    # --- storage ---
    def add_item(self, item):
        with self._lock:
            i = next(self._ids)
            stored = {"id": i, "item": item}
            self._items[i] = stored
            return stored

    def get_item(self, key):
        try:
            i = int(key)
        except ValueError:
            return None
        with self._lock:
            return self._items.get(i)

    def all_items(self):
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]

    def item_count(self):
        with self._lock:
            return len(self._items)

    # --- the outbound call, through the sidecar ---
    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            host, port = self.proxy if self.proxy else (self._up_host, self._up_port)
            c = http.client.HTTPConnection(host, port, timeout=self.timeout)
            self._local.conn = c
        return c

    def _drop_conn(self):
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
        self._local.conn = None

    def fetch_upstream(self, request_id=None, traceparent=None):
        """GET the upstream once (one retry on a stale keep-alive connection).
        Passes on the request id and the trace context, as an instrumented app
        would. Returns (status, json_or_error_doc)."""
        target = self.upstream if self.proxy else self._up_path
        headers = {"accept": "application/json"}
        if request_id:
            headers["x-request-id"] = request_id
        if traceparent:
            headers["traceparent"] = traceparent
        last = None
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request("GET", target, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if r.will_close:
                    self._drop_conn()
                try:
                    doc = json.loads(data)
                except ValueError:
                    doc = {"raw": data[:200].decode("utf-8", "replace"),
                           "x-hawser-reason": r.getheader("x-hawser-reason")}
                return r.status, doc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                # A pooled connection closed by the proxy between requests: reconnect once.
                self._drop_conn()
                last = e
                continue
            except (OSError, http.client.HTTPException) as e:
                self._drop_conn()
                return 0, {"error": repr(e)}
        return 0, {"error": repr(last)}


def _parse_hostport(s):
    if "://" in s:
        u = urllib.parse.urlsplit(s)
        return (u.hostname, u.port or 80)
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1", int(port))


def main(argv=None):
    p = argparse.ArgumentParser(description="sample services for the hawser demo")
    sub = p.add_subparsers(dest="role", required=True)
    r = sub.add_parser("responder", help="GET /data returns its name and a counter")
    r.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--name", default="responder")
    c = sub.add_parser("caller", help="stores items; GET / fetches the responder through the sidecar")
    c.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--name", default="caller")
    c.add_argument("--upstream", default=os.environ.get("UPSTREAM_URL", "http://responder/data"))
    c.add_argument("--proxy", default=os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy"),
                   help="the sidecar's http_proxy listener, HOST:PORT (default $HTTP_PROXY)")
    c.add_argument("--no-proxy", action="store_true", help="ignore $HTTP_PROXY; --upstream is an alias")
    args = p.parse_args(argv)

    addr = (args.host, args.port)
    if args.role == "responder":
        server = ResponderServer(addr, args.name)
    else:
        proxy = None if (args.no_proxy or not args.proxy) else _parse_hostport(args.proxy)
        server = CallerServer(addr, args.upstream, proxy, args.name)

    def stop(_sig, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print(json.dumps({"event": "listening", "service": args.name, "role": args.role,
                      "address": "%s:%d" % (host, port)}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print(json.dumps({"event": "stopped", "service": args.name}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
