"""Shared topology for the mTLS chaos suite (tests/chaos/test_*.py).

    client --plaintext--> caller hawser (outbound alias "responder", tls mutual)
           --mTLS--> responder hawser (inbound "app", tls strict) --> fake upstream "app-b"

Every test makes its own CA and certificates with `hawser certs` in a temporary
directory; every process it starts is stopped by a cleanup.
"""

import os
import shutil
import tempfile

import hawser_harness as hh
from fake_upstream import FakeUpstream

NS = "demo"
TIMEOUTS = {"connect": "1s", "request": "10s", "idle": "60s"}


def spiffe(service):
    return "spiffe://%s/%s" % (NS, service)


def tmpdir(tc, prefix="hawser-chaos-"):
    d = tempfile.mkdtemp(prefix=prefix)
    tc.addCleanup(shutil.rmtree, d, True)
    return d


def certs(tc, services=("caller", "responder")):
    """(Certs, {service: (cert, key)}) in a fresh temp dir."""
    return hh.make_certs(tmpdir(tc), namespace=NS, services=services)


def fake(tc, name):
    f = FakeUpstream(name)
    f.start()
    tc.addCleanup(f.stop)
    return f


def sink(tc, cert, key, ca=None, name="sink"):
    s = hh.TlsSink(cert, key, ca=ca, name=name).start()
    tc.addCleanup(s.stop)
    return s


def responder_config(tls, app, mode="strict", allow=None, service="responder", workers=2):
    inbound = {"name": "app", "listen": "127.0.0.1:0", "app": app, "protocol": "http",
               "timeouts": TIMEOUTS, "tls": {"mode": mode}}
    if allow is not None:
        inbound["authorization"] = {"allow": list(allow)}
    return hh.base_config(node={"service": service, "namespace": NS}, workers=workers, tls=tls,
                          inbound=[inbound])


def caller_config(tls, discovery, service="responder", sans=None, extra_service=None, workers=2):
    svc = {"name": service, "alias": "127.0.0.1:0", "protocol": "http", "discovery": discovery,
           "timeouts": TIMEOUTS, "tls": {"mode": "mutual", "namespace": NS}}
    if sans is not None:
        svc["tls"]["sans"] = list(sans)
    if extra_service:
        svc.update(extra_service)
    return hh.base_config(node={"service": "caller", "namespace": NS}, workers=workers, tls=tls,
                          outbound={"services": [svc]})


def start(tc, config, name):
    return hh.start_hawser(tc, config, name=name)


def handshake_errors(h, reason):
    return h.metric("hawser_tls_handshake_errors_total", reason=reason)


def request(addr, path="/x", headers=None, timeout=10):
    hdrs = {"Host": "responder"}
    hdrs.update(headers or {})
    return hh.http_request(addr, "GET", path, headers=hdrs, timeout=timeout)
