"""Issue 15, acceptance 4: the forwarder's archive in a real S3-compatible server.

    test --POST /v1/capture--> hawser forwarder --> spool --SigV4 PUT / multipart--> s3rver (npm)
                                                                                      ^
                              the AWS SDK for JavaScript v3 (ListObjectsV2, GetObject) '

s3rver runs on 127.0.0.1; it knows one access key id but does not check SigV4 signatures, so a
PUT taken off the wire is signed again by the AWS SDK's signer and the two must be equal. Checked: while the bucket does not exist every upload fails and the closed segments stay in the
spool (none deleted, the failures counted); once the bucket exists they arrive under
<prefix>/<service>/<yyyy>/<mm>/<dd>/<segment>.ndjson.gz, a segment past the multipart threshold as
a multipart object, and the objects read back with the AWS SDK decompress to exactly the records
sent, as many as the forwarder counted; `hawser capture export --from s3://` reads the same; an
unknown access key keeps the segment too; the configuration's errors are named.
"""

import base64
import gzip
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unittest
import uuid

import hawser_harness as hh
from capture_support import (S3RVER_CREDENTIALS, Forwarder, RequestLineRecorder, S3rver, s3_client,
                             s3_tools_missing)

BUCKET = "capture-test"
PREFIX = "cap"
KEY = re.compile(r"^cap/(?P<service>[A-Za-z0-9._-]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
                 r"(?P<start>\d+)-(?P<seq>\d+)\.ndjson\.gz$")


def record(service, body=b""):
    now = time.time()
    return {
        "id": uuid.uuid4().hex, "start": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".000000Z",
        "duration_us": 1200, "direction": "inbound", "service": service, "peer": "127.0.0.1:1",
        "kind": "http",
        "request": {"method": "POST", "target": "/r", "authority": "app", "scheme": "http", "version": "HTTP/1.1",
                    "headers": [["content-type", "application/octet-stream"]],
                    "body": base64.b64encode(body).decode(), "body_bytes": len(body), "truncated": False},
        "response": {"status": 200, "headers": [], "body": "", "body_bytes": 0, "truncated": False},
    }


def post(address, records, timeout=60):
    body = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/v1/capture", body=body,
                     headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def log_text(proc):
    return "\n".join(proc.stdout.snapshot())


def spool_segments(spool, suffix):
    return sorted(f for f in os.listdir(spool) if f.endswith(suffix)) if os.path.isdir(spool) else []


@unittest.skipIf(s3_tools_missing(), "node, s3rver or the AWS SDK missing (%s): run scripts/setup test"
                 % s3_tools_missing())
