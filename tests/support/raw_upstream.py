"""A plaintext upstream that records the exact bytes of every connection and answers
from a script chosen per request (issue 11: the framing and smuggling suite).

    up = RawUpstream("app").start()
    ... send through hawser with header `x-raw-script: chunked` ...
    up.requests_for("/path")    # parsed requests (framing lines, body, connection id)
    up.conn(cid).raw            # every byte that connection received
    up.conn(cid).closed_by_peer # hawser closed it (EOF / reset seen by the upstream)

The upstream parses what it receives strictly by the framing it was given, so a
request hidden in a body that hawser framed correctly stays a body; a request that
hawser let through as a separate request is parsed, and recorded, as one.

Framing the upstream uses to read a request body: any Transfer-Encoding line whose last
token is `chunked` -> chunked (trailers kept); else the first Content-Length value;
else no body.  Every request records every framing line it carried
(`framing`: [(name, value)]), so tests can demand exactly one.

Scripts (`x-raw-script` request header, or the instance default `script`):

  h2c              101 to a request carrying `Upgrade: h2c` (then HTTP/1.1 again), else `ok`
  ok               200, Content-Length, body b"path=<target>"   (the default)
  chunked          200, Transfer-Encoding: chunked, same body in two chunks
  big-head         200 like `ok` with an `x-raw-pad` header of `x-raw-count` bytes (default 10000)
  close-delimited  200, no Content-Length / Transfer-Encoding, body, then close
  cl-te            200 with Content-Length: 5 and Transfer-Encoding: chunked
  two-cl           200 with Content-Length: 2 and Content-Length: 15
  te-identity-chunked   200 with `Transfer-Encoding: identity` + `Transfer-Encoding: chunked`
  te-xchunked      200 with Transfer-Encoding: xchunked
  late-body-204    204, then (same write) a whole extra 200 response `not-your-answer`
  extra-after-cl   200 Content-Length: 2 "ok", then an extra response `not-your-answer`
  unsolicited-101  101 Switching Protocols (nobody asked), then `not-your-answer` bytes
  early-hints      103 Early Hints with a Link header, then the 200
  many-1xx         `x-raw-count` x 102 Processing (default 5000), then the 200
  reset-mid-body   200 Content-Length: 100000, 10 bytes of body, then RST
  reset            read the request, then RST with no response byte
  close-silent     read the request, then close (FIN) with no response byte
  close-silent-once  as close-silent the first time a target is seen, later `ok`
  hang             read the request, never answer (until the peer closes)
  slow             wait `x-raw-delay-ms` (default 1000), then `ok`

Every 200 made by a script carries x-raw-path (the target), x-raw-conn (connection id)
and x-raw-req (request index on that connection); an extra response smuggled behind a
real one carries `x-raw-path: not-your-answer` and the body `not-your-answer`.
"""

import socket
import struct
import threading
import time

LOOPBACK = "127.0.0.1"
NOT_YOURS = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\nx-raw-path: not-your-answer\r\n\r\nnot-your-answer"
MAX_HEAD = 1 << 20


class _Closed(Exception):
    pass


class ConnRecord:
    def __init__(self, cid):
        self.cid = cid
        self.raw = bytearray()
        self.requests = []
        self.closed_by_peer = False    # we saw EOF / reset from hawser
        self.closed_by_us = False
        self.done = threading.Event()  # the serving thread has ended


