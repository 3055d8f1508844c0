"""The shared topology of the framing suites (test_smuggling.py, test_framing_responses.py).

    raw client --plaintext--> edge hawser  inbound "app" ----------------------> raw upstream
                                           outbound alias "svc" (tls disabled) -> raw upstream
                                           http_proxy (http://svc/...) -------> raw upstream
    raw TLS client (caller's workload cert) --mTLS--> responder hawser inbound "app" -> raw upstream
    raw client --plaintext--> caller hawser alias "responder" ==mTLS==> responder inbound -> raw upstream

One worker per hawser, so a pooled upstream connection is shared by every client
connection (as in the defect reports).  `setUpModule` fills ENV; a test module
re-exports it.
"""

import os
import shutil
import tempfile
import unittest

import hawser_harness as hh
from raw_upstream import RawUpstream

NS = "demo"
CALLER_ID = "spiffe://%s/caller" % NS
RESPONDER_ID = "spiffe://%s/responder" % NS
VERIFIED_XFCC = "By=%s;URI=%s" % (RESPONDER_ID, CALLER_ID)
FORGED_XFCC = "By=spiffe://demo/responder;URI=spiffe://demo/admin"
TIMEOUTS = {"connect": "1s", "request": "5s", "idle": "30s"}
LIMITS = {"max_header_bytes": 16384, "max_headers": 60, "header_timeout": "2s"}
ENV = {}


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="hawser-smuggling-")
    unittest.addModuleCleanup(shutil.rmtree, tmp, True)
    up = RawUpstream("app").start()
    unittest.addModuleCleanup(up.stop)
    certs, ids = hh.make_certs(os.path.join(tmp, "pki"), namespace=NS, services=("caller", "responder"))

    edge = hh.Hawser(hh.base_config(
        node={"service": "edge", "namespace": NS}, workers=1, limits=dict(LIMITS),
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http",
                  "timeouts": TIMEOUTS}],
        outbound={"http_proxy": "127.0.0.1:0",
                  "services": [{"name": "svc", "alias": "127.0.0.1:0", "protocol": "http",
                                "discovery": {"static": [up.address]}, "timeouts": TIMEOUTS}]},
        telemetry={"access_log": {"path": "stdout"}},
    ), name="edge")
    unittest.addModuleCleanup(edge.stop)
    edge.start()

    responder = hh.Hawser(hh.base_config(
        node={"service": "responder", "namespace": NS}, workers=1, limits=dict(LIMITS),
        tls=hh.tls_block(*ids["responder"], certs.ca_pem()),
        inbound=[{"name": "app", "listen": "127.0.0.1:0", "app": up.address, "protocol": "http",
                  "timeouts": TIMEOUTS, "tls": {"mode": "strict"}}],
        telemetry={"access_log": {"path": "stdout"}},
    ), name="responder")
    unittest.addModuleCleanup(responder.stop)
    responder.start()

    caller = hh.Hawser(hh.base_config(
        node={"service": "caller", "namespace": NS}, workers=1, limits=dict(LIMITS),
        tls=hh.tls_block(*ids["caller"], certs.ca_pem()),
        outbound={"services": [{"name": "responder", "alias": "127.0.0.1:0", "protocol": "http",
                                "discovery": {"static": [hh.addr_str(responder.listener("app"))]},
                                "timeouts": TIMEOUTS, "tls": {"mode": "mutual", "namespace": NS}}]},
        telemetry={"access_log": {"path": "stdout"}},
    ), name="caller")
    unittest.addModuleCleanup(caller.stop)
    caller.start()

    ENV.update(up=up, edge=edge, responder=responder, caller=caller,
               peer_ctx=hh.client_ssl_context(certs.ca_pem(), *ids["caller"]))


# --------------------------------------------------------------------------------------
# entry modes

class Mode:
    def __init__(self, name, host, absolute=False, tls=False):
        self.name = name
        self.host = host
        self.absolute = absolute
        self.tls = tls

    def addr(self):
        if self.name == "plain-inbound":
            return ENV["edge"].listener("app")
        if self.name == "plain-alias":
            return ENV["edge"].listener("svc")
        if self.name == "plain-proxy":
            return ENV["edge"].listener_of_kind("http_proxy")
        if self.name == "mtls-inbound":
            return ENV["responder"].listener("app")
        return ENV["caller"].listener("responder")

    def connect(self, timeout=5.0):
        if self.name == "mtls-inbound":
            return hh.RawTlsConn(self.addr(), ENV["peer_ctx"], timeout=timeout)
        return hh.RawConn(self.addr(), timeout=timeout)

    def target(self, path):
        return ("http://%s%s" % (self.host, path)) if self.absolute else path

    def logger(self):
        """The hawser whose upstream is the raw app (its log line is 'the request hawser logged')."""
        return ENV["responder"] if self.name.startswith("mtls") else ENV["edge"]

    def inbound(self):
        return self.name in ("plain-inbound", "mtls-inbound", "mtls-alias")

    def verified(self):
        return self.name.startswith("mtls")


MODES = [Mode("plain-inbound", "app"), Mode("plain-alias", "svc"), Mode("plain-proxy", "svc", absolute=True),
         Mode("mtls-inbound", "responder", tls=True), Mode("mtls-alias", "responder")]
PLAIN = ("plain-inbound", "plain-alias", "plain-proxy")


