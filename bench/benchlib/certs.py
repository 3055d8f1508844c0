"""A throwaway CA and two ECDSA P-256 workload certificates, made with the openssl CLI.

Each leaf carries a SPIFFE URI SAN (what hawser checks) and a DNS SAN (what
nginx's proxy_ssl_name and HAProxy's verifyhost check), and its CN is the
short name (what the nginx and HAProxy server sides authorize on).
"""

import os

from .procs import BenchError, run_tool

TRUST_DOMAIN = "bench"


def spiffe(name):
    return "spiffe://%s/%s" % (TRUST_DOMAIN, name)


def dns_name(name):
    return "%s.%s" % (name, TRUST_DOMAIN)


class Certs:
    def __init__(self, directory):
        self.dir = directory
        self.ca = os.path.join(directory, "ca.pem")

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + "-key.pem")

    def bundle(self, name):
        """Certificate then key in one file (HAProxy's `crt`)."""
        return os.path.join(self.dir, name + "-bundle.pem")


def _openssl(args, log):
    rc, out = run_tool(["openssl"] + args, timeout=30, log_path=log)
    if rc != 0:
        raise BenchError("openssl %s failed:\n%s" % (" ".join(args[:2]), out))


def make_certs(directory, names=("client", "server")):
    os.makedirs(directory, exist_ok=True)
    log = os.path.join(directory, "openssl.log")
    c = Certs(directory)
    ca_key = os.path.join(directory, "ca-key.pem")
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ca_key], log)
    _openssl(["req", "-x509", "-new", "-key", ca_key, "-subj", "/CN=bench CA", "-days", "7", "-sha256",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", c.ca], log)
    for i, name in enumerate(names):
        csr = os.path.join(directory, name + ".csr")
        ext = os.path.join(directory, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=URI:%s,DNS:%s\n" % (spiffe(name), dns_name(name)))
        _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", c.key(name)], log)
        _openssl(["req", "-new", "-key", c.key(name), "-subj", "/CN=" + name, "-out", csr], log)
        _openssl(["x509", "-req", "-in", csr, "-CA", c.ca, "-CAkey", ca_key, "-set_serial", str(1000 + i),
                  "-days", "7", "-sha256", "-extfile", ext, "-out", c.cert(name)], log)
        with open(c.bundle(name), "w") as out:
            for part in (c.cert(name), c.key(name)):
                with open(part) as f:
                    out.write(f.read())
    return c
