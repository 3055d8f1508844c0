#include "telemetry/resource.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace hawser::telemetry {

void setAttribute(ResourceAttributes& r, std::string_view key, std::string_view value) {
  for (auto& [k, v] : r) {
    if (k == key) {
      v = value;
      return;
    }
  }
  r.emplace_back(std::string(key), std::string(value));
}

const std::string* findAttribute(const ResourceAttributes& r, std::string_view key) {
  for (const auto& [k, v] : r)
    if (k == key) return &v;
  return nullptr;
}

ResourceAttributes baseResource(const ResourceInput& in) {
  ResourceAttributes r;
  setAttribute(r, "service.name", in.service.empty() ? "hawser" : in.service);
  if (!in.service_ns.empty()) setAttribute(r, "service.namespace", in.service_ns);
  if (!in.instance_id.empty()) setAttribute(r, "service.instance.id", in.instance_id);
  setAttribute(r, "cloud.provider", "aws");
  setAttribute(r, "telemetry.sdk.name", "hawser");
  setAttribute(r, "telemetry.sdk.language", "cpp");
  if (!in.version.empty()) setAttribute(r, "telemetry.sdk.version", in.version);
  return r;
}

namespace {
std::string_view stringAt(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

// arn:aws:ecs:<region>:<account>:task/<cluster>/<id>
std::string_view arnField(std::string_view arn, int index) {
  for (int i = 0; i < index; ++i) {
    auto colon = arn.find(':');
    if (colon == std::string_view::npos) return {};
    arn.remove_prefix(colon + 1);
  }
  return arn.substr(0, arn.find(':'));
}

const boost::json::object* parseObject(std::string_view text, boost::json::value& holder) {
  boost::system::error_code ec;
  holder = boost::json::parse(text, ec);
  if (ec || !holder.is_object()) return nullptr;
  return &holder.get_object();
}
}  // namespace

bool addEcsResource(ResourceAttributes& r, std::string_view task_json, std::string_view container_json) {
  boost::json::value task_v, container_v;
  const auto* task = parseObject(task_json, task_v);
  if (!task) return false;
  setAttribute(r, "cloud.platform", "aws_ecs");
  auto task_arn = stringAt(*task, "TaskARN");
  if (!task_arn.empty()) {
    setAttribute(r, "aws.ecs.task.arn", task_arn);
    if (auto region = arnField(task_arn, 3); !region.empty()) setAttribute(r, "cloud.region", region);
    if (auto account = arnField(task_arn, 4); !account.empty()) setAttribute(r, "cloud.account.id", account);
  }
  auto cluster = stringAt(*task, "Cluster");
  if (!cluster.empty()) {
    // Older agents report the name; the convention wants the ARN.
    if (cluster.substr(0, 4) != "arn:" && !task_arn.empty()) {
      auto region = arnField(task_arn, 3), account = arnField(task_arn, 4);
      setAttribute(
          r, "aws.ecs.cluster.arn",
          "arn:aws:ecs:" + std::string(region) + ":" + std::string(account) + ":cluster/" + std::string(cluster));
    } else {
      setAttribute(r, "aws.ecs.cluster.arn", cluster);
    }
  }
  if (auto lt = stringAt(*task, "LaunchType"); !lt.empty()) {
    std::string lower(lt);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    setAttribute(r, "aws.ecs.launchtype", lower);
  }
  if (auto az = stringAt(*task, "AvailabilityZone"); !az.empty()) setAttribute(r, "cloud.availability_zone", az);
  if (auto family = stringAt(*task, "Family"); !family.empty()) setAttribute(r, "aws.ecs.task.family", family);
  if (auto rev = stringAt(*task, "Revision"); !rev.empty()) setAttribute(r, "aws.ecs.task.revision", rev);
  if (const auto* c = parseObject(container_json, container_v)) {
    if (auto arn = stringAt(*c, "ContainerARN"); !arn.empty()) setAttribute(r, "aws.ecs.container.arn", arn);
    if (auto name = stringAt(*c, "Name"); !name.empty()) setAttribute(r, "container.name", name);
    if (auto id = stringAt(*c, "DockerId"); !id.empty()) setAttribute(r, "container.id", id);
    if (auto it = c->find("LogOptions"); it != c->end() && it->value().is_object()) {
      const auto& lo = it->value().get_object();
      if (auto g = stringAt(lo, "awslogs-group"); !g.empty()) setAttribute(r, "aws.log.group.names", g);
      if (auto st = stringAt(lo, "awslogs-stream"); !st.empty()) setAttribute(r, "aws.log.stream.names", st);
    }
  }
  return true;
}

namespace {
bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
    i += 2;
  }
  return true;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::vector<std::pair<std::string, std::string>>> parseOtelList(std::string_view rest) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = trimmed(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string key, value;
    if (eq == std::string_view::npos || !percentDecode(trimmed(item.substr(0, eq)), key) ||
        !percentDecode(trimmed(item.substr(eq + 1)), value) || key.empty()) {
      return std::nullopt;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

void addEnvironmentResource(ResourceAttributes& r, const EnvLookup& env, std::string& error) {
  if (auto list = env("OTEL_RESOURCE_ATTRIBUTES"); list && !list->empty()) {
    if (auto parsed = parseOtelList(*list)) {
      for (const auto& [k, v] : *parsed) setAttribute(r, k, v);
    } else {
      error =
          "OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs separated by commas (values percent-encoded); "
          "ignored";
    }
  }
  if (auto name = env("OTEL_SERVICE_NAME"); name && !name->empty()) setAttribute(r, "service.name", *name);
}

}  // namespace hawser::telemetry
