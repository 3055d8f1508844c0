"""Memory per idle mutual-TLS keep-alive connection, for every proxy alike.

A mesh sidecar holds one connection per peer connection that reached it; most
of them sit idle between requests. This opens N connections straight to the
server sidecar of a pair (the mTLS side: TLS 1.3, the client certificate the
client sidecar uses, ALPN http/1.1), sends one request on each and reads its
answer, keeps them all open, and reads the server sidecar's RSS (nginx:
master + workers) before and after:

    KiB per idle connection = (RSS with N open - RSS before) / N

"before" is taken after a warm-up of a few connections opened, used and
closed, so code and libraries first touched by a connection are not counted.
The same client, the same certificates and the same request for every proxy.
"""

import resource
import socket
import ssl
import time

from . import certs as certlib
from .procs import BenchError, rss_kib

REQUEST = b"GET / HTTP/1.1\r\nHost: server\r\n\r\n"
WARMUP = 20


FD_LIMIT = 65536  # HAProxy sizes its descriptors for 2 x maxconn (16384) and refuses to start below


def raise_fd_limit(wanted=FD_LIMIT):
    """`wanted` descriptors (root may raise the hard limit), else as many as the
    hard limit allows. The proxies inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    target = wanted if hard == resource.RLIM_INFINITY or hard >= wanted else hard
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def counts_for(wanted):
    """`wanted` connection counts, the larger ones capped (to a multiple of 1000)
    at what every proxy can hold under the descriptor limit (HAProxy: 2 per
    connection)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    fit = ((soft - 200) // 2 - 500) // 1000 * 1000
    return tuple(sorted({min(n, fit) for n in wanted}))


def client_context(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(certs.ca)
    ctx.load_cert_chain(certs.cert("client"), certs.key("client"))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _read_response(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise BenchError("connection closed before a response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if " 200 " not in lines[0] + " ":
        raise BenchError("idle-connection request answered %r" % lines[0])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            raise BenchError("connection closed inside a response body")
        body += chunk


def open_idle(ctx, address, n, timeout=10.0):
    conns = []
    try:
        for _ in range(n):
            raw = socket.create_connection(address, timeout=timeout)
            conn = ctx.wrap_socket(raw, server_hostname=certlib.dns_name("server"))
            conn.sendall(REQUEST)
            _read_response(conn)
            conns.append(conn)
    except (OSError, ssl.SSLError) as e:
        close_all(conns)
        raise BenchError("opening idle connection %d of %d to %s:%d: %s" % (len(conns) + 1, n, address[0],
                                                                             address[1], e)) from None
    return conns


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except OSError:
            pass


def settled_rss(pids, settle):
    """RSS once two reads `settle` seconds apart agree within 1%."""
    last = rss_kib(pids)
    for _ in range(10):
        time.sleep(settle)
        now = rss_kib(pids)
        if abs(now - last) <= 0.01 * max(now, 1):
            return now
        last = now
    return last


def measure(pair, certs, counts, settle=0.5):
    """[{count, before_kib, open_kib, per_conn_kib}] for the pair's server sidecar."""
    server = dict(pair.sidecars)["server"]
    address = pair.server_addr
    ctx = client_context(certs)
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    results = []
    close_all(open_idle(ctx, address, WARMUP))
    for n in counts:
        if n + 256 > limit:
            raise BenchError("%d idle connections need more than the descriptor limit (%d)" % (n, limit))
        before = settled_rss(server.pids(), settle)
        conns = open_idle(ctx, address, n)
        try:
            server.check_alive()
            during = settled_rss(server.pids(), settle)
        finally:
            close_all(conns)
        results.append({"count": n, "before_kib": before, "open_kib": during,
                        "per_conn_kib": (during - before) / float(n)})
    return results
