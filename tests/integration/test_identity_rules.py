"""Identity rules and CRL scope (issue 11), against real hawser processes.

Bad certificates, signed by the trusted CA with the openssl CLI (SANs given as
DER, byte for byte), are refused in both directions:

  dns-spiffe  a DNS SAN reading spiffe://NS/caller: handshakes, but proves no SPIFFE ID
              (authorization.allow and tls.sans refuse it: 403 / san_mismatch)
  two-uris    two URI SANs (an X.509-SVID has exactly one): refused at the handshake, bad_san
  crlf        a URI SAN with CR/LF and a header after it: refused at the handshake, bad_san

and the CRL scope: root -> intermediate -> leaf with only the root in tls.ca and
only the intermediate's CRL in tls.crl works with `crl_check: leaf`, and
`chain` (which needs the root's CRL too) refuses with reason crl_missing,
after a start-up warning naming the CA whose CRL is missing.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import unittest

import hawser_harness as hh

NS = "idrules"
TIMEOUTS = {"connect": "1s", "request": "5s", "idle": "30s"}
CRLF_URI = b"spiffe://%s/caller\r\nx-injected: evil" % NS.encode()


def _der(tag, body):
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def san_der(uris=(), dns=()):
    """GeneralNames as DER hex: URIs are [6] IA5String, DNS names [2]."""
    names = b"".join(_der(0x86, u) for u in uris) + b"".join(_der(0x82, d) for d in dns)
    return _der(0x30, names).hex()


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))


def sign(certs, ca, name, extensions, out_dir):
    """A new P-256 key and a certificate for it signed by CA directory `ca` (ca.pem holds
    the signer first, then its chain). Returns (cert path with chain, key path)."""
    ca_dir = certs.ca_dir(ca)
    key = os.path.join(out_dir, name + "-key.pem")
    csr = os.path.join(out_dir, name + ".csr")
    ext = os.path.join(out_dir, name + ".ext")
    leaf = os.path.join(out_dir, name + ".leaf.pem")
    with open(ext, "w") as f:
        f.write("[v3]\n" + "".join("%s = %s\n" % kv for kv in extensions))
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-subj", "/O=hawser/CN=" + name, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.pem"),
            "-CAkey", os.path.join(ca_dir, "ca-key.pem"), "-set_serial", "0x" + secrets.token_hex(15),
            "-days", "2", "-sha256", "-extfile", ext, "-extensions", "v3", "-out", leaf)
    cert = os.path.join(out_dir, name + ".pem")
    with open(cert, "w") as f, open(leaf) as l, open(os.path.join(ca_dir, "ca.pem")) as c:
        f.write(l.read() + c.read())
    return cert, key


def workload(certs, name, uris=(), dns=(), ca=None):
    return sign(certs, ca, name, [("basicConstraints", "critical,CA:FALSE"),
                                  ("keyUsage", "critical,digitalSignature,keyAgreement"),
                                  ("extendedKeyUsage", "serverAuth,clientAuth"),
                                  ("subjectAltName", "DER:" + san_der(uris, dns))],
                os.path.join(certs.root, "certs"))


def intermediate(certs, name, parent=None):
    """An intermediate CA directory usable by `hawser certs issue|revoke --ca`."""
    d = certs.ca_dir(name)
    os.makedirs(d, exist_ok=True)
    cert, key = sign(certs, parent, name, [("basicConstraints", "critical,CA:TRUE"),
                                           ("keyUsage", "critical,keyCertSign,cRLSign"),
                                           ("subjectKeyIdentifier", "hash"),
                                           ("authorityKeyIdentifier", "keyid:always")], d)
    os.replace(cert, os.path.join(d, "ca.pem"))
    os.replace(key, os.path.join(d, "ca-key.pem"))
    return d


class IdentityRulesBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hawser-idrules-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.certs, cls.ids = hh.make_certs(cls.tmp, namespace=NS, services=("caller", "responder"))
        os.makedirs(os.path.join(cls.tmp, "certs"), exist_ok=True)
        caller = ("spiffe://%s/caller" % NS).encode()
        responder = ("spiffe://%s/responder" % NS).encode()
        c = cls.certs
        cls.bad = {
            "client": {
                "dns-spiffe": workload(c, "client-dns-spiffe", dns=[caller]),
                "two-uris": workload(c, "client-two-uris", uris=[caller, b"spiffe://%s/admin" % NS.encode()]),
                "crlf": workload(c, "client-crlf", uris=[CRLF_URI]),
                "crlf-dns": workload(c, "client-crlf-dns", uris=[caller], dns=[b"caller.local\r\nx-evil: 1"]),
            },
            "server": {
                "dns-spiffe": workload(c, "server-dns-spiffe", dns=[responder]),
                "two-uris": workload(c, "server-two-uris", uris=[responder, b"spiffe://%s/other" % NS.encode()]),
                "crlf": workload(c, "server-crlf", uris=[responder + b"\r\nx-injected: evil"]),
            },
        }

    def start(self, name, cert_key, inbound=(), services=(), **tls_extra):
        crl_check = tls_extra.pop("crl_check", None)
        tls = hh.tls_block(cert_key[0], cert_key[1], self.certs.ca_pem(), **tls_extra)
        if crl_check:
            tls["crl_check"] = crl_check
        cfg = hh.base_config(node={"service": name, "namespace": NS}, workers=1, tls=tls,
                             inbound=list(inbound), outbound={"services": list(services)})
        return hh.start_hawser(self, cfg, name=name)

    def client_ctx(self, cert_key):
        return hh.client_ssl_context(self.certs.ca_pem(), cert_key[0], cert_key[1])


class InboundRefusesBadClientCertificates(IdentityRulesBase):
    def setUp(self):
        self.app = hh.start_fake(self, "app")
        listener = {"listen": "127.0.0.1:0", "app": self.app.address, "protocol": "http",
                    "timeouts": dict(TIMEOUTS), "tls": {"mode": "strict"}}
        self.h = self.start("responder", self.ids["responder"], inbound=[
            dict(listener, name="guarded", authorization={"allow": ["spiffe://%s/caller" % NS]}),
            dict(listener, name="open")])

    def request(self, listener, cert_key, path):
        return hh.tls_handshake_outcome(self.h.listener(listener), self.client_ctx(cert_key)) if path is None else \
            hh.tls_request(self.h.listener(listener), self.client_ctx(cert_key), "GET", path,
                           headers={"Host": "responder"})

    def test_the_real_caller_passes(self):
        status, _h, _b = self.request("guarded", self.ids["caller"], "/good")
        self.assertEqual(status, 200)
        seen = self.app.requests_for("/good")[-1]["h"]
        self.assertIn("URI=spiffe://%s/caller" % NS, seen.get("x-forwarded-client-cert", ""))

    def test_a_dns_san_spelling_the_spiffe_id_is_not_that_identity(self):
        status, _h, _b = self.request("guarded", self.bad["client"]["dns-spiffe"], "/dns-spiffe")
        self.assertEqual(status, 403, "a DNS SAN was taken for the SPIFFE ID in authorization.allow")
        self.assertEqual([], self.app.requests_for("/dns-spiffe"))
        # Without an allow list it gets through, but vouched for as nobody.
        status, _h, _b = self.request("open", self.bad["client"]["dns-spiffe"], "/dns-spiffe-open")
        self.assertEqual(status, 200)
        seen = self.app.requests_for("/dns-spiffe-open")[-1]["h"]
        self.assertNotIn("x-forwarded-client-cert", seen, "a DNS SAN became the XFCC identity")

    def test_two_uri_sans_and_control_characters_fail_the_handshake(self):
        before = self.h.metric("hawser_tls_handshake_errors_total", reason="bad_san")
        for kind in ("two-uris", "crlf", "crlf-dns"):
            for listener in ("guarded", "open"):
                outcome = self.request(listener, self.bad["client"][kind], None)
                self.assertTrue(outcome.startswith("error:"), "%s on %s: %s" % (kind, listener, outcome))
        hh.wait_until(lambda: self.h.metric("hawser_tls_handshake_errors_total", reason="bad_san") >= before + 6,
                      timeout=5, message="six bad_san handshake errors counted")
        self.assertEqual([], self.app.requests_for("/"), "a refused certificate carried a request")
        # The SAN never reaches the app, nor a log line unescaped.
        for line in self.h.stdout.snapshot():
            self.assertNotIn("x-injected", line)
        self.h.wait_for_log(lambda d: d.get("reason") == "bad_san", message="the bad_san log line")


class OutboundRefusesBadServerCertificates(IdentityRulesBase):
    def test_each_bad_server_certificate_is_refused_before_any_request(self):
        sinks = {}
        services = []
        for kind, cert_key in sorted(self.bad["server"].items()):
            sink = hh.TlsSink(cert_key[0], cert_key[1], ca=self.certs.ca_pem(), name=kind).start()
            self.addCleanup(sink.stop)
            sinks[kind] = sink
            services.append({"name": "responder-" + kind, "alias": "127.0.0.1:0", "protocol": "http",
                             "discovery": {"static": [sink.address]}, "timeouts": dict(TIMEOUTS),
                             "retry": {"attempts": 1},
                             "tls": {"mode": "mutual", "sans": ["spiffe://%s/responder" % NS]}})
        h = self.start("caller", self.ids["caller"], services=services)
        for kind in sinks:
            status, _h, _b = hh.http_request(h.listener("responder-" + kind), "GET", "/out-" + kind,
                                             headers={"Host": "responder"})
            self.assertGreaterEqual(status, 500, "%s: a bad server certificate was trusted" % kind)
        for kind, sink in sinks.items():
            self.assertEqual([b for b in sink.received if b], [], "%s received a request" % kind)
        hh.wait_until(lambda: h.metric("hawser_tls_handshake_errors_total", reason="bad_san") >= 2, timeout=5,
                      message="bad_san counted for two-uris and crlf")
        self.assertGreaterEqual(h.metric("hawser_tls_handshake_errors_total", reason="san_mismatch"), 1,
                                "the DNS SAN spiffe://... was taken for the expected SPIFFE ID")
        for line in h.stdout.snapshot():
            self.assertNotIn("x-injected", line)


class CrlScope(IdentityRulesBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.certs
        intermediate(c, "inter")
        cls.inter_ids = {s: c.issue("%s-i" % s, "spiffe://%s/%s" % (NS, s), ca="inter")
                         for s in ("caller", "responder")}
        cls.inter_crl = c.revoke("inter", [], out=os.path.join(cls.tmp, "inter-crl.pem"))
        cls.root_crl = c.revoke("ca", [], out=os.path.join(cls.tmp, "root-crl.pem"))

    def responder(self, crl, crl_check):
        self.app = hh.start_fake(self, "app")
        return self.start("responder", self.inter_ids["responder"], crl=crl, crl_check=crl_check, inbound=[
            {"name": "app", "listen": "127.0.0.1:0", "app": self.app.address, "protocol": "http",
             "timeouts": dict(TIMEOUTS), "tls": {"mode": "strict"}}])

    def outcome(self, h):
        return hh.tls_handshake_outcome(h.listener("app"), self.client_ctx(self.inter_ids["caller"]))

    def test_leaf_checks_the_leaf_against_its_issuers_crl(self):
        h = self.responder(self.inter_crl, "leaf")
        self.assertEqual(self.outcome(h), "ok:200")
        self.assertEqual(h.admin_json("/config_dump")["tls"]["crl_check"], "leaf")
        self.assertEqual(0, h.metric("hawser_tls_handshake_errors_total", reason="crl_missing"))

    def test_chain_without_the_roots_crl_refuses_with_crl_missing_and_warns_at_start(self):
        h = self.responder(self.inter_crl, "chain")
        warning = h.wait_for_log(lambda d: "CRL" in d.get("msg", "") and "issuer" in d, message="start-up warning")
        self.assertIn("hawser development CA", warning["issuer"])
        self.assertEqual(h.admin_json("/config_dump")["tls"]["crl_check"], "chain")
        self.assertTrue(self.outcome(h).startswith("error:"))
        hh.wait_until(lambda: h.metric("hawser_tls_handshake_errors_total", reason="crl_missing") >= 1, timeout=5,
                      message="crl_missing counted")
        self.assertEqual([], self.app.requests_for("/"))
        self.assertEqual(self.outcome(self.responder_with_both_crls()), "ok:200")

    def responder_with_both_crls(self):
        both = os.path.join(self.tmp, "both-crls.pem")
        with open(both, "w") as f:
            for p in (self.inter_crl, self.root_crl):
                with open(p) as src:
                    f.write(src.read())
        return self.responder(both, "chain")

    def test_leaf_with_only_the_roots_crl_fails_closed(self):
        h = self.responder(self.root_crl, "leaf")
        warning = h.wait_for_log(lambda d: "CRL" in d.get("msg", "") and "issuer" in d, message="start-up warning")
        self.assertIn("inter", warning["issuer"])
        self.assertTrue(self.outcome(h).startswith("error:"))
        hh.wait_until(lambda: h.metric("hawser_tls_handshake_errors_total", reason="crl_missing") >= 1, timeout=5,
                      message="crl_missing counted")

    def test_config_errors_name_the_key(self):
        path = os.path.join(self.tmp, "bad-crl-check.yaml")
        for tls, words in (({"crl": self.root_crl, "crl_check": "all"}, "tls.crl_check"),
                           ({"crl_check": "leaf"}, "needs tls.crl")):
            cfg = hh.base_config(tls=dict(hh.tls_block(*self.ids["caller"], self.certs.ca_pem()), **tls))
            with open(path, "w") as f:
                f.write(hh.to_yaml(cfg) + "\n")
            rc, err = hh.check_config(path)
            self.assertEqual(rc, 2, err)
            self.assertIn(path, err)
            self.assertIn(words, err)


if __name__ == "__main__":
    unittest.main()