class RawUpstream:
    def __init__(self, name="raw", script="ok"):
        self.name = name
        self.script = script
        self.lock = threading.Lock()
        self.conns = []
        self.targets_seen = {}
        self._stop = threading.Event()
        self._socks = set()
        self._lsock = None
        self._thread = None
        self.port = None

    # ---- lifecycle ----
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
        self._thread = threading.Thread(target=self._accept, daemon=True, name="raw-up-%s" % self.name)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        try:
            self._lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
        for c in socks:
            try:
                c.close()
            except OSError:
                pass

    # ---- queries ----
    def all_requests(self):
        with self.lock:
            return [r for c in self.conns for r in c.requests]

    def requests_for(self, target_part):
        """Parsed requests whose target contains `target_part`."""
        return [r for r in self.all_requests() if target_part in r["target"]]

    def conn(self, cid):
        with self.lock:
            return self.conns[cid]

    def conn_count(self):
        with self.lock:
            return len(self.conns)

    def raw_contains(self, needle):
        with self.lock:
            return any(needle in bytes(c.raw) for c in self.conns)

    def wait_closed_by_peer(self, cid, timeout=3.0):
        """True once hawser has closed connection `cid` (EOF or reset seen here)."""
        deadline = time.monotonic() + timeout
        c = self.conn(cid)
        while time.monotonic() < deadline:
            if c.closed_by_peer or c.done.is_set():
                return c.closed_by_peer
            time.sleep(0.02)
        return c.closed_by_peer

    # ---- serving ----
    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                rec = ConnRecord(len(self.conns))
                self.conns.append(rec)
                self._socks.add(c)
            threading.Thread(target=self._serve, args=(c, rec), daemon=True).start()

    def _fill(self, sock, rec, buf):
        while True:
            if self._stop.is_set():
                raise _Closed()
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                rec.closed_by_peer = True
                raise _Closed()
            with self.lock:
                rec.raw += data
            buf += data
            return

    def _line(self, sock, rec, buf, limit=MAX_HEAD):
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                line = bytes(buf[:i])
                del buf[:i + 2]
                return line
            if len(buf) > limit:
                raise _Closed()
            self._fill(sock, rec, buf)

    def _exact(self, sock, rec, buf, n):
        while len(buf) < n:
            self._fill(sock, rec, buf)
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _read_request(self, sock, rec, buf):
        line = self._line(sock, rec, buf)
        while line == b"":            # tolerate CRLF between requests (RFC 9112 §2.2)
            line = self._line(sock, rec, buf)
        parts = line.decode("latin-1").split(" ")
        method, target, version = (parts + ["", "", ""])[:3]
        headers = []
        while True:
            hl = self._line(sock, rec, buf)
            if hl == b"":
                break
            k, _, v = hl.decode("latin-1").partition(":")
            headers.append((k, v.strip(" \t")))
        framing = [(k, v) for k, v in headers if k.strip().lower() in ("content-length", "transfer-encoding")]
        te = [v for k, v in headers if k.strip().lower() == "transfer-encoding"]
        cl = [v for k, v in headers if k.strip().lower() == "content-length"]
        body = b""
        trailers = []
        chunked = bool(te) and te[-1].split(",")[-1].strip().lower() == "chunked"
        if chunked:
            out = bytearray()
            while True:
                size_line = self._line(sock, rec, buf)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self._line(sock, rec, buf)
                        if t == b"":
                            break
                        trailers.append(t)
                    break
                out += self._exact(sock, rec, buf, size)
                self._exact(sock, rec, buf, 2)
            body = bytes(out)
        elif cl:
            body = self._exact(sock, rec, buf, int(cl[0].split(",")[0].strip()))
        return {"method": method, "target": target, "version": version, "headers": headers,
                "framing": framing, "chunked": chunked, "body": body, "trailers": trailers,
                "conn": rec.cid, "index": len(rec.requests), "line": line}

    def _serve(self, sock, rec):
        sock.settimeout(0.2)
        buf = bytearray()
        try:
            while not self._stop.is_set():
                try:
                    req = self._read_request(sock, rec, buf)
                except (ValueError, IndexError):
                    break
                with self.lock:
                    rec.requests.append(req)
                    n_seen = self.targets_seen.get(req["target"], 0)
                    self.targets_seen[req["target"]] = n_seen + 1
                hdr = {k.strip().lower(): v for k, v in req["headers"]}
                script = hdr.get("x-raw-script", self.script)
                if not self._answer(sock, rec, req, hdr, script, n_seen, buf):
                    break
        except (_Closed, OSError):
            pass
        finally:
            with self.lock:
                self._socks.discard(sock)
            try:
                sock.close()
            except OSError:
                pass
            rec.done.set()

    def _ok(self, req, rec, extra=b""):
        body = ("path=%s" % req["target"]).encode("latin-1")
        return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nx-raw-path: %s\r\nx-raw-conn: %d\r\nx-raw-req: %d\r\n"
                b"%s\r\n%s" % (len(body), req["target"].encode("latin-1"), rec.cid, req["index"], extra, body))

    def _marks(self, req, rec):
        return b"x-raw-path: %s\r\nx-raw-conn: %d\r\nx-raw-req: %d\r\n" % (
            req["target"].encode("latin-1"), rec.cid, req["index"])

    def _rst(self, sock, rec):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        rec.closed_by_us = True

    def _answer(self, sock, rec, req, hdr, script, n_seen, buf):
        """Write the scripted answer. Returns False to end the connection."""
        body = ("path=%s" % req["target"]).encode("latin-1")
        m = self._marks(req, rec)
        send = sock.sendall
        if script == "ok" or (script == "close-silent-once" and n_seen > 0):
            send(self._ok(req, rec))
            return True
        if script == "h2c":
            if "h2c" in hdr.get("upgrade", "").lower():
                # A real h2c server switches; this one then reads HTTP/1.1 requests again, so
                # whatever a tunnel lets through is parsed and recorded as requests.
                send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n" + m + b"\r\n")
                return True
            send(self._ok(req, rec))
            return True
        if script == "big-head":
            pad = b"p" * int(hdr.get("x-raw-count", "10000"))
            send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nx-raw-pad: %s\r\n" % (len(body), pad) + m +
                 b"\r\n" + body)
            return True
        if script == "chunked":
            half = len(body) // 2
            send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + m + b"\r\n" +
                 b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:]))
            return True
        if script == "close-delimited":
            send(b"HTTP/1.1 200 OK\r\n" + m + b"\r\n" + body)
            rec.closed_by_us = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        if script == "cl-te":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n" + m + b"\r\n" +
                 b"5\r\nhello\r\n0\r\n\r\n" + NOT_YOURS)
            return True
        if script == "two-cl":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 15\r\n" + m + b"\r\nok" + NOT_YOURS[-13:])
            return True
        if script == "te-identity-chunked":
            send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n" + m + b"\r\n" +
                 b"2\r\nok\r\n0\r\n\r\n" + NOT_YOURS)
            return True
        if script == "te-xchunked":
            send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n" + m + b"\r\n" +
                 b"2\r\nok\r\n0\r\n\r\n" + NOT_YOURS)
            return True
        if script == "late-body-204":
            send(b"HTTP/1.1 204 No Content\r\n" + m + b"\r\n" + NOT_YOURS)
            return True
        if script == "extra-after-cl":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + m + b"\r\nok" + NOT_YOURS)
            return True
        if script == "unsolicited-101":
            send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n" + m + b"\r\n" +
                 NOT_YOURS)
            return True
        if script == "early-hints":
            send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n")
            send(self._ok(req, rec))
            return True
        if script == "many-1xx":
            n = int(hdr.get("x-raw-count", "5000"))
            block = b"HTTP/1.1 102 Processing\r\n\r\n" * 100
            try:
                for _ in range(n // 100):
                    send(block)
                send(b"HTTP/1.1 102 Processing\r\n\r\n" * (n % 100))
                send(self._ok(req, rec))
            except OSError:
                rec.closed_by_peer = True
                return False
            return True
        if script == "reset-mid-body":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n" + m + b"\r\n0123456789")
            time.sleep(0.05)   # let the head and the first bytes leave before the RST
            self._rst(sock, rec)
            return False
        if script == "reset":
            self._rst(sock, rec)
            return False
        if script in ("close-silent", "close-silent-once"):
            rec.closed_by_us = True
            return False
        if script == "hang":
            try:
                while not self._stop.is_set():
                    self._fill(sock, rec, buf)
            except _Closed:
                pass
            return False
        if script == "slow":
            deadline = time.monotonic() + int(hdr.get("x-raw-delay-ms", "1000")) / 1000.0
            while time.monotonic() < deadline and not self._stop.is_set():
                time.sleep(0.01)
            try:
                send(self._ok(req, rec))
            except OSError:
                rec.closed_by_peer = True
                return False
            return True
        send(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 14\r\n\r\nunknown script")
        return True
