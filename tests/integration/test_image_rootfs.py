"""The container image's runtime tree (issue 17, acceptance 3).

scripts/image-rootfs builds the tree the Dockerfile's last stage holds; this test
runs hawser from it in a chroot, as uid 1337, configured the ECS way
(HAWSER_CONFIG_YAML) with a strict mTLS inbound listener, and runs App Mesh's
health check command inside the same tree, as ECS runs it inside the container.
Needs root (chroot)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import hawser_harness as hh

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
APP_MESH_CHECK = "curl -s http://localhost:9901/server_info | grep state | grep -q LIVE"
UID = 1337
TLS_DIR = "/etc/hawser/tls"   # inside the tree
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


def in_tree(root, *args, uid=UID, **kw):
    """Run a command inside the tree as `uid` -> (rc, stdout, stderr)."""
    return hh.run_cmd([CHROOT, "--userspec=%d:%d" % (uid, uid), root] + list(args), **kw)


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists(CHROOT), "needs root and chroot")
class ImageRootfs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hawser-rootfs-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.root = os.path.join(cls.tmp, "rootfs")
        rc, out, err = hh.run_cmd([os.path.join(REPO, "scripts", "image-rootfs"),
                                   "--binary", hh.hawser_bin(), cls.root], timeout=120)
        if rc != 0:
            raise AssertionError("image-rootfs failed (rc %d): %s %s" % (rc, out, err))
        _certs, cls.ids = hh.make_certs(os.path.join(cls.tmp, "certs"))
        cls.ca = _certs.ca_pem()
        cls.install_tls()
        cls.app = hh.start_fake(cls, "app", class_level=True)
        cls.proc = cls.start_sidecar()
        cls.admin_port = cls.wait_admin()

    @classmethod
    def install_tls(cls):
        """The responder's certificate, key and CA inside the tree, readable by uid 1337 only
        (what the init container of ecs/ leaves in the shared volume)."""
        dst = cls.root + TLS_DIR
        os.makedirs(dst)
        cert, key = cls.ids["responder"]
        for src, name in ((cert, "cert.pem"), (key, "key.pem"), (cls.ca, "ca.pem")):
            shutil.copyfile(src, os.path.join(dst, name))
            os.chown(os.path.join(dst, name), UID, UID)
            os.chmod(os.path.join(dst, name), 0o600)

    @classmethod
    def start_sidecar(cls):
        config = hh.base_config(
            node={"service": "responder", "namespace": "demo"},
            tls=hh.tls_block(TLS_DIR + "/cert.pem", TLS_DIR + "/key.pem", TLS_DIR + "/ca.pem"),
            inbound=[{"name": "responder", "listen": "127.0.0.1:0", "app": cls.app.address,
                      "authorization": {"allow": ["spiffe://demo/caller"]}}])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HAWSER_CONFIG_YAML": hh.to_yaml(config) + "\n"}
        proc = subprocess.Popen(
            [CHROOT, "--userspec=%d:%d" % (UID, UID), cls.root, "/usr/local/bin/hawser", "proxy",
             "--admin-address-path", "/tmp/admin-address"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        cls.stdout = hh.ProcessOutput(proc.stdout, "rootfs-stdout")
        cls.stderr = hh.ProcessOutput(proc.stderr, "rootfs-stderr")
        cls.addClassCleanup(cls.stop_sidecar, proc)
        return proc

    @classmethod
    def stop_sidecar(cls, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    @classmethod
    def wait_admin(cls):
        path = cls.root + "/tmp/admin-address"

        def bound():
            if cls.proc.poll() is not None:
                raise hh.Abort("hawser exited (rc %r): %s %s" % (
                    cls.proc.returncode, cls.stdout.snapshot()[-10:], cls.stderr.snapshot()[-10:]))
            with open(path) as f:
                m = re.fullmatch(r"127\.0\.0\.1:(\d+)", f.read().strip())
            return m and int(m.group(1))

        return hh.wait_until(bound, timeout=20, message="the admin address file in the tree")

    def health_check(self, port):
        """App Mesh's command, only the admin port changed, run inside the tree."""
        return in_tree(self.root, "/bin/sh", "-c", APP_MESH_CHECK.replace("9901", str(port)))[0]

    def test_the_ecs_health_check_passes_inside_the_tree(self):
        hh.wait_until(lambda: self.health_check(self.admin_port) == 0, timeout=20,
                      message="the App Mesh health check to exit 0")

    def test_the_health_check_fails_where_nothing_answers(self):
        # Otherwise the test above could pass on a command that always exits 0.
        self.assertNotEqual(self.health_check(hh.free_port()), 0)

    def test_the_sidecar_runs_as_1337(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)", f.read(), re.M).groups()
        self.assertEqual(uids, (str(UID), str(UID)))

    def test_mtls_through_the_inbound_listener(self):
        hh.wait_until(lambda: self.health_check(self.admin_port) == 0, timeout=20, message="LIVE")
        _st, _h, body = hh.http_request(("127.0.0.1", self.admin_port), "GET", "/listeners")
        addr = hh.parse_addr(next(l["address"] for l in json.loads(body)["listeners"]
                                  if l["name"] == "responder"))
        cert, key = self.ids["caller"]
        status, _h, _b = hh.tls_request(addr, hh.client_ssl_context(self.ca, cert, key), "GET",
                                        "/from-the-tree", headers={"Host": "responder"})
        self.assertEqual(status, 200)
        seen = self.app.requests_for("/from-the-tree")[-1]["h"]
        self.assertIn("URI=spiffe://demo/caller", seen.get("x-forwarded-client-cert", ""))

    def test_the_tree_holds_the_stripped_binary_and_its_closure(self):
        rc, out, _err = hh.run_cmd(["readelf", "-S", self.root + "/usr/local/bin/hawser"])
        self.assertEqual(rc, 0)
        self.assertNotIn(".symtab", out, "the binary in the tree is not stripped")
        for exe in ("/usr/local/bin/hawser", "/usr/bin/curl", "/bin/sh", "/bin/grep"):
            rc, out, err = in_tree(self.root, "/lib64/ld-linux-x86-64.so.2", "--list", exe, uid=0)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("not found", out, exe)
        rc, _out, _err = in_tree(self.root, "/bin/sh", "-c", "test -s /usr/lib/ssl/cert.pem && "
                                 "grep -q 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt")
        self.assertEqual(rc, 0, "the CA bundle is missing from the tree or its OpenSSL path")
        with open(self.root + "/etc/passwd") as f:
            self.assertIn("hawser:x:%d:%d:" % (UID, UID), f.read())

    def test_the_dockerfile_ships_this_tree(self):
        with open(os.path.join(REPO, "Dockerfile")) as f:
            text = f.read()
        final = text[text.rindex("\nFROM "):]
        self.assertRegex(final, r"\nFROM scratch\n")
        self.assertIn("COPY --from=build /rootfs /", final)
        self.assertIn("scripts/image-rootfs --binary /build/cmd/hawser /rootfs", text)
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", text)
        self.assertRegex(text, r"\nFROM debian:bookworm AS build\n")
        self.assertIn("USER %d:%d" % (UID, UID), final)
        self.assertIn("CMD " + APP_MESH_CHECK, final)
        self.assertEqual(set(re.search(r"\nEXPOSE ([0-9 ]+)\n", final).group(1).split()),
                         {"9901", "4140", "4143", "15000", "15001", "8888"})


if __name__ == "__main__":
    unittest.main()
