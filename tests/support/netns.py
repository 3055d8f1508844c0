"""Network namespaces a test owns: create, run code or processes inside, remove.

Everything here acts inside namespaces made with `ip netns add`; nothing touches
the host's own interfaces, addresses or rules.

  with_netns(name, fn, *args)  runs fn in a thread that joined the namespace
                               (setns(2) on that thread only): sockets it makes
                               live in the namespace even when used afterwards
                               from other threads (servers started there keep
                               serving there).
  ns_cmd(name, uid=None)       the argv prefix running a command inside it,
                               as `uid` when given (setpriv).
"""

import ctypes
import os
import shutil
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def unavailable_reason():
    """Why namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, iptables)"
    for tool in ("ip", "iptables", "iptables-save", "setpriv"):
        if not shutil.which(tool):
            return "no %s binary" % tool
    probe = "hawser-probe-%d" % os.getpid()
    try:
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10)
        if r.returncode != 0:
            return "ip netns add failed: %s" % r.stderr.decode().strip()
        r = subprocess.run(["ip", "netns", "exec", probe, "iptables", "-t", "nat", "-S", "OUTPUT"],
                           capture_output=True, timeout=10)
        if r.returncode != 0:
            return "iptables' nat table does not work in a network namespace: %s" % r.stderr.decode().strip()
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True, timeout=10)
    return None


def ns_cmd(name, uid=None):
    prefix = ["ip", "netns", "exec", name]
    if uid is not None:
        prefix += ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups", "--"]
    return prefix


def run(args, timeout=20, check=True):
    r = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError("%r -> %d: %s%s" % (args, r.returncode, r.stdout.decode(), r.stderr.decode()))
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def add(name):
    run(["ip", "netns", "add", name])


def delete(name):
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20)


def with_netns(name, fn, *args, **kw):
    """fn(*args, **kw) on a thread inside namespace `name`; returns its result or raises its exception."""
    box = {}

    def body():
        try:
            fd = os.open("/run/netns/%s" % name, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, "setns(%s): %s" % (name, os.strerror(err)))
            finally:
                os.close(fd)
            box["value"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=body, name="netns-%s" % name, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
