"""Config validation (issue 2, acceptance 4) and config sources.

Each malformed config must make both `hawser check-config FILE` and
`hawser proxy --config FILE` exit 2 with one error line of the form
    hawser: config error: FILE:LINE: dotted.key.path: problem
naming the file, the line (marked `#<` in the YAML below), the key and the problem.
"""

import os
import re
import shutil
import tempfile
import unittest

import hawser_harness as hh

BASE = """\
node:
  service: caller
  namespace: demo
admin:
  address: 127.0.0.1:0
workers: 2
drain_timeout: 10s
limits:
  max_header_bytes: 65536
  max_headers: 100
  max_request_body_bytes: 0
  header_timeout: 10s
inbound:
  - name: app
    listen: 127.0.0.1:0
    app: 127.0.0.1:8080
    protocol: http
    tls:
      mode: disabled
    timeouts:
      connect: 1s
      request: 15s
      idle: 60s
outbound:
  http_proxy: 127.0.0.1:0
  services:
    - name: responder
      alias: 127.0.0.1:0
      protocol: http
      discovery:
        static:
          - 127.0.0.1:8081
          - 127.0.0.1:8082
      timeouts:
        connect: 1s
        request: 15s
        idle: 60s
      load_balancer: round_robin
      tls:
        mode: disabled
telemetry:
  access_log:
    path: stdout
"""


def sub(old, new, count=1):
    """Replace one exact line of BASE (must exist exactly once)."""
    def f(text):
        lines = text.split("\n")
        idx = [i for i, l in enumerate(lines) if l == old]
        assert len(idx) == count, (old, idx)
        lines[idx[0]] = new
        return "\n".join(lines)
    return f


def after(anchor, new_lines):
    def f(text):
        lines = text.split("\n")
        idx = [i for i, l in enumerate(lines) if l == anchor]
        assert len(idx) == 1, anchor
        lines[idx[0] + 1:idx[0] + 1] = new_lines
        return "\n".join(lines)
    return f


def delete(old):
    def f(text):
        lines = text.split("\n")
        idx = [i for i, l in enumerate(lines) if l == old]
        assert len(idx) == 1, old
        del lines[idx[0]]
        return "\n".join(lines)
    return f


def chain(*fs):
    def f(text):
        for g in fs:
            text = g(text)
        return text
    return f