class CaptureS3Test(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hawser-capture-s3-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.s3 = S3rver(os.path.join(self.tmp, "s3")).start()
        self.addCleanup(lambda: self.s3.stop())

    def forwarder(self, **s3):
        self.spool = os.path.join(self.tmp, "spool")
        self.address = "127.0.0.1:%d" % hh.free_port()
        self.wire = RequestLineRecorder(("127.0.0.1", self.s3.port))
        self.addCleanup(self.wire.close)
        store = {"bucket": BUCKET, "endpoint": self.wire.endpoint, "region": "us-east-1", "path_style": True}
        store.update(s3)
        cfg = {"listen": self.address, "admin": {"address": "127.0.0.1:0"},
               "storage": {"spool": self.spool, "s3": store, "prefix": PREFIX + "/",
                           "segment": {"max_age": "300ms"}},
               "limits": {"max_batch_bytes": "32MiB"}}
        f = Forwarder(cfg, env=dict(S3RVER_CREDENTIALS))
        self.addCleanup(f.stop)
        f.start()
        return f

    def metric(self, f, name, **labels):
        return hh.metric_sum(f.metrics(), name, **labels)

    def test_upload_keeps_failed_segments_then_arrives_under_the_documented_keys(self):
        f = self.forwarder(multipart_threshold="5MiB", part_size="5MiB")
        small = [record("web", b"hello %d" % i) for i in range(120)] + [record("api.v2") for _ in range(30)]
        status, body = post(self.address, small)
        self.assertEqual(status, 200, body)

        # No bucket yet: every put fails, and the closed segments stay where they are.
        hh.wait_until(lambda: self.metric(f, "hawser_forwarder_uploads_total", result="failure") >= 2, timeout=30,
                      message="failed uploads while the bucket is missing")
        self.assertEqual(len(spool_segments(self.spool, ".closed")), 2, os.listdir(self.spool))
        self.assertEqual(self.metric(f, "hawser_forwarder_uploaded_records_total"), 0)
        self.assertEqual(self.metric(f, "hawser_forwarder_uploads_total", result="success"), 0)
        self.assertIn("NoSuchBucket", log_text(f))

        s3_client(self.s3.endpoint, "create-bucket", BUCKET)
        # A segment whose object (about 8 MiB of incompressible bodies) goes up in 5 MiB parts.
        big = [record("big", os.urandom(512 * 1024)) for _ in range(16)]
        status, body = post(self.address, big)
        self.assertEqual(status, 200, body)
        sent = small + big
        hh.wait_until(lambda: self.metric(f, "hawser_forwarder_uploaded_records_total") == len(sent)
                      and not spool_segments(self.spool, ".closed"), timeout=90,
                      message="every segment uploaded and removed from the spool")
        self.assertEqual(self.metric(f, "hawser_forwarder_uploads_total", result="success"), 3)

        dump = s3_client(self.s3.endpoint, "dump", BUCKET, PREFIX + "/")["objects"]
        self.assertEqual(len(dump), 3, [o["key"] for o in dump])
        today = time.gmtime()
        by_service = {}
        for o in dump:
            m = KEY.match(o["key"])
            self.assertIsNotNone(m, o["key"])
            self.assertEqual((int(m["y"]), int(m["m"]), int(m["d"])),
                             (today.tm_year, today.tm_mon, today.tm_mday), o["key"])
            self.assertEqual(o["content_type"], "application/gzip")
            by_service[m["service"]] = o
            for r in o["records"]:
                self.assertEqual(r["service"], m["service"])
        self.assertEqual(sorted(by_service), ["api.v2", "big", "web"])
        # The big segment went up in two 5 MiB parts (the calls as they went over the wire), the
        # others whole, and nothing was deleted (no upload aborted).
        big_key = "/%s/%s" % (BUCKET, by_service["big"]["key"])
        self.assertGreater(by_service["big"]["bytes"], 5 * 1024 * 1024)
        calls = [re.sub(r"uploadId=[^&]+", "uploadId=*", c) for c in self.wire.requests()]
        self.assertEqual([c for c in calls if c.startswith(("POST " + big_key, "PUT " + big_key))],
                         ["POST %s?uploads" % big_key,
                          "PUT %s?partNumber=1&uploadId=*" % big_key, "PUT %s?partNumber=2&uploadId=*" % big_key,
                          "POST %s?uploadId=*" % big_key], calls)
        self.assertIn("PUT /%s/%s" % (BUCKET, by_service["web"]["key"]), calls)
        self.assertFalse([c for c in calls if c.startswith("DELETE")], calls)

        stored = [r for o in dump for r in o["records"]]
        self.assertEqual(len(stored), self.metric(f, "hawser_forwarder_uploaded_records_total"))
        self.assertEqual(sorted(r["id"] for r in stored), sorted(r["id"] for r in sent))
        self.assertEqual({r["id"]: r["request"]["body"] for r in stored}, {r["id"]: r["request"]["body"] for r in sent})

        # The export command reads the bucket the same way.
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "capture", "export", "--from", "s3://%s/%s" % (BUCKET, PREFIX),
                                   "--endpoint", self.s3.endpoint, "--path-style", "--format", "ndjson",
                                   "--service", "web"], timeout=120, env=dict(S3RVER_CREDENTIALS))
        self.assertEqual(rc, 0, err)
        exported = [json.loads(line) for line in out.splitlines() if line.strip()]
        self.assertEqual(sorted(r["id"] for r in exported), sorted(r["id"] for r in sent if r["service"] == "web"))
        self.assertIn("exported 120 records from 3 files", err)

    def test_an_unknown_access_key_keeps_the_segment(self):
        self.s3.stop()
        self.s3 = S3rver(os.path.join(self.tmp, "s3b"), buckets=[BUCKET]).start()
        self.spool = os.path.join(self.tmp, "spool")
        self.address = "127.0.0.1:%d" % hh.free_port()
        cfg = {"listen": self.address, "admin": {"address": "127.0.0.1:0"},
               "storage": {"spool": self.spool, "segment": {"max_age": "300ms"},
                           "s3": {"bucket": BUCKET, "endpoint": self.s3.endpoint, "path_style": True}}}
        f = Forwarder(cfg, env={"AWS_ACCESS_KEY_ID": "AKIDNOTKNOWNHERE", "AWS_SECRET_ACCESS_KEY": "x",
                                "AWS_REGION": "us-east-1"})
        self.addCleanup(f.stop)
        f.start()
        status, _ = post(self.address, [record("web", b"x")])
        self.assertEqual(status, 200)
        hh.wait_until(lambda: self.metric(f, "hawser_forwarder_uploads_total", result="failure") >= 2, timeout=30,
                      message="uploads refused for an unknown access key")
        self.assertEqual(len(spool_segments(self.spool, ".closed")), 1)
        self.assertIn("InvalidAccessKeyId", log_text(f))
        self.assertNotIn("\"x\"", log_text(f))  # the secret is never logged
        self.assertEqual(s3_client(self.s3.endpoint, "dump", BUCKET, "")["objects"], [])

    def test_the_signature_is_the_aws_sdks(self):
        """What hawser sends, taken off the wire, signed again by the AWS SDK's own signer."""
        seen, lock = [], threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_PUT(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    seen.append((self.command, self.path, dict((k.lower(), v) for k, v in self.headers.items()), body))
                self.send_response(200)
                self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.spool = os.path.join(self.tmp, "spool")
        self.address = "127.0.0.1:%d" % hh.free_port()
        endpoint = "http://127.0.0.1:%d" % server.server_address[1]
        cfg = {"listen": self.address, "admin": {"address": "127.0.0.1:0"},
               "storage": {"spool": self.spool, "segment": {"max_age": "300ms"}, "prefix": "p q",
                           "s3": {"bucket": BUCKET, "endpoint": endpoint, "region": "eu-west-1"}}}
        creds = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
                 "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 "AWS_SESSION_TOKEN": "session-token-of-the-task-role"}
        f = Forwarder(cfg, env=creds)
        self.addCleanup(f.stop)
        f.start()
        sent = [record("web", b"signed %d" % i) for i in range(20)]
        self.assertEqual(post(self.address, sent)[0], 200)
        hh.wait_until(lambda: seen, timeout=30, message="the PUT")
        method, path, headers, body = seen[0]
        self.assertEqual(method, "PUT")
        # An IP endpoint is path style; the key is percent-encoded once.
        self.assertRegex(path, r"^/capture-test/p%20q/web/\d{4}/\d{2}/\d{2}/\d+-\d+\.ndjson\.gz$")
        self.assertEqual(headers["content-md5"], base64.b64encode(hashlib.md5(body).digest()).decode())
        self.assertEqual(headers["x-amz-content-sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(headers["x-amz-security-token"], creds["AWS_SESSION_TOKEN"])
        self.assertEqual(sorted(json.loads(l)["id"] for l in gzip.decompress(body).splitlines()),
                         sorted(r["id"] for r in sent))
        signed = re.search(r"SignedHeaders=([^,]+)", headers["authorization"]).group(1).split(";")
        self.assertEqual(signed, ["content-md5", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"])
        sdk = s3_client(None, "sign", json.dumps({
            "method": method, "path": path, "query": {}, "date": headers["x-amz-date"], "region": "eu-west-1",
            "access_key": creds["AWS_ACCESS_KEY_ID"], "secret_key": creds["AWS_SECRET_ACCESS_KEY"],
            "headers": {k: headers[k] for k in signed}}))
        self.assertEqual(headers["authorization"], sdk["authorization"])

    def test_s3_storage_needs_credentials_and_a_valid_bucket(self):
        cfg = {"storage": {"spool": os.path.join(self.tmp, "sp"), "s3": {"bucket": BUCKET}}}
        path = os.path.join(self.tmp, "f.yaml")
        with open(path, "w") as fh:
            fh.write(hh.to_yaml(cfg) + "\n")
        env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI")}
        rc, _, err = hh.run_cmd([hh.hawser_bin(), "forwarder", "--config", path], timeout=30, env=env)
        self.assertEqual(rc, 1, err)
        self.assertIn("storage.s3 needs AWS credentials", err)
        for bad, problem in (({"bucket": "Bad_Bucket"}, "storage.s3.bucket: not a valid S3 bucket name"),
                             ({"bucket": BUCKET, "endpoint": "s3.local"}, "storage.s3.endpoint: expected http"),
                             ({"bucket": BUCKET, "part_size": "1MiB"}, "storage.s3.part_size"),
                             ({"bucket": BUCKET, "colour": 1}, "storage.s3.colour: unknown key")):
            cfg["storage"]["s3"] = bad
            with open(path, "w") as fh:
                fh.write(hh.to_yaml(cfg) + "\n")
            rc, _, err = hh.run_cmd([hh.hawser_bin(), "forwarder", "--config", path, "--check"], timeout=30)
            self.assertEqual(rc, 2, err)
            self.assertIn(problem, err)
        cfg["storage"]["s3"] = {"bucket": BUCKET}
        cfg["storage"]["directory"] = os.path.join(self.tmp, "arch")
        with open(path, "w") as fh:
            fh.write(hh.to_yaml(cfg) + "\n")
        rc, _, err = hh.run_cmd([hh.hawser_bin(), "forwarder", "--config", path, "--check"], timeout=30)
        self.assertEqual(rc, 2, err)
        self.assertIn("exactly one of directory, s3 is required", err)


if __name__ == "__main__":
    unittest.main()
