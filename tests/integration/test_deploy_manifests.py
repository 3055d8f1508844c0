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
only when a local provider mirror has it (none can be downloaded here)."""

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
               "secretsmanager:GetSecretValue", "logs:CreateLogStream", "logs:PutLogEvents"}
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


def check_config_text(text, via_env=False):
    """`hawser check-config` on a document -> (rc, stderr); via_env as ECS passes it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAWSER_CONFIG", "OTEL_"))}
    if via_env:
        env["HAWSER_CONFIG_YAML"] = text
        args = [hh.hawser_bin(), "check-config"]
    else:
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        args = [hh.hawser_bin(), "check-config", path]
    try:
        p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    finally:
        if not via_env:
            os.unlink(path)
    return p.returncode, p.stderr


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
    tc.assertIn("healthCheck", by_name["hawser-tls"])
    tc.assertGreater(hawser["stopTimeout"], int(config["drain_timeout"].rstrip("s")))
    mounts = {m["containerPath"]: m["sourceVolume"] for m in hawser["mountPoints"]}
    for key in ("cert", "key", "ca"):
        tc.assertIn(os.path.dirname(config["tls"][key]), mounts)
    ports = {p["containerPort"] for p in hawser["portMappings"]}
    tc.assertIn(int(config["inbound"][0]["listen"].rpartition(":")[2]), ports)
    app_env = {e["name"]: e["value"] for e in by_name["app"].get("environment", [])}
    tc.assertEqual(app_env.get("HTTP_PROXY"), "http://" + config["outbound"]["http_proxy"])
    tc.assertIn("169.254.170.2", app_env.get("NO_PROXY", ""), "the ECS credentials endpoint must bypass the proxy")
    routers = [c for c in containers if "firelensConfiguration" in c]
    tc.assertEqual(len(routers), 1)
    for c in containers:
        if c is not routers[0]:
            tc.assertEqual(c["logConfiguration"]["logDriver"], "awsfirelens", c["name"])
    tc.assertEqual(by_name["hawser-tls"]["command"], [read(os.path.join(ECS, "tls-refresher.sh"))])
    return config


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
        self.assertEqual(self.td["networkMode"], "awsvpc")
        self.assertEqual(self.td["requiresCompatibilities"], ["FARGATE"])
        volumes = {v["name"] for v in self.td["volumes"]}
        for c in self.td["containerDefinitions"]:
            for m in c.get("mountPoints", []):
                self.assertIn(m["sourceVolume"], volumes)

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian's prometheus) is not installed")
    def test_the_prometheus_scrape_config(self):
        rc, out, err = hh.run_cmd(["promtool", "check", "config", os.path.join(ECS, "prometheus.yml")])
        self.assertEqual(rc, 0, out + err)
        sd = yaml.safe_load(read(os.path.join(ECS, "prometheus.yml")))["scrape_configs"][0]["dns_sd_configs"][0]
        self.assertEqual(sd["port"], 9901)