# name -> (transform, [acceptable key paths], problem regex, extra lines also acceptable or None)
# The error line is the line carrying "#<"; `lines` adds other acceptable lines (by content).
CASES = {
    "unknown_top_level_key": (after("workers: 2", ["bogus: 1 #<"]), ["bogus"], r"unknown"),
    "unknown_nested_key": (sub("      connect: 1s", "      conect: 1s #<"),
                           ["inbound[0].timeouts.conect"], r"unknown"),
    "unknown_key_in_service": (after("      load_balancer: round_robin", ["      retries: 3 #<"]),
                               ["outbound.services[0].retries"], r"unknown"),
    "wrong_type_workers": (sub("workers: 2", "workers: many #<"), ["workers"],
                           r"(integer|int\b|number|type)"),
    "wrong_type_inbound_not_list": (lambda t: t.split("inbound:\n")[0] + "inbound: app #<\noutbound:\n" +
                                    t.split("\noutbound:\n")[1],
                                    ["inbound"], r"(list|sequence|array|type)"),
    "bad_duration": (sub("        connect: 1s", "        connect: 5x #<"),
                     ["outbound.services[0].timeouts.connect"], r"duration.*5x|5x.*duration"),
    "negative_duration": (sub("drain_timeout: 10s", "drain_timeout: -5s #<"), ["drain_timeout"],
                          r"(negative|must be|>= ?0|positive|invalid duration)"),
    "bad_address_no_port": (sub("    listen: 127.0.0.1:0", "    listen: localhost-no-port #<"),
                            ["inbound[0].listen"], r"(address|host:port)"),
    "port_out_of_range": (sub("    app: 127.0.0.1:8080", "    app: 127.0.0.1:70000 #<"), ["inbound[0].app"],
                          r"(port|range|65535)"),
    "bad_admin_address": (sub("  address: 127.0.0.1:0", "  address: 127.0.0.1 #<"), ["admin.address"],
                          r"(address|host:port|port)"),
    "duplicate_listener_ports": (chain(sub("    listen: 127.0.0.1:0", "    listen: 127.0.0.1:15001 #<"),
                                       sub("      alias: 127.0.0.1:0", "      alias: 127.0.0.1:15001 #<")),
                                 ["inbound[0].listen", "outbound.services[0].alias"],
                                 r"(duplicate|already|same|conflict|in use)"),
    "missing_required_inbound_app": (chain(delete("    app: 127.0.0.1:8080"),
                                           sub("  - name: app", "  - name: app #<")),
                                     ["inbound[0].app"], r"(missing|required)"),
    "missing_service_discovery": (chain(delete("      discovery:"), delete("        static:"),
                                        delete("          - 127.0.0.1:8081"), delete("          - 127.0.0.1:8082"),
                                        sub("    - name: responder", "    - name: responder #<")),
                                  ["outbound.services[0].discovery"], r"(missing|required)"),
    "bad_protocol_enum": (sub("    protocol: http", "    protocol: udp #<"), ["inbound[0].protocol"],
                          r"udp"),
    "bad_load_balancer": (sub("      load_balancer: round_robin", "      load_balancer: fastest #<"),
                          ["outbound.services[0].load_balancer"], r"fastest"),
    "empty_service_name": (sub("    - name: responder", '    - name: "" #<'), ["outbound.services[0].name"],
                           r"(empty|required|must not|missing)"),
    "duplicate_service_names": (after("        mode: disabled",
                                      ["    - name: responder #<", "      discovery:", "        static:",
                                       "          - 127.0.0.1:9000", "      tls:", "        mode: disabled"]),
                                ["outbound.services[1].name"], r"(duplicate|already|unique)"),
    "workers_zero": (sub("workers: 2", "workers: 0 #<"), ["workers"], r"(at least|>=|positive|must be|invalid)"),
    "negative_limit": (sub("  max_headers: 100", "  max_headers: -1 #<"), ["limits.max_headers"],
                       r"(negative|at least|>=|positive|must be|invalid|integer)"),
    "unknown_discovery_kind": (sub("        static:", "        dnsx: #<"), ["outbound.services[0].discovery"],
                               r"(unknown|dnsx)"),

    # Health checks, rate limits, zones and routes (docs/configuration.md, outbound.services[]).
    "split_weights_total_zero": (after("      load_balancer: round_robin", [
        "      routes:",
        "        - split: [{subset: {version: v1}, weight: 0}, {subset: {version: v2}, weight: 0}] #<"]),
        ["outbound.services[0].routes[0].split"], r"weight above 0"),
    "split_subset_value_not_a_string": (after("      load_balancer: round_robin", [
        "      routes:", "        - split: [{subset: {version: [v1, v2]}, weight: 1}] #<"]),
        ["outbound.services[0].routes[0].split[0].subset.version"], r"expected a string"),
    "split_subset_not_a_mapping": (after("      load_balancer: round_robin", [
        "      routes:", "        - split: [{subset: v1, weight: 1}] #<"]),
        ["outbound.services[0].routes[0].split[0].subset"], r"mapping"),
    "split_entry_unknown_key": (after("      load_balancer: round_robin", [
        "      routes:", "        - split: [{subset: {version: v1}, weigth: 1}] #<"]),
        ["outbound.services[0].routes[0].split[0].weigth"], r"unknown key"),
    "route_prefix_without_slash": (after("      load_balancer: round_robin", [
        "      routes:", "        - match: {prefix: api} #<"]),
        ["outbound.services[0].routes[0].match.prefix"], r"must start with /"),
    "health_check_timeout_above_interval": (after("      load_balancer: round_robin", [
        "      health_check: {interval: 1s, timeout: 2s} #<"]),
        ["outbound.services[0].health_check.timeout"], r"must not be greater than interval"),
    "health_check_threshold_key_typo": (after("      load_balancer: round_robin", [
        "      health_check: {healthy_threshold: 2} #<"]),
        ["outbound.services[0].health_check.healthy_threshold"], r"unknown key"),
    "health_check_unhealthy_out_of_range": (after("      load_balancer: round_robin", [
        "      health_check: {unhealthy: 0} #<"]),
        ["outbound.services[0].health_check.unhealthy"], r"between 1 and 100"),
    "health_check_path_without_slash": (after("      load_balancer: round_robin", [
        "      health_check: {path: healthz} #<"]),
        ["outbound.services[0].health_check.path"], r"must start with /"),
    "rate_limit_on_tcp_listener": (chain(sub("    protocol: http", "    protocol: tcp"),
                                         after("    protocol: tcp", ["    rate_limit: {rps: 10} #<"])),
                                   ["inbound[0].rate_limit"], r"HTTP.*tcp"),
    "retry_on_tcp_service": (chain(sub("      protocol: http", "      protocol: tcp"),
                                   after("      load_balancer: round_robin", ["      retry: {attempts: 2} #<"])),
                             ["outbound.services[0].retry"], r"HTTP.*tcp"),
    "metrics_enabled_not_boolean": (after("telemetry:", ["  metrics: {enabled: sometimes} #<"]),
                                    ["telemetry.metrics.enabled"], r"(bool|true|false)"),
    "per_peer_on_outbound_rate_limit": (after("      load_balancer: round_robin", [
        "      rate_limit: {rps: 10, per_peer: true} #<"]),
        ["outbound.services[0].rate_limit.per_peer"], r"unknown key"),
    "outbound_rate_limit_without_rps": (after("      load_balancer: round_robin", [
        "      rate_limit: {burst: 10} #<"]),
        ["outbound.services[0].rate_limit.rps"], r"(missing|required)"),
    "inbound_per_peer_not_boolean": (after("    protocol: http", ["    rate_limit: {rps: 10, per_peer: yes} #<"]),
                                     ["inbound[0].rate_limit.per_peer"], r"true or false"),
    "zone_spill_percent_out_of_range": (after("      load_balancer: round_robin", ["      zone_spill_percent: 101 #<"]),
                                        ["outbound.services[0].zone_spill_percent"], r"between 0 and 100.*101"),
    "panic_threshold_percent_not_a_number": (after("      load_balancer: round_robin",
                                                   ["      panic_threshold_percent: half #<"]),
                                             ["outbound.services[0].panic_threshold_percent"], r"whole number"),
    "static_attributes_not_a_mapping": (sub("          - 127.0.0.1:8081",
                                            "          - {address: 127.0.0.1:8081, attributes: [v1]} #<"),
                                        ["outbound.services[0].discovery.static[0].attributes"], r"mapping"),
}


class ConfigErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hawser-cfg-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def _assert_message(self, msg, path, keys, problem, lines, where):
        self.assertIn(path, msg, "%s: message does not name the file: %r" % (where, msg))
        self.assertTrue(any(k in msg for k in keys), "%s: message does not name key %r: %r" % (where, keys, msg))
        self.assertRegex(msg.lower(), re.compile(problem, re.I), "%s: problem not stated" % where)
        if lines:
            m = re.search(re.escape(path) + r":(\d+):", msg)
            self.assertIsNotNone(m, "%s: no FILE:LINE: in %r" % (where, msg))
            self.assertIn(int(m.group(1)), lines, "%s: wrong line in %r" % (where, msg))

    def _check(self, name):
        transform, keys, problem = CASES[name]
        text = transform(BASE)
        lines = [i + 1 for i, l in enumerate(text.split("\n")) if "#<" in l]
        path = self.write(name, text)
        rc, out, err = hh.check_config_full(path)
        self.assertEqual(rc, 2, "check-config %s: rc=%d stdout=%r stderr=%r" % (name, rc, out, err))
        err_lines = [l for l in err.strip().split("\n") if l.strip()]
        self.assertEqual(len(err_lines), 1, "expected one stderr line, got %r" % err)
        self.assertTrue(err_lines[0].startswith("hawser: config error: "), err_lines[0])
        self.assertNotIn("ok", out.split())
        self._assert_message(err_lines[0], path, keys, problem, lines, "check-config")
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "proxy", "--config", path], timeout=5)
        self.assertEqual(rc, 2, "proxy %s: rc=%d stdout=%r stderr=%r" % (name, rc, out, err))
        self._assert_message(err + out, path, keys, problem, lines, "proxy")

    def test_base_config_is_valid(self):
        path = self.write("valid", BASE)
        rc, out, err = hh.check_config_full(path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "ok")

    def test_yaml_syntax_error(self):
        text = BASE.replace("    listen: 127.0.0.1:0\n", "    listen: [127.0.0.1:0\n   bad: indent\n")
        path = self.write("syntax", text)
        rc, err = hh.check_config(path)
        self.assertEqual(rc, 2, err)
        self.assertIn(path, err)
        self.assertRegex(err.lower(), r"(yaml|syntax|parse|expected|end of|invalid)")
        m = re.search(re.escape(path) + r":(\d+):", err)
        self.assertIsNotNone(m, err)
        self.assertTrue(15 <= int(m.group(1)) <= 18, err)
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "proxy", "--config", path], timeout=5)
        self.assertEqual(rc, 2)
        self.assertIn(path, err + out)

    def test_file_not_found(self):
        path = os.path.join(self.tmp, "does-not-exist.yaml")
        rc, err = hh.check_config(path)
        self.assertEqual(rc, 2, err)
        self.assertIn(path, err)
        self.assertRegex(err.lower(), r"(no such file|not found|cannot open|could not open|does not exist)")
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "proxy", "--config", path], timeout=5)
        self.assertEqual(rc, 2)
        self.assertIn(path, err + out)

    def test_not_a_mapping(self):
        path = self.write("list", "- a\n- b\n")
        rc, err = hh.check_config(path)
        self.assertEqual(rc, 2, err)
        self.assertIn(path, err)

    def test_at_least_fourteen_cases(self):
        self.assertGreaterEqual(len(CASES) + 3, 14)


