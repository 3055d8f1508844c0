"""The AWS CLI session that docs/discovery.md shows, run as written against
`hawser registry`, with Debian's `awscli` package (the `test` profile of
scripts/setup installs it).

The commands are read from the documentation (the ```console block between the
`aws-cli-session` markers): every `$ ` line is run, in order, in one bash, with
only the registry's address changed (the documentation uses 127.0.0.1:8500).
What the CLI prints must be what the documentation shows, once the random ids
(namespace, service, operation) are masked. The registry requires SigV4
signatures by the documented throwaway access key, so the test also proves that
the CLI's requests are signed, that the `hawser@` in the endpoint URL never
reaches the Host header, and that every operation, DiscoverInstances included,
reached the registry.

Credentials and configuration never come from the real ~/.aws: HOME,
AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE point into a temporary directory.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from cloudmap_helpers import RegistryProcess

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "discovery.md"))
DOC_ADDRESS = "127.0.0.1:8500"
# The throwaway credentials of the documented session (its `export` line).
ACCESS_KEY, SECRET = "AKIDLOCAL", "local-secret"
STEP = "@@hawser-doc-step@@"
# Random ids the registry makes, as the documentation shows them.
IDS = [(re.compile(r"\bns-[0-9a-z]{16}\b"), "ns-ID"),
       (re.compile(r"\bsrv-[0-9a-z]{16}\b"), "srv-ID"),
       (re.compile(r"\b[0-9a-z]{32}-[0-9a-z]{8}\b"), "OPERATION-ID")]


def aws_cli():
    """Debian's AWS CLI (/usr/bin/aws from the awscli package) unless HAWSER_AWS_CLI
    names another; a different `aws` earlier on PATH (pip, pyenv) is not used."""
    path = os.environ.get("HAWSER_AWS_CLI") or "/usr/bin/aws"
    return path if os.access(path, os.X_OK) else None


def documented_session():
    """[(command, expected output)] from docs/discovery.md's aws-cli-session block."""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"<!-- aws-cli-session -->\s*```console\n(.*?)```\s*<!-- /aws-cli-session -->", text, re.S)
    if not m:
        raise AssertionError("docs/discovery.md has no aws-cli-session block")
    steps = []
    lines = m.group(1).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            raise AssertionError("output line before any command: %r" % line)
        cmd = line[2:]
        while cmd.endswith("\\"):
            i += 1
            cmd = cmd[:-1] + "\n" + lines[i]
        i += 1
        out = []
        while i < len(lines) and not lines[i].startswith("$ "):
            out.append(lines[i])
            i += 1
        steps.append((cmd, "\n".join(out).strip()))
    return steps


def mask(text):
    for pattern, placeholder in IDS:
        text = pattern.sub(placeholder, text)
    return text.strip()


def same_output(got, expected):
    got, expected = mask(got), mask(expected)
    try:
        return json.loads(got) == json.loads(expected)
    except ValueError:
        return got == expected


@unittest.skipUnless(aws_cli() and shutil.which("bash"), "Debian's awscli needed (scripts/setup test)")
class AwsCliSessionTest(unittest.TestCase):
    def test_documented_session(self):
        steps = documented_session()
        commands = [c for c, _ in steps]
        for op in ("create-http-namespace", "create-service", "register-instance", "discover-instances",
                   "deregister-instance"):
            self.assertTrue(any("aws servicediscovery " + op in c for c in commands),
                            "the documented session has no %s" % op)

        tmp = tempfile.mkdtemp(prefix="hawser-awscli-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reg = RegistryProcess(tmp, credentials=(ACCESS_KEY, SECRET), log_requests=True)
        self.addCleanup(reg.stop)
        reg.start()

        # One bash runs every command (shell variables carry ids from one to the next);
        # a marker line after each separates their outputs.
        script = ["set -euo pipefail"]
        for cmd in commands:
            script += [cmd.replace(DOC_ADDRESS, reg.address), "echo %s" % STEP]
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        env = {"PATH": os.path.dirname(aws_cli()) + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
               "HOME": home, "LANG": "C.UTF-8",
               "AWS_CONFIG_FILE": os.path.join(tmp, "aws-config"),
               "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "aws-credentials"),
               "AWS_PAGER": "", "AWS_EC2_METADATA_DISABLED": "true"}
        # No retries: a failure shows at once (the CLI starts slowly on a loaded machine).
        with open(env["AWS_CONFIG_FILE"], "w") as f:
            f.write("[default]\nmax_attempts = 1\n")
        p = subprocess.run(["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True,
                           timeout=480, stdin=subprocess.DEVNULL)
        outputs = p.stdout.split(STEP + "\n")
        ran = len(outputs) - 1
        if p.returncode != 0:
            self.fail("step %d (%s) failed with %d:\nstdout: %s\nstderr: %s" % (
                ran + 1, commands[min(ran, len(commands) - 1)], p.returncode, outputs[-1], p.stderr))
        self.assertEqual(ran, len(steps))
        for (cmd, expected), got in zip(steps, outputs):
            self.assertTrue(same_output(got, expected),
                            "`%s` printed:\n%s\nthe documentation shows:\n%s" % (cmd, got.strip(), expected))

        # Every request reached the registry, signed by the documented key.
        ops = [(d["operation"], d["status"], d["access_key"]) for d in reg.request_logs()]
        self.assertEqual([o for o, _, _ in ops],
                         ["CreateHttpNamespace", "GetOperation", "CreateService", "RegisterInstance",
                          "DiscoverInstances", "DeregisterInstance", "DiscoverInstances"], ops)
        self.assertTrue(all(s == 200 and k == ACCESS_KEY for _, s, k in ops), ops)

        # The registry's start-up line says which --endpoint-url the CLI needs.
        listening = [d for d in reg.json_lines() if d.get("msg") == "registry listening"]
        self.assertEqual(listening[0].get("aws_cli"),
                         "aws servicediscovery list-namespaces --endpoint-url http://hawser@" + reg.address)


if __name__ == "__main__":
    unittest.main()
