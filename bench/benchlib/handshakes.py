"""New mutual-TLS connections per second through a pair: a handshake per request.

The load generator sends `Connection: close` on every request (wrk -H), so
each request is a new connection to the client sidecar, and each client
sidecar runs with upstream reuse off (peers.py, `reuse=False`): nginx without
`keepalive` in its upstream block (it then sends `Connection: close`
upstream), HAProxy with `http-reuse never` and `option http-server-close`,
hawser with `max_requests_per_connection: 1` on the client's service (it
then sends `Connection: close` upstream and never pools the connection).

The count does not depend on the proxy: a packet socket on `lo` with a
classic BPF filter lets through only the TCP segments leaving the server
sidecar's port that start with a TLS ServerHello, so the kernel hands over
one packet per handshake and nothing else. Each ServerHello says whether the
server accepted a pre-shared key (`pre_shared_key` extension: a resumed TLS
1.3 session) and whether it is a HelloRetryRequest (not counted as a
handshake). Needs root (CAP_NET_RAW); without it the figure is "not verified".

    new connections/s  = requests/s of wrk (each one verified to be a handshake)
    CPU per 1,000      = utime + stime of both sidecars across the run / handshakes * 1000
"""

import ctypes
import socket
import struct
import threading
import time

from . import load
from .procs import BenchError, cpu_seconds

ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
EXT_PRE_SHARED_KEY = 41
EXT_SUPPORTED_VERSIONS = 43
# ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3)
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
# wrk's requests may be a little fewer than the handshakes: up to one per
# connection is still in flight when wrk stops, plus this share.
TOLERANCE = 0.02


def server_hello_filter(port):
    """Classic BPF over Ethernet frames on lo: IPv4/TCP, not a fragment, source
    port `port`, payload starting with a TLS handshake record holding a
    ServerHello. Accepts the first 512 bytes of a match."""
    LDH, LDB, LDXB_MSH, LDB_IND, LDH_IND = 0x28, 0x30, 0xb1, 0x50, 0x48
    JEQ, JSET, AND, RSH, ADDX, TAX, RET = 0x15, 0x45, 0x54, 0x74, 0x0c, 0x07, 0x06
    prog = [
        (LDH, 0, 0, 12),          # 0  ethertype
        (JEQ, 0, 16, ETH_P_IP),   # 1  -> 18 drop
        (LDB, 0, 0, 23),          # 2  IP protocol
        (JEQ, 0, 14, 6),          # 3  TCP
        (LDH, 0, 0, 20),          # 4  fragment offset
        (JSET, 12, 0, 0x1fff),    # 5  a fragment -> drop
        (LDXB_MSH, 0, 0, 14),     # 6  x = IP header length
        (LDH_IND, 0, 0, 14),      # 7  TCP source port
        (JEQ, 0, 9, port),        # 8
        (LDB_IND, 0, 0, 26),      # 9  TCP data offset byte
        (AND, 0, 0, 0xf0),        # 10
        (RSH, 0, 0, 2),           # 11 a = TCP header length
        (ADDX, 0, 0, 0),          # 12 a = IP + TCP header length
        (TAX, 0, 0, 0),           # 13 x = a
        (LDB_IND, 0, 0, 14),      # 14 TLS record type
        (JEQ, 0, 2, 22),          # 15 handshake
        (LDB_IND, 0, 0, 19),      # 16 handshake type
        (JEQ, 1, 0, 2),           # 17 ServerHello -> 19 accept
        (RET, 0, 0, 0),           # 18 drop
        (RET, 0, 0, 512),         # 19 accept
    ]
    return b"".join(struct.pack("HBBI", *insn) for insn in prog)


def parse_server_hello(frame):
    """(is_hello_retry, resumed) of the ServerHello at the start of the frame's TCP payload, or None."""
    try:
        ihl = (frame[14] & 0x0F) * 4
        tcp = 14 + ihl
        p = frame[tcp + (frame[tcp + 12] >> 4) * 4:]
        if len(p) < 6 or p[0] != 22 or p[5] != 2:
            return None
        body = p[9:]  # record header 5, handshake header 4
        random = body[2:34]
        i = 35 + body[34]  # legacy_session_id
        i += 3             # cipher suite, compression
        end = i + 2 + struct.unpack(">H", body[i:i + 2])[0]
        i += 2
        resumed = False
        while i + 4 <= min(end, len(body)):
            ext, n = struct.unpack(">HH", body[i:i + 4])
            resumed |= ext == EXT_PRE_SHARED_KEY
            i += 4 + n
        return random == HRR_RANDOM, resumed
    except (IndexError, struct.error):
        return None