class FisTemplates(unittest.TestCase):
    def test_each_template(self):
        names = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ECS, "fis", "*.json"))}
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
    MODULES = (TF, os.path.join(TF, "containers"), os.path.join(TF, "example"))

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
        for caller, callee in ((TF, os.path.join(TF, "containers")), (os.path.join(TF, "example"), TF)):
            text = self.module_text(caller)
            block = re.search(r'module "[^"]+" \{\n(.*?)\n\}', text, re.S).group(1)
            passed = set(re.findall(r"(?m)^  ([a-z_]+)\s*=", block)) - {"source", "for_each"}
            callee_text = self.module_text(callee)
            names = self.declared(callee, "variable")
            with_default = set(re.findall(r'(?ms)^variable "([^"]+)" \{[^}]*?default\s*=', callee_text))
            self.assertLessEqual(passed, names, "%s passes an input %s does not declare" % (caller, callee))
            self.assertLessEqual(names - with_default, passed, "a required input is missing")

    def test_iam_actions_are_least_privilege(self):
        actions = set()
        for lst in re.findall(r"actions\s*=\s*\[([^\]]*)\]", read(os.path.join(TF, "iam.tf"))):
            actions |= set(re.findall(r'"([^"]+)"', lst))
        self.assertTrue(actions)
        self.assertLessEqual(actions, IAM_ALLOWED)
        self.assertNotIn("*", "".join(actions))

    @unittest.skipUnless(shutil.which("terraform"), "no terraform binary")
    def test_terraform_fmt(self):
        rc, out, err = hh.run_cmd(["terraform", "fmt", "-check", "-recursive", "-diff", TF], env=TF_ENV)
        self.assertEqual(rc, 0, out + err)

    @unittest.skipUnless(shutil.which("terraform"), "no terraform binary")
    def test_the_containers_module_evaluated(self):
        """The module has no provider, so Terraform evaluates it offline, as the root module would."""
        tmp = tempfile.mkdtemp(prefix="hawser-tf-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        source = os.path.relpath(os.path.join(TF, "containers"), tmp)
        with open(os.path.join(tmp, "main.tf"), "w") as f:
            f.write('module "c" {\n  source = "%s"\n' % source + "".join("  %s = %s\n" % kv for kv in {
                "service_name": '"caller"', "mesh_namespace": '"demo"', "cloudmap_namespace": '"demo.local"',
                "region": '"us-east-1"', "app_image": '"app:1"', "hawser_image": '"hawser:0.1.0"',
                "app_port": "8080", "upstreams": '["responder", "stock"]', "allow": '["spiffe://demo/*"]',
                "tls_secret_arns": '{cert = "c", key = "k", ca = "a"}', "tls_refresh_seconds": "60",
                "log_group_name": '"/ecs/demo/caller"'}.items()) +
                '}\noutput "containers" { value = module.c.container_definitions }\n')
        for args in (["init", "-input=false", "-backend=false"], ["apply", "-auto-approve", "-input=false"]):
            rc, out, err = hh.run_cmd(["terraform", "-chdir=" + tmp] + args, timeout=120, env=TF_ENV)
            self.assertEqual(rc, 0, out + err)
        rc, out, err = hh.run_cmd(["terraform", "-chdir=" + tmp, "output", "-raw", "containers"], env=TF_ENV)
        self.assertEqual(rc, 0, err)
        config = check_task_containers(self, json.loads(out))
        self.assertEqual([s["name"] for s in config["outbound"]["services"]], ["responder", "stock"])
        self.assertEqual(config["inbound"][0]["authorization"]["allow"], ["spiffe://demo/*"])

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
    OVERLAYS = ("ci/example-values.yaml", "ci/monitoring-values.yaml")

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
        text = by_kind["ConfigMap"][0]["data"]["hawser.yaml"]
        rc, err = check_config_text(text)
        self.assertEqual(rc, 0, err + text)
        config = yaml.safe_load(text)
        admin_port = config["admin"]["address"].rpartition(":")[2]
        for dep in by_kind.get("Deployment", []):
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
            self.assertEqual(volumes["hawser-config"]["configMap"]["name"], by_kind["ConfigMap"][0]["metadata"]["name"])
            if "tls" in config:
                mount = next(m["mountPath"] for m in hawser["volumeMounts"] if m["name"] == "hawser-tls")
                files = {mount + "/" + i["path"] for i in volumes["hawser-tls"]["secret"]["items"]}
                self.assertLessEqual({config["tls"][k] for k in ("cert", "key", "ca")}, files)
            ports = {p["name"] for c in spec["containers"] for p in c.get("ports", [])}
            for svc in by_kind.get("Service", []):
                self.assertLessEqual(svc["spec"]["selector"].items(), pod["metadata"]["labels"].items())
                for p in svc["spec"]["ports"]:
                    self.assertIn(p["targetPort"], ports)
        for sm in by_kind.get("ServiceMonitor", []):
            self.assertTrue(config["admin"]["address"].startswith("0.0.0.0:"))
            svc_ports = {p["name"] for s in by_kind.get("Service", []) for p in s["spec"]["ports"]}
            self.assertIn(sm["spec"]["endpoints"][0]["port"], svc_ports)

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
        missing = [p for p in paths(values) if "`%s`" % p not in readme and p.rpartition(".")[0] not in
                   ("resources.requests", "resources.limits")]
        self.assertEqual(missing, [], "values not described in charts/hawser/README.md")
        for overlay in self.OVERLAYS:
            self.assertIn(overlay, readme)
