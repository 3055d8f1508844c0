"""The capture pipeline's test side: a `hawser forwarder` process, and a reader of what it
stored that shares no code with hawser: the archive's gzip'ed NDJSON objects, and the spool's
segments (u32 LE length, u32 LE CRC32C, payload) checked with Debian's python3-crc32c."""

import gzip
import json
import os
import re
import struct
import sys

import hawser_harness as hh

if "/usr/lib/python3/dist-packages" not in sys.path:  # python3-crc32c from Debian under pyenv
    sys.path.append("/usr/lib/python3/dist-packages")
import crc32c  # noqa: E402


class Forwarder(hh.Hawser):
    """One `hawser forwarder` process; `config` is the forwarder's own YAML document (a dict)."""

    def __init__(self, config, name="forwarder", env=None):
        super().__init__(name=name, config_text=hh.to_yaml(config) + "\n", env=env, command="forwarder")
        self.config = config


def forwarder_config(spool, archive, listen="127.0.0.1:0", tls=None, allow=None, **extra):
    c = {"listen": listen, "admin": {"address": "127.0.0.1:0"},
         "storage": {"spool": spool, "directory": archive, "segment": {"max_age": "300ms"}}}
    if tls:
        c["tls"] = tls
    if allow:
        c["authorization"] = {"allow": list(allow)}
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(c.get(k), dict):
            c[k].update(v)
        else:
            c[k] = v
    return c


def read_segment(path):
    """The records of a spool segment up to the first torn or corrupt entry."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while len(data) - pos >= 8:
        length, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) < length or crc32c.crc32c(payload) != crc:
            break
        out.append(payload)
        pos += 8 + length
    return out


def stored_bytes(*dirs):
    """Every stored byte (archive objects inflated, spool segment payloads), concatenated."""
    chunks = []
    for root in dirs:
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                p = os.path.join(dirpath, f)
                if f.endswith(".ndjson.gz"):
                    with gzip.open(p, "rb") as g:
                        chunks.append(g.read())
                elif f.endswith(".closed") or f.endswith(".open"):
                    chunks.extend(read_segment(p))
    return b"\n".join(chunks)


def stored_records(*dirs):
    """Every record stored under `dirs` (duplicates kept), as dicts."""
    out = []
    for line in stored_bytes(*dirs).split(b"\n"):
        if line.strip():
            out.append(json.loads(line))
    return out


def archive_objects(archive):
    """Relative paths of the archive's objects."""
    found = []
    for dirpath, _, files in os.walk(archive):
        for f in files:
            if f.endswith(".ndjson.gz"):
                found.append(os.path.relpath(os.path.join(dirpath, f), archive))
    return sorted(found)


def capture_block(forwarder_addr, **extra):
    c = {"enabled": True, "forwarder": forwarder_addr, "batch": {"max_records": 200, "delay": "100ms"}}
    c.update(extra)
    return c


NODE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "node"))
S3RVER = os.path.join(NODE_DIR, "node_modules", "s3rver", "bin", "s3rver.js")
S3_CLIENT = os.path.join(NODE_DIR, "s3_client.mjs")
S3_SDK = os.path.join(NODE_DIR, "node_modules", "@aws-sdk", "client-s3")
S3RVER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}  # its built-in account


def s3_tools_missing():
    """What is missing for the S3 tests ("" when node, s3rver and the AWS SDK are installed)."""
    import shutil
    if shutil.which("node") is None:
        return "node"
    for p in (S3RVER, S3_SDK):
        if not os.path.exists(p):
            return p
    return ""


class S3rver:
    """s3rver (npm) on 127.0.0.1, an ephemeral port, storing under `directory`. It speaks the S3
    API (buckets, objects, multipart, ListObjectsV2) and knows one access key id (S3RVER), but
    does not check SigV4 signatures: the test compares hawser's with the AWS SDK's signer."""

    def __init__(self, directory, buckets=()):
        self.directory = directory
        self.buckets = buckets
        self.proc = None
        self.drain = None
        self.log = b""
        self.endpoint = None

    def start(self, port=0, timeout=30):
        import subprocess
        import select
        import time
        args = ["node", S3RVER, "-a", "127.0.0.1", "-p", str(port), "-d", self.directory]
        for b in self.buckets:
            args += ["--configure-bucket", b]
        # s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 keeps in its
        # legacy provider (libssl3 ships it).
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, NODE_NO_WARNINGS="1",
                                              NODE_OPTIONS="--openssl-legacy-provider"), start_new_session=True)
        deadline, seen = time.monotonic() + timeout, b""
        while time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if not ready:
                continue
            seen += os.read(self.proc.stdout.fileno(), 4096)
            m = re.search(rb"S3rver listening on 127\.0\.0\.1:(\d+)", seen)
            if m:
                self.log = seen
                self.port = int(m.group(1))
                self.endpoint = "http://127.0.0.1:%d" % self.port
                # Keep draining its log so it never blocks on a full pipe.
                import threading
                self.drain = threading.Thread(target=self._drain, daemon=True)
                self.drain.start()
                return self
        raise AssertionError("s3rver did not start: %r" % seen[-2000:])

    def _drain(self):
        """Keeps reading its log (so it never blocks on a full pipe), the last MiB of it in `log`."""
        try:
            while True:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return
                self.log = (self.log + chunk)[-(1 << 20):]
        except (OSError, ValueError):
            pass

    def stop(self):
        import signal
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.drain:
            self.drain.join(10)  # it ends at EOF, now that s3rver is gone
        if self.proc:
            self.proc.stdout.close()
        self.proc = None


def s3_client(endpoint, *args, timeout=120):
    """tests/support/node/s3_client.mjs (the AWS SDK for JavaScript v3): its JSON output."""
    rc, out, err = hh.run_cmd(["node", S3_CLIENT, *args], timeout=timeout,
                              env=dict(S3RVER_CREDENTIALS, S3_ENDPOINT=endpoint or "", NODE_NO_WARNINGS="1"))
    if rc != 0:
        raise AssertionError("s3_client.mjs %s failed (%d): %s" % (args, rc, err[-2000:]))
    return json.loads(out)


class RequestLineRecorder:
    """A TCP relay on 127.0.0.1 in front of `target` (host, port) that records the request line
    of each connection ("PUT /bucket/key?query"): hawser's S3 client sends one request per
    connection, so this is the list of S3 calls as they went over the wire."""

    def __init__(self, target):
        import socket
        import threading
        self.target = target
        self.lines = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.endpoint = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=30)
            except OSError:
                c.close()
                continue
            pair = {"open": 2, "socks": (c, u)}
            threading.Thread(target=self._pump, args=(c, u, True, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False, pair), daemon=True).start()

    def _pump(self, src, dst, record, pair):
        import socket
        head = b""
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if record and head is not None:
                    head += chunk
                    if b"\r\n" in head:
                        line = head.split(b"\r\n", 1)[0].decode("latin-1")
                        with self.lock:
                            self.lines.append(line.rsplit(" ", 1)[0])
                        head = None
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with self.lock:
                pair["open"] -= 1
                last = pair["open"] == 0
            if last:
                for s in pair["socks"]:
                    s.close()

    def requests(self):
        with self.lock:
            return list(self.lines)

    def close(self):
        self.sock.close()
