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


class LiveCerts:
    """Certificate files published the way Kubernetes projects secrets: `live` is a symlink
    to a versioned directory, so a rotation (cert and key together) is one atomic rename.

        live = LiveCerts(tc, certs_obj, "responder", spiffe("responder"))
        tls = live.tls()                 # paths under live/
        serial = live.rotate()           # issue a new cert+key, swap, return the new serial
    """

    def __init__(self, tc, certs, name, identity, ca=None):
        self.certs = certs
        self.name = name
        self.identity = identity
        self.ca = ca
        self.dir = tmpdir(tc, "hawser-live-")
        self.live = os.path.join(self.dir, "live")
        self.version = 0
        self.serials = []
        self.rotate()

    @property
    def cert(self):
        return os.path.join(self.live, "cert.pem")

    @property
    def key(self):
        return os.path.join(self.live, "key.pem")

    def tls(self, **kw):
        return hh.tls_block(self.cert, self.key, self.certs.ca_pem(), **kw)

    def publish(self, cert_src, key_src):
        """Swap in copies of cert_src/key_src atomically.  Returns the version directory."""
        self.version += 1
        vdir = os.path.join(self.dir, "v%d" % self.version)
        os.makedirs(vdir)
        shutil.copyfile(cert_src, os.path.join(vdir, "cert.pem"))
        shutil.copyfile(key_src, os.path.join(vdir, "key.pem"))
        tmp = os.path.join(self.dir, "live.tmp")
        os.symlink(os.path.basename(vdir), tmp)
        os.replace(tmp, self.live)
        return vdir

    def rotate(self, **issue_kw):
        cert, key = self.certs.issue("%s-r%d" % (self.name, self.version + 1), self.identity,
                                     ca=self.ca, **issue_kw)
        self.publish(cert, key)
        serial = cert_serial(cert)
        self.serials.append(serial)
        return serial


def cert_serial(path):
    """Serial of the first certificate in a PEM file, upper-case hex without leading zeros
    (as /certs shows it)."""
    rc, out, err = hh.run_cmd(["openssl", "x509", "-in", path, "-noout", "-serial"])
    if rc != 0:
        raise AssertionError("openssl x509 %s: %s" % (path, err))
    return out.strip().split("=", 1)[1].lstrip("0").upper()


def peer_serial(sock):
    """Serial of the certificate the TLS peer presented (verified connections)."""
    return sock.getpeercert()["serialNumber"].lstrip("0").upper()