class HelloCounter:
    """Counts the ServerHellos leaving `port` on lo, in a thread, between start() and stop()."""

    def __init__(self, port):
        self.port = port
        self.hellos = 0
        self.resumed = 0
        self.retries = 0
        self.unparsed = 0
        self.drops = 0
        self._skip_outgoing = False
        self._stop = threading.Event()
        self._thread = None
        # Protocol 0 receives nothing until bind(), so no packet passes before the filter is on.
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            code = server_hello_filter(port)
            buf = ctypes.create_string_buffer(code)
            fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(buf))
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            try:  # a packet on lo is seen leaving and arriving: keep one
                self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            except OSError:
                self._skip_outgoing = True
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self.sock.bind(("lo", ETH_P_IP))
            self.sock.settimeout(0.2)
        except OSError:
            self.sock.close()
            raise

    def start(self):
        self._thread = threading.Thread(target=self._run, name="hello-counter", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while True:
            try:
                frame, addr = self.sock.recvfrom(1024)
            except socket.timeout:
                if self._stop.is_set():
                    return
                continue
            except OSError:
                return
            if self._skip_outgoing and addr[2] == PACKET_OUTGOING:
                continue
            parsed = parse_server_hello(frame)
            if parsed is None:
                self.unparsed += 1
            elif parsed[0]:
                self.retries += 1
            else:
                self.hellos += 1
                self.resumed += parsed[1]

    def counts(self):
        return {"handshakes": self.hellos, "resumed": self.resumed, "hello_retries": self.retries,
                "unparsed": self.unparsed}

    def wait_quiet(self, quiet=0.3, timeout=5.0):
        """Until no ServerHello arrived for `quiet` seconds (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        last, since = self.hellos, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.hellos != last:
                last, since = self.hellos, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise BenchError("handshakes did not stop within %ss of the load's end" % timeout)

    def stop(self):
        """Stops once the packets already queued are read; returns self."""
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        try:
            _, self.drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        except OSError:
            pass
        self.sock.close()
        return self


def counter_check():
    """(True, "") when a HelloCounter can be opened here, else (False, why)."""
    try:
        HelloCounter(0).stop()
        return True, ""
    except OSError as e:
        return False, "cannot count handshakes: a packet socket on lo needs root (CAP_NET_RAW): %s" % e


def measure(pair, plan, tool_log, count_handshakes=True):
    """One run of the started pair: wrk with Connection: close; the handshakes its server sidecar made."""
    url = "http://%s:%d/" % pair.entry
    headers = ["Connection: close"]
    w = load.wrk(url, plan.handshake_connections, plan.wrk_threads, plan.warmup, tool_log, headers)
    if w["errors"]:
        raise BenchError("warm-up: %s" % w["error_detail"])
    pids = {side: proc.pids() for side, proc in pair.sidecars}
    counter = HelloCounter(pair.server_addr[1]).start() if count_handshakes else None
    try:
        # A client sidecar may still open connections for warm-up requests whose
        # client wrk already closed: they are over before the count starts.
        base = {}
        if counter:
            counter.wait_quiet()
            base = counter.counts()
        cpu0 = {side: cpu_seconds(ps) for side, ps in pids.items()}
        w = load.wrk(url, plan.handshake_connections, plan.wrk_threads, plan.handshake_seconds, tool_log, headers)
        cpu1 = {side: cpu_seconds(ps) for side, ps in pids.items()}
    finally:
        if counter:
            counter.stop()
    for _, proc in pair.sidecars:
        proc.check_alive()
    rec = {"requests": w["requests"], "seconds": w["seconds"], "rps": w["rps"], "wrk_errors": w["errors"],
           "cpu_client_s": cpu1["client"] - cpu0["client"], "cpu_server_s": cpu1["server"] - cpu0["server"]}
    if w["errors"]:
        rec["failed"] = "wrk: " + w["error_detail"]
    if counter:
        rec.update({k: v - base[k] for k, v in counter.counts().items()}, capture_drops=counter.drops)
    return rec


def verdict(rec, connections):
    """None when every request was one handshake, else why the run is not a handshake rate."""
    if "handshakes" not in rec:
        return "handshakes not counted"
    h, r = rec["handshakes"], rec["requests"]
    if r == 0:
        return "no request completed"
    if rec.get("capture_drops"):
        return "the packet socket dropped %d packets: %d handshakes is a lower bound" % (rec["capture_drops"], h)
    if h < r * (1 - TOLERANCE):
        return "%d handshakes for %d requests (%.3f per request): the client sidecar reused its upstream " \
               "connections" % (h, r, h / float(r) if r else 0)
    if h > r * (1 + TOLERANCE) + connections:
        return "%d handshakes for %d requests: more than one per request" % (h, r)
    return None
