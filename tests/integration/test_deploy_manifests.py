"""The deployment manifests under ecs/ and charts/ (issue 17, acceptance 2).

Every JSON and YAML file parses; every hawser configuration they embed passes
`hawser check-config`; every environment variable given to hawser is one it
documents; the ECS containers start in the right order with App Mesh's health
check; the Helm chart renders (charts/render, Helm's engine) for its default
values and the overlays in charts/hawser/ci/, and what it renders passes a
schema check against Kubernetes' API models (tests/support/k8s_schema.py:
kubectl's client-side validation needs an API server for its schema, so it
cannot run here); the Terraform passes a structural check, `terraform fmt`,
and its provider-free containers module is evaluated and checked like the
JSON task definition. `terraform validate` needs the AWS provider, which runs
only when a local provider mirror has it (none can be downloaded here). The
capture forwarder (its ECS task and service, its Terraform module, the chart's
Deployment) is checked the same way, its configuration by `hawser forwarder
--check`; the FIS CPU-stress template with the SSM agent container and the
IAM policies AWS requires for it."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import hawser_harness as hh

if "/usr/lib/python3/dist-packages" not in sys.path:  # Debian's python3-yaml under pyenv's python
    sys.path.append("/usr/lib/python3/dist-packages")
import yaml  # noqa: E402

import k8s_schema  # noqa: E402

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ECS = os.path.join(REPO, "ecs")
CHART = os.path.join(REPO, "charts", "hawser")
TF = os.path.join(ECS, "terraform")
APP_MESH_CHECK = "curl -s http://localhost:9901/server_info | grep state | grep -q LIVE"
TF_ENV = {"TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
IAM_ALLOWED = {"sts:AssumeRole", "servicediscovery:DiscoverInstances", "servicediscovery:DiscoverInstancesRevision",
               "secretsmanager:GetSecretValue", "logs:CreateLogStream", "logs:PutLogEvents",
               # only with fis_managed_instance_role_arn: AWS FIS's SSM agent container registers the task
               "ssm:CreateActivation", "ssm:AddTagsToResource", "iam:PassRole"}
# The forwarder's task role: the archive, its certificate, its logs; ECS registers it in Cloud Map.
FORWARDER_IAM_ALLOWED = {"sts:AssumeRole", "s3:PutObject", "s3:AbortMultipartUpload", "secretsmanager:GetSecretValue",
                         "logs:CreateLogStream", "logs:PutLogEvents"}
FIS_ACTIONS = {"aws:ecs:stop-task", "aws:network:disrupt-connectivity", "aws:ecs:task-cpu-stress", "aws:fis:wait"}


def read(path):
    with open(path) as f:
        return f.read()


# The kinds of variable hawser reads (its config source, OpenTelemetry's, AWS credentials);
# a name counts only when the docs also name it. HTTP_PROXY and the like are the app's.
HAWSER_ENV = re.compile(r"HAWSER_CONFIG(_YAML)?|OTEL_[A-Z_]+|AWS_[A-Z_]+|ECS_CONTAINER_METADATA_URI_V4")


def documented_env():
    """The environment variables hawser's docs say it reads."""
    names = set()
    for doc in ("configuration.md", "discovery.md"):
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]{3,})(?:=[^`]*)?`", read(os.path.join(REPO, "docs", doc))))
    return {n for n in names if HAWSER_ENV.fullmatch(n)}


def run_check(args, text, via_env, file_option=()):
    """A hawser check on a document -> (rc, stderr): in HAWSER_CONFIG_YAML as ECS passes it, or in a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAWSER_CONFIG", "OTEL_"))}
    path = None
    if via_env:
        env["HAWSER_CONFIG_YAML"] = text
    else:
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        args = args + list(file_option) + [path]
    try:
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    finally:
        if path:
            os.unlink(path)
    return p.returncode, p.stderr


def check_config_text(text, via_env=False):
    """`hawser check-config` on a sidecar's document."""
    return run_check([hh.hawser_bin(), "check-config"], text, via_env)


def check_forwarder_config_text(text, via_env=False):
    """`hawser forwarder --check` on a forwarder's document."""
    return run_check([hh.hawser_bin(), "forwarder", "--check"], text, via_env, file_option=["--config"])


def check_logging_and_certificates(tc, containers):
    """Every container logs through the one FireLens router; hawser-tls runs tls-refresher.sh as it is."""
    routers = [c for c in containers if "firelensConfiguration" in c]
    tc.assertEqual(len(routers), 1)
    for c in containers:
        if c is not routers[0]:
            tc.assertEqual(c["logConfiguration"]["logDriver"], "awsfirelens", c["name"])
    tls = next(c for c in containers if c["name"] == "hawser-tls")
    tc.assertEqual(tls["command"], [read(os.path.join(ECS, "tls-refresher.sh"))])
    tc.assertIn("healthCheck", tls)


def check_forwarder_containers(tc, containers, ephemeral_gib):
    """What any forwarder task definition must hold (the JSON example and the Terraform's)."""
    by_name = {c["name"]: c for c in containers}
    fwd = by_name["forwarder"]
    tc.assertEqual(fwd["command"], ["forwarder"])
    env = {e["name"]: e["value"] for e in fwd.get("environment", [])}
    tc.assertLessEqual(set(env), documented_env(), "the forwarder gets a variable it does not read")
    rc, err = check_forwarder_config_text(env["HAWSER_CONFIG_YAML"], via_env=True)
    tc.assertEqual(rc, 0, err)
    config = yaml.safe_load(env["HAWSER_CONFIG_YAML"])
    tc.assertEqual(fwd["user"], "1337")
    tc.assertEqual(fwd["healthCheck"]["command"], ["CMD-SHELL", APP_MESH_CHECK])
    tc.assertEqual(config["admin"]["address"].rpartition(":")[2], "9901")
    tc.assertEqual(config["listen"], "0.0.0.0:8888", "sidecars send to forwarder.<namespace>:8888")
    ports = {p["containerPort"] for p in fwd["portMappings"]}
    tc.assertLessEqual({8888, 9901}, ports)
    tc.assertIn("s3", config["storage"], "on ECS the archive is S3: the task's storage goes with it")
    tc.assertTrue(config["authorization"]["allow"])
    # The drain uploads until drain_timeout; ECS kills the container at stopTimeout (120 s at most on Fargate).
    tc.assertLessEqual(fwd["stopTimeout"], 120)
    tc.assertGreater(fwd["stopTimeout"], int(config["drain_timeout"].rstrip("s")))
    mounts = {m["containerPath"]: m["sourceVolume"] for m in fwd["mountPoints"]}
    for key in ("cert", "key", "ca"):
        tc.assertIn(os.path.dirname(config["tls"][key]), mounts)
    spool_volume = mounts[config["storage"]["spool"]]
    tc.assertIn({"containerName": "hawser-tls", "condition": "HEALTHY"}, fwd["dependsOn"])
    # The volume is root's: spool-owner hands it to uid 1337 before the forwarder starts.
    owner = by_name["spool-owner"]
    tc.assertFalse(owner["essential"])
    tc.assertIn({"containerName": "spool-owner", "condition": "SUCCESS"}, fwd["dependsOn"])
    owner_mount = next(m for m in owner["mountPoints"] if m["sourceVolume"] == spool_volume)
    tc.assertIn("chown 1337:1337 %s" % owner_mount["containerPath"], owner["command"][0])
    spool_bytes = config["storage"]["max_spool_bytes"]
    tc.assertTrue(spool_bytes.endswith("GiB"))
    tc.assertLess(int(spool_bytes[:-3]), ephemeral_gib, "the spool must fit the task's ephemeral storage")
    check_logging_and_certificates(tc, containers)
    return config


def check_task_containers(tc, containers):
    """What any hawser task definition must hold (the JSON example and the Terraform's)."""
    by_name = {c["name"]: c for c in containers}
    hawser = by_name["hawser"]
    env = {e["name"]: e["value"] for e in hawser.get("environment", [])}
    tc.assertLessEqual(set(env), documented_env(), "hawser gets a variable it does not read")
    rc, err = check_config_text(env["HAWSER_CONFIG_YAML"], via_env=True)
    tc.assertEqual(rc, 0, err)
    config = yaml.safe_load(env["HAWSER_CONFIG_YAML"])
    tc.assertEqual(hawser["user"], "1337")
    tc.assertEqual(hawser["healthCheck"]["command"], ["CMD-SHELL", APP_MESH_CHECK])
    tc.assertEqual(config["admin"]["address"].rpartition(":")[2], "9901")
    tc.assertIn({"containerName": "hawser", "condition": "HEALTHY"}, by_name["app"]["dependsOn"])
    tc.assertIn({"containerName": "hawser-tls", "condition": "HEALTHY"}, hawser["dependsOn"])
    tc.assertGreater(hawser["stopTimeout"], int(config["drain_timeout"].rstrip("s")))
    mounts = {m["containerPath"]: m["sourceVolume"] for m in hawser["mountPoints"]}
    for key in ("cert", "key", "ca"):
        tc.assertIn(os.path.dirname(config["tls"][key]), mounts)
    ports = {p["containerPort"] for p in hawser["portMappings"]}
    tc.assertIn(int(config["inbound"][0]["listen"].rpartition(":")[2]), ports)
    app_env = {e["name"]: e["value"] for e in by_name["app"].get("environment", [])}
    tc.assertEqual(app_env.get("HTTP_PROXY"), "http://" + config["outbound"]["http_proxy"])
    tc.assertIn("169.254.170.2", app_env.get("NO_PROXY", ""), "the ECS credentials endpoint must bypass the proxy")
    check_logging_and_certificates(tc, containers)
    return config


def check_fargate_task(tc, td):
    """Fargate, awsvpc, and every mount on a volume of the task."""
    tc.assertEqual(td["networkMode"], "awsvpc")
    tc.assertEqual(td["requiresCompatibilities"], ["FARGATE"])
    volumes = {v["name"] for v in td["volumes"]}
    for c in td["containerDefinitions"]:
        for m in c.get("mountPoints", []):
            tc.assertIn(m["sourceVolume"], volumes)


class EveryFileParses(unittest.TestCase):
    def test_json_and_yaml_under_ecs_and_charts(self):
        seen = 0
        for root in (ECS, os.path.join(REPO, "charts")):
            for path in glob.glob(os.path.join(root, "**", "*"), recursive=True):
                if "/templates/" in path or "/.terraform" in path:
                    continue  # Go templates: checked by rendering them
                with self.subTest(path=os.path.relpath(path, REPO)):
                    if path.endswith(".json"):
                        json.loads(read(path))
                        seen += 1
                    elif path.endswith((".yaml", ".yml")):
                        list(yaml.safe_load_all(read(path)))
                        seen += 1
        self.assertGreaterEqual(seen, 10, "the manifests were not found")


class EcsTaskDefinition(unittest.TestCase):
    def setUp(self):
        self.td = json.loads(read(os.path.join(ECS, "task-definition.json")))

    def test_the_containers(self):
        config = check_task_containers(self, self.td["containerDefinitions"])
        self.assertEqual(config, yaml.safe_load(read(os.path.join(ECS, "hawser.yaml"))))

    def test_it_embeds_hawser_yaml_as_it_is(self):
        hawser = next(c for c in self.td["containerDefinitions"] if c["name"] == "hawser")
        self.assertEqual(hawser["environment"][0]["value"], read(os.path.join(ECS, "hawser.yaml")))

    def test_fargate_awsvpc_with_the_shared_volume(self):
        check_fargate_task(self, self.td)

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is not installed")
    def test_the_prometheus_scrape_config(self):
        rc, out, err = hh.run_cmd(["promtool", "check", "config", os.path.join(ECS, "prometheus.yml")])
        self.assertEqual(rc, 0, out + err)
        sd = yaml.safe_load(read(os.path.join(ECS, "prometheus.yml")))["scrape_configs"][0]["dns_sd_configs"][0]
        self.assertEqual(sd["port"], 9901)


class EcsForwarder(unittest.TestCase):
    def setUp(self):
        self.td = json.loads(read(os.path.join(ECS, "forwarder-task-definition.json")))

    def test_the_containers(self):
        config = check_forwarder_containers(self, self.td["containerDefinitions"],
                                            self.td["ephemeralStorage"]["sizeInGiB"])
        self.assertEqual(config, yaml.safe_load(read(os.path.join(ECS, "forwarder.yaml"))))
        rc, err = check_forwarder_config_text(read(os.path.join(ECS, "forwarder.yaml")))
        self.assertEqual(rc, 0, err)

    def test_it_embeds_forwarder_yaml_as_it_is(self):
        fwd = next(c for c in self.td["containerDefinitions"] if c["name"] == "forwarder")
        self.assertEqual(fwd["environment"][0]["value"], read(os.path.join(ECS, "forwarder.yaml")))

    def test_fargate_awsvpc_with_its_volumes(self):
        check_fargate_task(self, self.td)

    def test_the_service_is_registered_in_cloud_map(self):
        svc = json.loads(read(os.path.join(ECS, "forwarder-service.json")))
        self.assertEqual(svc["serviceName"], "forwarder")
        self.assertEqual(svc["taskDefinition"], self.td["family"])
        self.assertEqual(svc["launchType"], "FARGATE")
        self.assertTrue(svc["serviceRegistries"][0]["registryArn"].startswith("arn:aws:servicediscovery:"))
        self.assertEqual(svc["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"], "DISABLED")
        # A new task is up before the old one drains, so sidecars always have somewhere to send.
        self.assertEqual(svc["deploymentConfiguration"]["minimumHealthyPercent"], 100)

    def test_the_sidecar_sends_to_it(self):
        sidecar = yaml.safe_load(read(os.path.join(ECS, "hawser.yaml")))
        forwarder = yaml.safe_load(read(os.path.join(ECS, "forwarder.yaml")))
        namespace = sidecar["outbound"]["services"][0]["discovery"]["cloudmap"]["namespace"]
        self.assertTrue(sidecar["capture"]["enabled"])
        self.assertEqual(sidecar["capture"]["forwarder"], "forwarder.%s:8888" % namespace)
        self.assertNotIn("tls", sidecar["capture"], "mutual TLS, the forwarder proving spiffe://<namespace>/forwarder")
        identity = sidecar["node"]["identity"]
        self.assertTrue(any(re.fullmatch(a.replace("*", ".*"), identity) for a in forwarder["authorization"]["allow"]))
        rc, err = check_config_text(read(os.path.join(ECS, "hawser.yaml")))
        self.assertEqual(rc, 0, err)


class FisTemplates(unittest.TestCase):
    def test_each_template(self):
        # ssm-agent-container.json is the container cpu-stress needs in a task, not a template.
        names = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ECS, "fis", "*.json"))} - {"ssm-agent-container"}
        self.assertEqual(names, {"stop-tasks", "network-disruption", "cpu-stress", "certificate-rotation"})
        for name in names:
            with self.subTest(template=name):
                t = json.loads(read(os.path.join(ECS, "fis", name + ".json")))
                self.assertTrue(t["roleArn"].startswith("arn:aws:iam::"))
                self.assertTrue(t["stopConditions"])
                self.assertTrue(t["actions"])
                for action in t["actions"].values():
                    self.assertIn(action["actionId"], FIS_ACTIONS)
                    for target in action.get("targets", {}).values():
                        self.assertIn(target, t["targets"])

    def test_cpu_stress_has_what_aws_requires(self):
        """aws:ecs:task-cpu-stress runs through an SSM agent container in the target tasks, which
        registers the task as a managed instance tagged with its ARN (AWS FIS user guide,
        "Use the AWS FIS aws:ecs:task actions"), with IAM on three roles."""
        fis = os.path.join(ECS, "fis")
        t = json.loads(read(os.path.join(fis, "cpu-stress.json")))
        action = t["actions"]["stressCpu"]
        self.assertEqual(action["actionId"], "aws:ecs:task-cpu-stress")
        self.assertLessEqual(set(action["parameters"]), {"duration", "percent", "workers", "installDependencies"})
        self.assertRegex(action["parameters"]["duration"], r"^PT\d+[MS]$")
        self.assertTrue(0 < int(action["parameters"]["percent"]) <= 100)
        target = t["targets"][action["targets"]["Tasks"]]
        self.assertEqual(target["resourceType"], "aws:ecs:task")
        td = json.loads(read(os.path.join(ECS, "task-definition.json")))
        self.assertEqual(td["family"], "%s-%s" % (target["parameters"]["cluster"], target["parameters"]["service"]))

        agent = json.loads(read(os.path.join(fis, "ssm-agent-container.json")))
        self.assertEqual(agent["name"], "amazon-ssm-agent")
        self.assertTrue(agent["image"].startswith("public.ecr.aws/amazon-ssm-agent/amazon-ssm-agent:"))
        self.assertFalse(agent["essential"], "the task serves without it")
        self.assertEqual(agent["command"], [read(os.path.join(fis, "ssm-agent.sh"))])
        script = agent["command"][0]
        for tag in ("ECS_TASK_ARN", "ECS_TASK_AVAILABILITY_ZONE", "FAULT_INJECTION_SIDECAR"):
            self.assertIn("Key=%s," % tag, script)
        self.assertIn("delete-activation", script)
        self.assertIn("deregister-managed-instance", script)
        rc, _out, err = hh.run_cmd(["sh", "-n", os.path.join(fis, "ssm-agent.sh")])
        self.assertEqual(rc, 0, err)
        role_name = {e["name"]: e["value"] for e in agent["environment"]}["MANAGED_INSTANCE_ROLE_NAME"]
        # Its log lines go through the task's FireLens router like the others'.
        self.assertEqual(agent["logConfiguration"]["logDriver"], "awsfirelens")
        self.assertIn({"containerName": "log-router", "condition": "START"}, agent["dependsOn"])

        def actions(name):
            doc = json.loads(read(os.path.join(fis, "iam", name)))
            self.assertEqual(doc["Version"], "2012-10-17")
            return {a: st for st in doc["Statement"] for a in
                    (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}

        self.assertEqual(set(actions("fis-role-cpu-stress.json")),
                         {"ecs:DescribeTasks", "ssm:SendCommand", "ssm:ListCommands", "ssm:CancelCommand"})
        task = actions("task-role-ssm.json")
        self.assertEqual(set(task), {"ssm:CreateActivation", "ssm:AddTagsToResource", "iam:PassRole"})
        self.assertEqual(task["iam:PassRole"]["Resource"].rpartition("/")[2], role_name,
                         "iam:PassRole only on the managed-instance role the container names")
        self.assertEqual(set(actions("managed-instance-role.json")),
                         {"ssm:DeleteActivation", "ssm:DeregisterManagedInstance"})
        trust = json.loads(read(os.path.join(fis, "iam", "managed-instance-trust.json")))["Statement"][0]
        self.assertEqual((trust["Principal"]["Service"], trust["Action"]), ("ssm.amazonaws.com", "sts:AssumeRole"))
        # aws:ecs:task actions do not work with ECS Exec on.
        svc = json.loads(read(os.path.join(ECS, "forwarder-service.json")))
        self.assertFalse(svc.get("enableExecuteCommand", False))
        self.assertNotIn("enable_execute_command", read(os.path.join(TF, "main.tf")))

    def test_the_rotation_script_updates_the_task_definitions_secrets(self):
        td = json.loads(read(os.path.join(ECS, "task-definition.json")))
        tls = next(c for c in td["containerDefinitions"] if c["name"] == "hawser-tls")
        prefix = re.search(r"prefix=\$\{SECRET_PREFIX:-([^}]+)\}", read(os.path.join(ECS, "fis", "rotate-certificate.sh")))
        for e in tls["environment"]:
            if e["name"] in ("TLS_CERT_SECRET", "TLS_KEY_SECRET"):
                self.assertIn(":secret:%s/" % prefix.group(1), e["value"])
        rc, _out, err = hh.run_cmd(["sh", "-n", os.path.join(ECS, "fis", "rotate-certificate.sh")])
        self.assertEqual(rc, 0, err)
        rc, _out, err = hh.run_cmd(["sh", "-n", os.path.join(ECS, "tls-refresher.sh")])
        self.assertEqual(rc, 0, err)


def hcl_blocks(path):
    """(kind, labels) of the top-level blocks of a .tf file, after checking its braces balance."""
    text = re.sub(r'"(\\.|[^"\\])*"', '""', re.sub(r"(?m)^\s*#.*$", "", read(path)))
    depth, blocks = 0, []
    for line in text.splitlines():
        m = re.match(r'\s*(resource|data|variable|output|module|provider|locals|terraform)\b', line)
        if m and depth == 0:
            blocks.append(m.group(1))
        depth += line.count("{") - line.count("}")
        if depth < 0:
            raise AssertionError("%s: a } without its {" % path)
    if depth:
        raise AssertionError("%s: %d unclosed {" % (path, depth))
    return blocks


class Terraform(unittest.TestCase):
    FORWARDER = os.path.join(TF, "forwarder")
    MODULES = (TF, os.path.join(TF, "containers"), os.path.join(TF, "example"), FORWARDER,
               os.path.join(TF, "forwarder", "containers"))

    def module_text(self, d):
        return "\n".join(read(p) for p in sorted(glob.glob(os.path.join(d, "*.tf"))))

    def declared(self, d, kind):
        return set(re.findall(r'(?m)^%s "([^"]+)"' % kind, self.module_text(d)))

    def test_structure(self):
        for d in self.MODULES:
            with self.subTest(module=os.path.relpath(d, REPO)):
                for p in glob.glob(os.path.join(d, "*.tf")):
                    hcl_blocks(p)
                text = self.module_text(d)
                self.assertLessEqual(set(re.findall(r"\bvar\.([a-z_]+)", text)), self.declared(d, "variable"))
                declared = set(re.findall(r'(?m)^(?:resource|data) "([a-z0-9_]+)" "([a-z0-9_]+)"', text))
                for ref in set(re.findall(r"\b(aws_[a-z0-9_]+)\.([a-z0-9_]+)\.", text)):
                    self.assertIn(ref, declared, "a reference to an undeclared resource")

    def test_module_calls_pass_declared_and_required_inputs(self):
        calls = 0
        for caller in self.MODULES:
            for block in re.findall(r'(?ms)^module "[^"]+" \{\n(.*?)\n\}', self.module_text(caller)):
                calls += 1
                callee = os.path.normpath(os.path.join(caller, re.search(r'source\s*=\s*"([^"]+)"', block).group(1)))
                passed = set(re.findall(r"(?m)^  ([a-z_]+)\s*=", block)) - {"source", "for_each", "count"}
                callee_text = self.module_text(callee)
                names = self.declared(callee, "variable")
                with_default = set(re.findall(r'(?ms)^variable "([^"]+)" \{[^}]*?default\s*=', callee_text))
                with self.subTest(caller=os.path.relpath(caller, REPO), callee=os.path.relpath(callee, REPO)):
                    self.assertLessEqual(passed, names, "an input the callee does not declare")
                    self.assertLessEqual(names - with_default, passed, "a required input is missing")
        self.assertGreaterEqual(calls, 4)

    def iam_actions(self, path):
        actions = set()
        for lst in re.findall(r"actions\s*=\s*\[([^\]]*)\]", read(path)):
            actions |= set(re.findall(r'"([^"]+)"', lst))
        return actions

    def test_iam_actions_are_least_privilege(self):
        for path, allowed in ((os.path.join(TF, "iam.tf"), IAM_ALLOWED),
                              (os.path.join(self.FORWARDER, "iam.tf"), FORWARDER_IAM_ALLOWED)):
            with self.subTest(path=os.path.relpath(path, REPO)):
                actions = self.iam_actions(path)
                self.assertTrue(actions)
                self.assertLessEqual(actions, allowed)
                self.assertNotIn("*", "".join(actions))

    def test_the_forwarder_may_put_only_under_its_prefix(self):
        text = read(os.path.join(self.FORWARDER, "iam.tf"))
        stmt = re.search(r'sid\s*=\s*"CaptureArchive"(.*?)\n  \}', text, re.S).group(1)
        self.assertEqual(set(re.findall(r'"(s3:[A-Za-z]+)"', stmt)), {"s3:PutObject", "s3:AbortMultipartUpload"})
        self.assertIn('"arn:aws:s3:::${var.bucket_name}/${local.object_pattern}"', stmt)
        self.assertIn('"${trimsuffix(var.prefix, "/")}/*"', read(os.path.join(self.FORWARDER, "main.tf")))
        # Registered by ECS (service_registries), discovering nothing: no Cloud Map action in the task role.
        self.assertNotIn("servicediscovery:", text)
        self.assertIn("service_registries", read(os.path.join(self.FORWARDER, "main.tf")))

    @unittest.skipUnless(shutil.which("terraform"), "no terraform binary")
    def test_terraform_fmt(self):
        rc, out, err = hh.run_cmd(["terraform", "fmt", "-check", "-recursive", "-diff", TF], env=TF_ENV)
        self.assertEqual(rc, 0, out + err)

    def evaluate(self, module, inputs, output):
        """A provider-free module evaluated offline by Terraform, as the root module would; -> the output."""
        tmp = tempfile.mkdtemp(prefix="hawser-tf-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        source = os.path.relpath(module, tmp)
        with open(os.path.join(tmp, "main.tf"), "w") as f:
            f.write('module "c" {\n  source = "%s"\n' % source + "".join("  %s = %s\n" % kv for kv in inputs.items()) +
                    '}\noutput "out" { value = module.c.%s }\n' % output)
        for args in (["init", "-input=false", "-backend=false"], ["apply", "-auto-approve", "-input=false"]):
            rc, out, err = hh.run_cmd(["terraform", "-chdir=" + tmp] + args, timeout=120, env=TF_ENV)
            self.assertEqual(rc, 0, out + err)
        rc, out, err = hh.run_cmd(["terraform", "-chdir=" + tmp, "output", "-raw", "out"], env=TF_ENV)
        self.assertEqual(rc, 0, err)
        return out

    CALLER = {"service_name": '"caller"', "mesh_namespace": '"demo"', "cloudmap_namespace": '"demo.local"',
              "region": '"us-east-1"', "app_image": '"app:1"', "hawser_image": '"hawser:0.1.0"',
              "app_port": "8080", "upstreams": '["responder", "stock"]', "allow": '["spiffe://demo/*"]',
              "tls_secret_arns": '{cert = "c", key = "k", ca = "a"}', "tls_refresh_seconds": "60",
              "log_group_name": '"/ecs/demo/caller"', "capture_forwarder": '""',
              "fis_managed_instance_role_name": '""'}

    @unittest.skipUnless(shutil.which("terraform"), "no terraform binary")
    def test_the_containers_module_evaluated(self):
        out = self.evaluate(os.path.join(TF, "containers"), self.CALLER, "container_definitions")
        containers = json.loads(out)
        config = check_task_containers(self, containers)
        self.assertEqual([s["name"] for s in config["outbound"]["services"]], ["responder", "stock"])
        self.assertEqual(config["inbound"][0]["authorization"]["allow"], ["spiffe://demo/*"])
        self.assertNotIn("capture", config)
        self.assertNotIn("amazon-ssm-agent", [c["name"] for c in containers], "only when FIS is asked for")

    @unittest.skipUnless(shutil.which("terraform"), "no terraform binary")
    def test_the_containers_module_with_capture_and_fis(self):
        inputs = dict(self.CALLER, capture_forwarder='"forwarder.demo.local:8888"',
                      fis_managed_instance_role_name='"demo-fis-managed-instance"')
        containers = json.loads(self.evaluate(os.path.join(TF, "containers"), inputs, "container_definitions"))
        config = check_task_containers(self, containers)
        self.assertEqual(config["capture"], {"enabled": True, "forwarder": "forwarder.demo.local:8888"})
        agent = next(c for c in containers if c["name"] == "amazon-ssm-agent")
        self.assertEqual(agent["environment"], [{"name": "MANAGED_INSTANCE_ROLE_NAME",
                                                 "value": "demo-fis-managed-instance"}])
        self.assertEqual(agent["command"], [read(os.path.join(ECS, "fis", "ssm-agent.sh"))])
        self.assertEqual(agent["logConfiguration"]["options"]["log_group_name"], "/ecs/demo/caller")

    @unittest.skipUnless(shutil.which("terraform"), "no terraform binary")
    def test_the_forwarder_containers_module_evaluated(self):
        inputs = {"mesh_namespace": '"demo"', "region": '"eu-west-1"', "hawser_image": '"hawser:0.1.0"',
                  "bucket": '"demo-capture"', "prefix": '"capture"', "allow": "[]", "max_spool_bytes": '"16GiB"',
                  "tls_secret_arns": '{cert = "c", key = "k", ca = "a"}', "tls_refresh_seconds": "60",
                  "log_group_name": '"/ecs/demo/forwarder"'}
        module = os.path.join(self.FORWARDER, "containers")
        containers = json.loads(self.evaluate(module, inputs, "container_definitions"))
        gib = json.loads(read(os.path.join(ECS, "forwarder-task-definition.json")))["ephemeralStorage"]["sizeInGiB"]
        config = check_forwarder_containers(self, containers, gib)
        self.assertEqual(config["storage"]["s3"], {"bucket": "demo-capture", "region": "eu-west-1"})
        self.assertEqual(config["storage"]["prefix"], "capture")
        self.assertEqual(config["authorization"]["allow"], ["spiffe://demo/*"])
        self.assertEqual(next(c for c in containers if c["name"] == "forwarder")["image"], "hawser:0.1.0")

    def test_terraform_validate_with_a_local_provider(self):
        mirror = os.path.expanduser("~/.terraform.d/plugins/registry.terraform.io/hashicorp/aws")
        if not (shutil.which("terraform") and os.path.isdir(mirror)):
            self.skipTest("terraform validate needs the AWS provider in %s (nothing is downloaded)" % mirror)
        tmp = tempfile.mkdtemp(prefix="hawser-tfv-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        shutil.copytree(TF, os.path.join(tmp, "m"))
        d = os.path.join(tmp, "m")
        for args in (["init", "-input=false", "-backend=false", "-plugin-dir=" + os.path.dirname(os.path.dirname(
                os.path.dirname(mirror)))], ["validate"]):
            rc, out, err = hh.run_cmd(["terraform", "-chdir=" + d] + args, timeout=300, env=TF_ENV)
            self.assertEqual(rc, 0, out + err)


class HelmChart(unittest.TestCase):
    OVERLAYS = ("ci/example-values.yaml", "ci/monitoring-values.yaml", "ci/forwarder-values.yaml")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hawser-chart-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.render_bin = os.path.join(cls.tmp, "render")
        env = {"GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOPROXY": "off", "GOFLAGS": "",
               "GOCACHE": os.path.join(cls.tmp, "gocache")}
        rc, out, err = hh.run_cmd(["go", "build", "-o", cls.render_bin, os.path.join(REPO, "charts", "render", "main.go")],
                                  timeout=300, env=env)
        if rc != 0:
            raise AssertionError("building charts/render failed (scripts/setup installs golang-go and sprig): "
                                 + out + err)

    def render(self, *overlays, expect_ok=True):
        args = [self.render_bin, "--name", "orders", "--namespace", "shop"]
        for o in overlays:
            args += ["-f", o if os.path.isabs(o) else os.path.join(CHART, o)]
        rc, out, err = hh.run_cmd(args + [CHART])
        if expect_ok:
            self.assertEqual(rc, 0, err)
            return [d for d in yaml.safe_load_all(out) if d]
        return rc, err

    def test_renders_and_validates(self):
        for overlays in ((),) + tuple((o,) for o in self.OVERLAYS):
            with self.subTest(values=overlays or "defaults"):
                docs = self.render(*overlays)
                kinds = [d["kind"] for d in docs]
                self.assertIn("ConfigMap", kinds)
                for d in docs:
                    self.assertEqual(k8s_schema.validate(d), [], d["kind"])
                self.check_together(docs)

    def check_together(self, docs):
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], []).append(d)
        sidecar_cm = next(c for c in by_kind["ConfigMap"] if "hawser.yaml" in c["data"])
        text = sidecar_cm["data"]["hawser.yaml"]
        rc, err = check_config_text(text)
        self.assertEqual(rc, 0, err + text)
        config = yaml.safe_load(text)
        admin_port = config["admin"]["address"].rpartition(":")[2]
        forwarders = [d for d in by_kind.get("Deployment", [])
                      if any(c["name"] == "forwarder" for c in d["spec"]["template"]["spec"]["containers"])]
        for dep in forwarders:
            self.check_forwarder(dep, by_kind, config)
        for dep in by_kind.get("Deployment", []):
            if dep in forwarders:
                continue
            pod = dep["spec"]["template"]
            self.assertLessEqual(dep["spec"]["selector"]["matchLabels"].items(), pod["metadata"]["labels"].items())
            spec = pod["spec"]
            hawser = next(c for c in spec["containers"] if c["name"] == "hawser")
            self.assertLessEqual({e["name"] for e in hawser.get("env", [])}, documented_env())
            self.assertIn("localhost:%s/server_info | grep state | grep -q LIVE" % admin_port,
                          hawser["livenessProbe"]["exec"]["command"][-1])
            self.assertEqual(hawser["securityContext"]["runAsUser"], 1337)
            volumes = {v["name"]: v for v in spec["volumes"]}
            for m in hawser["volumeMounts"]:
                self.assertIn(m["name"], volumes)
            self.assertEqual(volumes["hawser-config"]["configMap"]["name"], sidecar_cm["metadata"]["name"])
            if "tls" in config:
                mount = next(m["mountPath"] for m in hawser["volumeMounts"] if m["name"] == "hawser-tls")
                files = {mount + "/" + i["path"] for i in volumes["hawser-tls"]["secret"]["items"]}
                self.assertLessEqual({config["tls"][k] for k in ("cert", "key", "ca")}, files)
            ports = {p["name"] for c in spec["containers"] for p in c.get("ports", [])}
            for svc in by_kind.get("Service", []):
                if svc["spec"]["selector"].get("app.kubernetes.io/component") == "forwarder":
                    continue
                self.assertLessEqual(svc["spec"]["selector"].items(), pod["metadata"]["labels"].items())
                for p in svc["spec"]["ports"]:
                    self.assertIn(p["targetPort"], ports)
        for sm in by_kind.get("ServiceMonitor", []):
            self.assertTrue(config["admin"]["address"].startswith("0.0.0.0:"))
            svc_ports = {p["name"] for s in by_kind.get("Service", []) for p in s["spec"]["ports"]}
            self.assertIn(sm["spec"]["endpoints"][0]["port"], svc_ports)

    def check_forwarder(self, dep, by_kind, sidecar_config):
        pod = dep["spec"]["template"]
        self.assertLessEqual(dep["spec"]["selector"]["matchLabels"].items(), pod["metadata"]["labels"].items())
        spec = pod["spec"]
        fwd = next(c for c in spec["containers"] if c["name"] == "forwarder")
        self.assertEqual(fwd["args"][:2], ["forwarder", "--config"])
        self.assertLessEqual({e["name"] for e in fwd.get("env", [])}, documented_env())
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in fwd["volumeMounts"]}
        config_dir, _, config_file = fwd["args"][2].rpartition("/")
        cm = next(c for c in by_kind["ConfigMap"] if c["metadata"]["name"] == volumes[mounts[config_dir]]["configMap"]["name"])
        text = cm["data"][config_file]
        rc, err = check_forwarder_config_text(text)
        self.assertEqual(rc, 0, err + text)
        config = yaml.safe_load(text)
        self.assertEqual(fwd["securityContext"]["runAsUser"], 1337)
        admin_port = config["admin"]["address"].rpartition(":")[2]
        self.assertIn("localhost:%s/server_info | grep state | grep -q LIVE" % admin_port,
                      fwd["livenessProbe"]["exec"]["command"][-1])
        drain = int(config["drain_timeout"].rstrip("s"))
        self.assertGreater(spec["terminationGracePeriodSeconds"], drain)
        # The spool (and an archive directory) live on the volume, not the read-only root.
        self.assertTrue(fwd["securityContext"]["readOnlyRootFilesystem"])
        spool_mount = next(p for p in mounts if config["storage"]["spool"].startswith(p + "/"))
        spool = volumes[mounts[spool_mount]]
        if "directory" in config["storage"]:
            self.assertIn("persistentVolumeClaim", spool, "an archive directory on an emptyDir goes with the pod")
        if "persistentVolumeClaim" in spool:
            claims = {c["metadata"]["name"] for c in by_kind["PersistentVolumeClaim"]}
            self.assertIn(spool["persistentVolumeClaim"]["claimName"], claims)
            self.assertEqual(dep["spec"]["replicas"], 1)
            self.assertEqual(dep["spec"]["strategy"]["type"], "Recreate")
        if "tls" in config:
            mount = next(p for p, n in mounts.items() if n == "hawser-tls")
            files = {mount + "/" + i["path"] for i in volumes["hawser-tls"]["secret"]["items"]}
            self.assertLessEqual({config["tls"][k] for k in ("cert", "key", "ca")}, files)
        ports = {p["name"]: p["containerPort"] for p in fwd["ports"]}
        self.assertEqual(ports["forwarder"], int(config["listen"].rpartition(":")[2]))
        svc = next(s for s in by_kind["Service"] if s["metadata"]["name"] == dep["metadata"]["name"])
        self.assertLessEqual(svc["spec"]["selector"].items(), pod["metadata"]["labels"].items())
        self.assertEqual([p["targetPort"] for p in svc["spec"]["ports"]], ["forwarder"])
        # The sidecar's capture reaches this Service, with TLS exactly when the forwarder has it.
        if "capture" in sidecar_config:
            host, _, port = sidecar_config["capture"]["forwarder"].rpartition(":")
            self.assertEqual(host.split(".")[:2], [svc["metadata"]["name"], "shop"])
            self.assertEqual(int(port), svc["spec"]["ports"][0]["port"])
            self.assertEqual("tls" in sidecar_config, "tls" in config)
            identity = sidecar_config["node"]["identity"]
            if "authorization" in config:
                self.assertTrue(any(re.fullmatch(a.replace("*", ".*"), identity)
                                    for a in config["authorization"]["allow"]))

    def test_forwarder_storage_choices(self):
        docs = self.render("ci/forwarder-values.yaml")
        self.assertIn("PersistentVolumeClaim", [d["kind"] for d in docs])
        for text, expect in (("forwarder: {enabled: true, storage: {s3: {bucket: capture-b}}}\n", "emptyDir"),
                             ("forwarder: {enabled: true, storage: {persistent: true}}\n", "directory")):
            with self.subTest(values=text):
                overlay = os.path.join(self.tmp, "f.yaml")
                with open(overlay, "w") as f:
                    f.write(text)
                docs = self.render(overlay)
                for d in docs:
                    self.assertEqual(k8s_schema.validate(d), [], d["kind"])
                self.check_together(docs)
                dep = next(d for d in docs if d["kind"] == "Deployment")
                cm = next(d for d in docs if d["kind"] == "ConfigMap" and "forwarder.yaml" in d["data"])
                vols = json.dumps(dep["spec"]["template"]["spec"]["volumes"]) + cm["data"]["forwarder.yaml"]
                self.assertIn(expect, vols)
        for text, problem in (("forwarder: {enabled: true}\n", "needs forwarder.storage.persistent"),
                              ("forwarder: {enabled: true, replicas: 2, storage: {persistent: true}}\n",
                               "forwarder.replicas must be 1")):
            with self.subTest(values=text):
                overlay = os.path.join(self.tmp, "f.yaml")
                with open(overlay, "w") as f:
                    f.write(text)
                rc, err = self.render(overlay, expect_ok=False)
                self.assertNotEqual(rc, 0)
                self.assertIn(problem, err)

    def test_the_default_values_render_the_configmap_only(self):
        self.assertEqual([d["kind"] for d in self.render()], ["ConfigMap"])

    def test_a_servicemonitor_needs_the_admin_exposed(self):
        overlay = os.path.join(self.tmp, "sm.yaml")
        with open(overlay, "w") as f:
            f.write("serviceMonitor: {enabled: true}\n")
        rc, err = self.render(overlay, expect_ok=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("admin.exposed", err)

    def test_every_value_is_documented(self):
        readme = read(os.path.join(CHART, "README.md"))

        def paths(node, prefix=""):
            for k, v in node.items():
                p = prefix + k
                if isinstance(v, dict) and v:
                    yield from paths(v, p + ".")
                else:
                    yield p

        values = yaml.safe_load(read(os.path.join(CHART, "values.yaml")))
        missing = [p for p in paths(values) if "`%s`" % p not in readme and not p.rpartition(".")[0].endswith(
                   ("resources.requests", "resources.limits"))]
        self.assertEqual(missing, [], "values not described in charts/hawser/README.md")
        for overlay in self.OVERLAYS:
            self.assertIn(overlay, readme)