def _make(name):
    def t(self):
        self._check(name)
    t.__name__ = "test_" + name
    return t


for _n in CASES:
    setattr(ConfigErrors, "test_" + _n, _make(_n))


class CommandLine(unittest.TestCase):
    def test_help_lists_subcommands(self):
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "--help"], timeout=10)
        self.assertEqual(rc, 0, err)
        text = out + err
        self.assertIn("proxy", text)
        self.assertIn("check-config", text)

    def test_unknown_subcommand(self):
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "no-such-subcommand"], timeout=10)
        self.assertEqual(rc, 2)

    def test_unknown_flag(self):
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "proxy", "--no-such-flag"], timeout=10)
        self.assertEqual(rc, 2)

    def test_check_config_without_file(self):
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "check-config"], timeout=10)
        self.assertEqual(rc, 2)


class ConfigSources(unittest.TestCase):
    CFG = {"node": {"service": "inline-svc", "namespace": "demo"}, "admin": {"address": "127.0.0.1:0"},
           "workers": 1, "drain_timeout": "2s",
           "outbound": {"services": [{"name": "somewhere", "alias": "127.0.0.1:0",
                                      "discovery": {"static": ["127.0.0.1:9"]}}]}}

    def test_valid_config_runs_and_exits_0_on_sigterm(self):
        h = hh.start_hawser(self, self.CFG, name="valid")
        info = h.admin_json("/server_info")
        self.assertEqual(info["state"], "LIVE")
        h.sigterm()
        self.assertEqual(h.wait_exit(10), 0)

    def test_config_from_env_file(self):
        h = hh.Hawser(self.CFG, name="envfile")
        self.addCleanup(h.stop)
        h.env = {"HAWSER_CONFIG": h.config_path}
        h.use_env_yaml = False
        # start without --config: rebuild args by hand
        import subprocess
        env = dict(os.environ, HAWSER_CONFIG=h.config_path)
        env.pop("HAWSER_CONFIG_YAML", None)
        h.proc = subprocess.Popen([hh.hawser_bin(), "proxy", "--admin-address-path", h.admin_path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  env=env, start_new_session=True)
        h.stdout = hh.ProcessOutput(h.proc.stdout, "envfile-out")
        h.stderr = hh.ProcessOutput(h.proc.stderr, "envfile-err")
        h.wait_ready()
        self.assertIn("somewhere", h.listeners())

    def test_inline_yaml_env(self):
        h = hh.Hawser(self.CFG, name="inline", use_env_yaml=True)
        self.addCleanup(h.stop)
        h.start()
        self.assertIn("somewhere", h.listeners())
        self.assertIn("inline-svc", h.admin_get("/config_dump")[2].decode())

    def test_inline_yaml_env_invalid(self):
        env = {"HAWSER_CONFIG_YAML": "workers: many\n"}
        rc, out, err = hh.run_cmd([hh.hawser_bin(), "proxy"], env=env, timeout=5)
        self.assertEqual(rc, 2, err)
        self.assertIn("workers", err + out)


if __name__ == "__main__":
    unittest.main()
